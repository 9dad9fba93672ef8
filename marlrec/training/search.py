"""The spec's ``search``: a hyperparameter search inside the protocol, before the comparison.

For each algorithm x sharing x variant group, Tune samples ``search.num_samples``
configurations of the training keys in ``search.space`` and trains each with the tuning
seed ``search.seed``, evaluated during training on episodes from ``search.evaluation_seed``
(both checked disjoint from the comparison's seeds and episodes when the spec is
validated), under ASHA (Li et al. 2020: stops the worse half at each rung of env steps,
rungs at ``evaluation.every_env_steps`` x 2^k) or PBT (Jaderberg et al. 2017: every
``evaluation.every_env_steps`` the worst quarter copies a top quarter's weights and
perturbs its hyperparameters). Trials are scored by their latest in-training evaluation of
``evaluation.metric``; the winner is the best of the trials that ran the whole budget.
The comparison then trains the winner's configuration on the spec's own seeds and
evaluates it on the spec's own episodes: the selection never touches them.

Writes ``<results>/<name>/search/<group>/`` (Tune's folders) and ``search.json`` (per
group: the space, scheduler, every trial's configuration, score and env steps, and the
winner); a resumed run reuses the winners recorded there.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from marlrec.config.spec import ExperimentSpec, TrainingGroup, variant_spec
from marlrec.staged_folder import write_text_atomically

STOP_KEY = "env_runners/num_env_steps_sampled_lifetime"
"""The result key of a trial's env steps: its budget (``stop``) and the search's clock."""


def search_space(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The Tune domains of the spec's ``search.space``."""
    from ray import tune

    domains = {}
    for key, domain in space.items():
        (kind, values), = domain.items()
        domains[key] = tune.choice(values) if kind == "choice" else getattr(tune, kind)(
            *values)
    return domains


def tuning_spec(spec: ExperimentSpec) -> ExperimentSpec:
    """The spec the search trains with: its own seed and evaluation episodes."""
    s = spec.search
    return replace(spec, seeds=[s.seed],
                   evaluation=replace(spec.evaluation, seed=s.evaluation_seed))


