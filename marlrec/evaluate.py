"""Evaluate the learned slate policies of an experiment against scripted baselines.

Each trial's final checkpoint gives a learned slate policy (:class:`LearnedBehaviour`);
it and every baseline of ``spec.evaluation.baselines`` are rolled out with the spec's
scripted users and providers on the **same** evaluation seeds (episode ``e`` uses seed
``evaluation.seed + e``). The report (``<results>/<name>/evaluation/``) holds a markdown
table (mean ± Student-t 95% CI over episodes), the metrics as JSON, a bar chart and the
learning curves of the trials. Aggregation across training seeds the rliable way (IQM,
stratified bootstrap) belongs to the evaluation issue.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

import envs
from marlrec.algorithm_config import module_table, scripted_behaviour
from marlrec.encoder import resolve_encoder
from marlrec.learned_behaviour import LearnedBehaviour
from marlrec.run import TrialSummary
from marlrec.scripted_comparison import PolicyResult, episodes_on_seeds, write_report
from marlrec.spec import ExperimentSpec

LEARNING_CURVE = ("env_runners/num_env_steps_sampled_lifetime",
                  "env_runners/ecosystem/engagement_per_session")


def evaluation_env(spec: ExperimentSpec) -> envs.RecEcosystemEnv:
    return envs.make_env(spec.env.preset, encoder=resolve_encoder(spec.env.encoder),
                         **spec.env.params)


def evaluate_slate_policies(spec: ExperimentSpec, trials: list[TrialSummary],
                            progress: Any = None) -> list[PolicyResult]:
    """Learned slate policies (one per trial) and the baselines on the same seeds."""
    learned = spec.learned_roles
    if learned != ["slate_policy"]:
        others = [r for r in learned if r != "slate_policy"]
        raise ValueError("evaluation compares slate policies against scripted users and "
                         f"providers; this spec also learns {others}: not supported yet")
    env = evaluation_env(spec)
    scripted = {role: scripted_behaviour(env, role, spec.roles[role].behaviour)
                for role in ("user", "provider")}
    seeds = (spec.evaluation.episodes, spec.evaluation.seed)
    results: list[PolicyResult] = []
    for trial in trials:
        if trial.checkpoint is None:
            continue
        behaviours: dict[str, Any] = dict(scripted)
        table = module_table(env, learned, trial.sharing)
        loaded: dict[str, LearnedBehaviour] = {}
        for agent in env.possible_agents:
            if env.role_of(agent) == "slate_policy":
                module = table[agent]
                if module not in loaded:
                    loaded[module] = LearnedBehaviour.from_checkpoint(
                        trial.checkpoint, module, env.observation_space(agent))
                behaviours[agent] = loaded[module]
        results.append(PolicyResult(trial.label,
                                    episodes_on_seeds(env, behaviours, *seeds)))
        if progress:
            progress()
    for name in spec.evaluation.baselines:
        behaviours = {**scripted, "slate_policy": envs.SLATE_BASELINES[name](
            env.config.slate_size)}
        results.append(PolicyResult(name, episodes_on_seeds(env, behaviours, *seeds)))
        if progress:
            progress()
    return results


def learning_curves(trials: list[TrialSummary]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per trial: env steps and engagement per session, from Tune's progress.csv."""
    curves = {}
    for trial in trials:
        path = Path(trial.path) / "progress.csv"
        if not path.is_file():
            continue
        with path.open() as f:
            rows = [r for r in csv.DictReader(f) if r.get(LEARNING_CURVE[1])]
        x = np.array([float(r[LEARNING_CURVE[0]]) for r in rows])
        y = np.array([float(r[LEARNING_CURVE[1]]) for r in rows])
        curves[trial.label] = (x, y)
    return curves


def plot_learning_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path,
                         baselines: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, (x, y) in curves.items():
        ax.plot(x, y, marker="o", label=name)
    for (name, value), style in zip(baselines.items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, linestyle=style, color="grey", label=f"{name} (evaluation)")
    ax.set_xlabel("env steps sampled")
    ax.set_ylabel("engagement per session")
    ax.set_title("Learning curves (training episodes)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_evaluation(spec: ExperimentSpec, trials: list[TrialSummary],
                     results: list[PolicyResult]) -> Path:
    folder = Path(spec.logging.results_dir).resolve() / spec.name / "evaluation"
    settings = {"experiment": spec.name, "episodes": spec.evaluation.episodes,
                "first_seed": spec.evaluation.seed, "preset": spec.env.preset,
                "encoder": spec.env.encoder, **spec.env.params}
    baselines = {r.policy: r.mean("engagement_per_session") for r in results
                 if r.policy in spec.evaluation.baselines}

    def curves(staging: Path) -> str:
        plot_learning_curves(learning_curves(trials), staging / "learning_curve.png",
                             baselines)
        return "![learning curves](learning_curve.png)"

    return write_report(results, folder, settings,
                        title=f"{spec.name}: learned slate policies against baselines",
                        extra=curves)
