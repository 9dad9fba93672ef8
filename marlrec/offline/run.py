"""``marlrec log SPEC``: log the spec's env under its logging policy, then study every
off-policy estimator on the logs.

Writes ``<logging.results_dir>/<name>/offline/`` atomically: ``interactions.parquet``
(:mod:`marlrec.offline.logs`), ``ope.json`` (:mod:`marlrec.offline.study`: truths and each
estimator's bias, std and RMSE per target and log size, with the command and commit),
``ope.md`` and ``ope_error.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from marlrec.config.spec import ExperimentSpec


def log_and_study(spec: ExperimentSpec, command: list[str], progress_episode: Any = None,
                  progress_estimate: Any = None) -> Path:
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
        (staging / "ope.json").write_text(json.dumps(
            {"provenance": made, "offline": spec.to_dict()["offline"], **study}, indent=1))
        plot_study(study, staging / "ope_error.png")
        logging = (f"Plackett-Luce softmax of {o.baseline}'s scores at temperature "
                   f"{o.temperature:g}, {o.episodes} episodes from seed {o.seed}")
        (staging / "ope.md").write_text(study_markdown(study, made["command"], logging)
                                        + f"\nCommit {made['commit']}.\n")
    return out