def read_winners(folder: Path) -> dict[str, Any]:
    path = folder / "search.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def run_search(spec: ExperimentSpec, folder: Path, group: TrainingGroup, encoder: Any,
               live: Any = None) -> dict[str, Any]:
    """Searches ``group``'s training keys (module docstring); returns and records its
    entry of ``search.json``: the trials and the winner's configuration. ``live``: the
    run's :class:`marlrec.training.progress.LiveTrials`, which then shows the trials."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    from marlrec.algorithms import ALGORITHMS
    from marlrec.evaluation.protocol import SCORE_KEY, evaluation_callback
    from marlrec.training.rllib_config import build_algorithm_config

    recorded = read_winners(folder)
    if group.name in recorded:  # a resumed run: the search is done
        return recorded[group.name]
    s = spec.search
    tuning = tuning_spec(spec)
    config = build_algorithm_config(variant_spec(tuning, group.variant), group.algorithm,
                                    group.sharing, seed=s.seed, encoder=encoder)
    domains = search_space(s.space)
    config = config.training(**domains)
    config = config.callbacks([*config.callbacks_class,
                               evaluation_callback(tuning, group, save_best=False)])
    budget, every = spec.stop.env_steps, spec.evaluation.every_env_steps
    if s.scheduler == "asha":
        scheduler: Any = ASHAScheduler(time_attr=STOP_KEY, max_t=budget, grace_period=every,
                                       reduction_factor=2)
    else:
        scheduler = PopulationBasedTraining(time_attr=STOP_KEY, perturbation_interval=every,
                                            hyperparam_mutations=domains)
    trainable = ALGORITHMS[group.algorithm].config_class()().algo_class
    if live is not None:
        live.start_search(group.name, s.num_samples)
    before = os.environ.get("TUNE_DISABLE_STRICT_METRIC_CHECKING")
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"  # no score before an evaluation
    try:
        results = tune.Tuner(
            trainable, param_space=config,
            tune_config=tune.TuneConfig(metric=SCORE_KEY, mode="max", scheduler=scheduler,
                                        num_samples=s.num_samples),
            run_config=tune.RunConfig(
                name=group.name, storage_path=str(folder / "search"),
                stop={STOP_KEY: budget}, verbose=0, callbacks=[] if live is None else [live],
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2))).fit()
    finally:
        if before is None:
            os.environ.pop("TUNE_DISABLE_STRICT_METRIC_CHECKING", None)
        else:
            os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = before
    trials = []
    for result in results:
        metrics = result.metrics or {}
        steps = int(metrics.get("env_runners", {}).get("num_env_steps_sampled_lifetime", 0))
        trials.append({"config": {k: result.config.get(k) for k in s.space},
                       "score": metrics.get(SCORE_KEY), "env_steps": steps,
                       "completed": steps >= budget,
                       "error": None if result.error is None else str(result.error)})
    scored = [t for t in trials if t["score"] is not None and t["error"] is None]
    if not scored:
        raise RuntimeError(f"search of {group.name}: no trial reached an evaluation "
                           f"({[t['error'] for t in trials]})")
    finished = [t for t in scored if t["completed"]] or scored
    winner = max(finished, key=lambda t: t["score"])
    entry = {"scheduler": s.scheduler, "space": s.space, "num_samples": s.num_samples,
             "seed": s.seed, "evaluation_seed": s.evaluation_seed,
             "metric": spec.evaluation.metric, "trials": trials,
             "winner": winner["config"], "winner_score": winner["score"]}
    recorded = read_winners(folder)
    recorded[group.name] = entry
    write_text_atomically(folder / "search.json", json.dumps(recorded, indent=1))
    return entry


def searched_training(spec: ExperimentSpec, algorithm: str, entry: dict[str, Any] | None
                      ) -> ExperimentSpec:
    """``spec`` with the winner's training keys over ``algorithm``'s own (``spec`` without
    a search)."""
    if entry is None:
        return spec
    return replace(spec, training={**spec.training, algorithm: {
        **spec.training.get(algorithm, {}), **entry["winner"]}})


def search_markdown(folder: Path) -> str:
    """The report's section on the search (empty without one)."""
    recorded = read_winners(folder)
    if not recorded:
        return ""
    parts = ["""
## Hyperparameter search (before the comparison)

Each group's configurations were trained with the search's own training seed and scored on
its own evaluation episodes (disjoint from every seed and episode above, checked when the
spec was validated); the winner (best latest in-training evaluation among the trials that
ran the whole budget) is what the comparison above trained on its seeds and evaluated on
its episodes. Method: `marlrec/training/search.py`; every trial: `search.json`.
"""]
    for name, entry in recorded.items():
        keys = list(entry["space"])
        rows = ["| " + " | ".join(keys) + f" | {entry['metric']} (tuning) | env steps | |",
                "|---" * (len(keys) + 3) + "|"]
        for t in sorted(entry["trials"], key=lambda t: -(t["score"] or float("-inf"))):
            mark = "winner" if t["config"] == entry["winner"] else (
                "" if t["completed"] else "stopped early")
            score = "—" if t["score"] is None else f"{t['score']:.3g}"
            rows.append("| " + " | ".join(f"{t['config'][k]:.4g}"
                                          if isinstance(t["config"][k], float)
                                          else str(t["config"][k]) for k in keys)
                        + f" | {score} | {t['env_steps']:,} | {mark} |")
        parts.append(f"### {name}: {entry['scheduler'].upper()}, {entry['num_samples']} "
                     f"samples, tuning seed {entry['seed']}, episodes from "
                     f"{entry['evaluation_seed']}\n\nSpace: `{json.dumps(entry['space'])}`. "
                     f"Winner: `{json.dumps(entry['winner'])}`.\n\n" + "\n".join(rows))
    return "\n\n".join(parts) + "\n"
