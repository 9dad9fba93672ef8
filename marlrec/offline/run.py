"""``marlrec log SPEC``: log the spec's env under its logging policy, then study every
off-policy estimator on the logs.

Writes ``<logging.results_dir>/<name>/offline/`` atomically: ``interactions.parquet``
(:mod:`marlrec.offline.logs`), ``ope.json`` (:mod:`marlrec.offline.study`: truths and each
estimator's bias, std and RMSE per target and log size, with the command and commit),
``ope.md`` and ``ope_error.png``; with ``offline.train``, the slate policies trained from
the logs and their online evaluation (:mod:`marlrec.offline.training`) in both.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from marlrec.config.spec import ExperimentSpec


def log_and_study(spec: ExperimentSpec, command: list[str], progress_episode: Any = None,
                  progress_estimate: Any = None, progress_training: Any = None) -> Path:
    """Logs, studies and writes the ``offline/`` folder of ``spec``; returns its path."""
    import shlex

    import envs
    from marlrec.encoder import resolve_encoder
    from marlrec.evaluation.protocol import env_encoders
    from marlrec.offline.logs import collect_logs, read_parquet, write_parquet
    from marlrec.offline.study import plot_study, run_study, study_markdown
    from marlrec.staged_folder import staged_folder
    from marlrec.training.run import code_commit

    o = spec.offline
    names = env_encoders(spec)  # in this process: no pool
    env = envs.make_env(spec.env.preset, encoder=resolve_encoder(names["encoder"]),
                        state_encoder=resolve_encoder(names["state_encoder"]),
                        **spec.env.params)
    behaviours = {role: envs.role_behaviour(env, role, spec.roles[role].behaviour)
                  for role in ("user", "provider")}
    out = Path(spec.logging.results_dir).expanduser().resolve() / spec.name / "offline"
    with staged_folder(out) as staging:
        columns = collect_logs(env, behaviours, o.baseline, o.temperature, list(o.targets),
                               o.episodes, o.seed, progress_episode)
        logs = read_parquet(write_parquet(columns, staging / "interactions.parquet"))
        study = run_study(logs, list(o.targets), list(o.sizes), o.repeats, o.seed,
                          progress_estimate)
        made = {"command": shlex.join(["marlrec", *command]), "commit": code_commit()}
        plot_study(study, staging / "ope_error.png")
        logger = (f"Plackett-Luce softmax of {o.baseline}'s scores at temperature "
                   f"{o.temperature:g}, {o.episodes} episodes from seed {o.seed}")
        trained = "" if not o.train else offline_training(
            spec, env, staging / "interactions.parquet", study, progress_training)
        (staging / "ope.json").write_text(json.dumps(
            {"provenance": made, "offline": spec.to_dict()["offline"], **study}, indent=1))
        (staging / "ope.md").write_text(study_markdown(study, made["command"], logger)
                                        + trained + f"\nCommit {made['commit']}.\n")
    return out


def offline_training(spec: ExperimentSpec, env: Any, parquet: Path, study: dict[str, Any],
                     progress: Any = None) -> str:
    """Trains ``offline.train``'s algorithms from the logs (one run per training seed),
    evaluates them online beside the logging policy and the scripted baselines on the
    evaluation protocol's episodes; records the figures in ``study`` and returns the
    markdown section."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=os.environ.get("RAY_ADDRESS", "local"), include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR)
    try:
        return _train_and_evaluate(spec, env, parquet, study, progress)
    finally:
        if started:
            ray.shutdown()


def _train_and_evaluate(spec: ExperimentSpec, env: Any, parquet: Path,
                        study: dict[str, Any], progress: Any) -> str:
    import envs
    from marlrec.evaluation.learned_behaviour import LearnedBehaviour
    from marlrec.offline.logging_policy import PlackettLuceLogging
    from marlrec.offline.training import evaluate_online, online_table, train_from_logs

    o = spec.offline
    model = {"slate_actor": "candidate_scoring", "fcnet_hiddens": list(spec.model.fcnet_hiddens),
             "fcnet_activation": spec.model.fcnet_activation,
             "scorer_hiddens": list(spec.model.scorer_hiddens)}
    own = env.observation_space("slate_policy_0")
    runs = len(spec.seeds)
    policies: dict[str, list[Any]] = {}
    for algorithm in o.train:
        policies[f"{algorithm} from the logs"] = []
        for seed in spec.seeds:
            module = train_from_logs(parquet, env, algorithm, seed, o.train_iterations,
                                     o.train_lr, o.train_batch_size, o.marwil_beta, model)
            policies[f"{algorithm} from the logs"].append(
                LearnedBehaviour(module, own, algorithm))
            if progress is not None:
                progress()
    logging_policy = PlackettLuceLogging(o.baseline, o.temperature, env.config.slate_size)
    policies["logging policy"] = [logging_policy] * runs
    for name in spec.evaluation.baselines:
        if name in envs.ROLE_BEHAVIOURS["slate_policy"]:
            policies[name] = [envs.role_behaviour(env, "slate_policy", name)] * runs
    results = evaluate_online(env, spec, policies, progress)
    metric = spec.evaluation.metric
    table, figures = online_table(results, metric)
    study["offline_training"] = {"metric": metric, "seeds": spec.seeds, "policies": figures,
                                 "iterations": o.train_iterations, "lr": o.train_lr,
                                 "batch_size": o.train_batch_size, "beta": o.marwil_beta}
    return f"""
## Slate policies trained from the logs, evaluated online

{", ".join(o.train)} (RLlib's offline algorithms on the new API stack) trained marlrec's
candidate-scoring slate actor from `interactions.parquet` ({o.train_iterations} iterations
of {o.train_batch_size} rows, learning rate {o.train_lr:g}{
    f", MARWIL beta {o.marwil_beta:g}" if "MARWIL" in o.train else ""}), one run per training
seed {spec.seeds}; each run then played the evaluation protocol's absolute-metric episodes
online, and the logging policy and the baselines played the same episodes
(`marlrec/offline/training.py`):

{table}
"""
