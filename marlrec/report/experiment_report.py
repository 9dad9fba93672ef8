"""``marlrec report RESULTS_DIR``: the absolute metric of every run and baseline, aggregated
across runs the rliable way, as markdown tables and PNG plots.

Reads what ``marlrec run`` wrote (``spec.resolved.yaml``, each trial's ``result.json`` with
its in-training evaluations, the best modules under ``best/``), re-evaluates each run's best
modules and each baseline on the run's absolute-metric episodes
(:mod:`marlrec.evaluation.protocol`),
and writes ``<RESULTS_DIR>/report/`` (atomically):

- ``report.md``: the absolute metric per policy (IQM, mean, median with stratified
  bootstrap 95% CIs), the probability-of-improvement matrix, every headline metric, the
  in-training evaluations;
- ``learning_curves.png`` (IQM across runs with 95% CI bands), ``absolute_metric.png``,
  ``probability_of_improvement.png``, ``performance_profile.png``, ``tradeoff.png``
  (engagement against provider exposure Gini);
- ``scores.json`` (every episode of every run, the absolute metric's aggregates and
  probability-of-improvement matrix; :func:`load_scores` reads it back) and
  ``marl_eval.json`` (marl-eval layout);
- on MovieLens-100k, the offline ranking metrics of every slate policy on held-out ratings
  (precision, recall, F1, NDCG, hit rate at 10: :mod:`marlrec.evaluation.ranking`) next to the
  simulated engagement and CTR, also in ``scores.json`` under ``"ranking"``.

Every policy must have the same runs (one per training seed) and the same evaluation
points; otherwise the report is refused, naming what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from envs.metrics import COLD_START_METRICS
from envs.metrics import METRICS as EPISODE_METRICS
from envs.metrics import label as metric_label
from marlrec.config.spec import ExperimentSpec, parse_spec, training_groups, variant_spec
from marlrec.encoder.pool import running_pool
from marlrec.evaluation import aggregate
from marlrec.evaluation.explanations import experiment_markdown, explain_experiment
from marlrec.evaluation.protocol import (
    absolute_episodes,
    absolute_seed,
    baseline_behaviours,
    best_folder,
    evaluation_env,
    finite_mean,
    learned_behaviours,
    load_modules,
)
from marlrec.evaluation.ranking import METRICS, experiment_ranking
from marlrec.evaluation.scripted_comparison import HEADLINE_METRICS, episodes_on_seeds
from marlrec.report.encoder_figures import encoder_pool_figures, encoder_pool_line
from marlrec.report.user_groups import (
    group_fairness,
    group_tables,
    plot_group_gaps,
    pooled_groups,
)
from marlrec.staged_folder import staged_folder
from marlrec.training.search import search_markdown

RANKING_K = 10
BOOTSTRAP_REPS = 2000  # stratified bootstrap resamples of every 95% CI of a report


@dataclass
class PolicyRuns:
    """One policy's runs: ``episodes[r]`` are run ``r``'s absolute-metric episodes."""

    policy: str
    learned: bool
    episodes: list[list[dict[str, float]]] = field(default_factory=list)
    curve: list[tuple[float, list[float]]] = field(default_factory=list)  # per eval point
    # per run, its sessions by user group (marlrec.report.user_groups.pooled_groups)
    groups: list[dict[str, Any]] = field(default_factory=list)

    def run_scores(self, metric: str) -> np.ndarray:
        """Each run's mean of ``metric`` over its episodes (NaN entries, e.g. a cold-start
        metric of an episode without cold users, left out)."""
        return np.array([finite_mean([e[metric] for e in run]) for run in self.episodes])


def _json_text(value: Any) -> str:
    """Strict JSON (what any parser reads): NaN, e.g. a cold-start metric of an episode
    without cold users, written as null (:func:`load_scores` reads it back as NaN)."""
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return None if isinstance(v, float) and np.isnan(v) else v
    return json.dumps(clean(value), indent=1, allow_nan=False)


def _nan_for_null(value: float | None) -> float:
    """A number of ``scores.json`` back: null is the NaN that :func:`_json_text` wrote."""
    return float("nan") if value is None else value


def _estimate_of(triple: list[float | None]) -> aggregate.Estimate:
    """An estimate that ``scores.json`` holds as ``[point, low, high]``."""
    return aggregate.Estimate(*map(_nan_for_null, triple))


@dataclass
class SavedScores:
    """A report's ``scores.json`` read back (:func:`load_scores`) into the report's own
    structures. ``absolute`` and ``improvement`` are what :func:`write_report` computed on
    the headline metric (:func:`aggregate.interval_estimates`,
    :func:`aggregate.probability_of_improvement`); ``None`` where the file predates them."""

    metric: str  # the headline metric
    policies: list[PolicyRuns]  # in the file's order, episodes and curves as collected
    absolute: dict[str, dict[str, aggregate.Estimate]] | None
    improvement: dict[tuple[str, str], aggregate.Estimate] | None
    data: dict[str, Any]  # the whole file as parsed (its nulls left null)


def load_scores(path: str | Path) -> SavedScores:
    """The ``scores.json`` that :func:`write_report` wrote, read back; NaN where it wrote
    null. A file that is not one raises ``ValueError``, ``KeyError`` or ``TypeError``."""
    data = json.loads(Path(path).read_text())
    policies = [
        PolicyRuns(name, entry["learned"],
                   [[{k: _nan_for_null(v) for k, v in e.items()} for e in run]
                    for run in entry["runs"]],
                   [(float(steps), [_nan_for_null(v) for v in values])
                    for steps, values in entry.get("curve") or []])
        for name, entry in data["policies"].items()]
    absolute, improvement = data.get("absolute"), data.get("probability_of_improvement")
    return SavedScores(
        data["metric"], policies,
        None if absolute is None else {
            name: {kind: _estimate_of(triple) for kind, triple in by_kind.items()}
            for name, by_kind in absolute.items()},
        None if improvement is None else {
            (x, y): _estimate_of(triple) for x, row in improvement.items()
            for y, triple in row.items()},
        data)


def load_spec_of(folder: Path) -> ExperimentSpec:
    path = folder / "spec.resolved.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no spec.resolved.yaml; pass the folder that "
                                "`marlrec run` wrote (results/<name>)")
    return parse_spec(yaml.safe_load(path.read_text()), check_data=False)  # checked at run


def in_training_evaluations(folder: Path, name: str, seed: int) -> list[dict[str, Any]]:
    """The ``evaluation`` entries of one trial's ``result.json``, in order."""
    for params in sorted((folder / name).glob("*/params.json")):
        if json.loads(params.read_text()).get("seed") == seed:
            lines = (params.parent / "result.json").read_text().splitlines()
            return [json.loads(line)["evaluation"] for line in lines
                    if line.strip() and "evaluation" in json.loads(line)]
    raise FileNotFoundError(f"{folder / name}: no trial with seed {seed}")


def absolute_run(spec: ExperimentSpec, run: int, folder: str | None, algorithm: str | None,
                 sharing: str | None, baseline: str | None, variant: str | None = None
                 ) -> list[dict[str, float]]:
    """Run ``run``'s absolute-metric episodes of one policy: the best modules saved in
    ``folder`` (trained by ``algorithm`` with ``sharing``, in ``variant``'s env), or the
    scripted ``baseline`` (in ``env.params``' env)."""
    spec = variant_spec(spec, variant)
    env = _evaluation_env(spec)
    if folder is not None:
        modules, _ = load_modules(Path(folder))
        behaviours = learned_behaviours(env, spec, algorithm, sharing, modules)
    else:
        behaviours = baseline_behaviours(env, spec, baseline)
    return episodes_on_seeds(env, behaviours, absolute_episodes(spec), absolute_seed(spec, run),
                             with_groups=True)


_ENVS: dict[str, Any] = {}  # evaluation envs of this process, by spec


def _evaluation_env(spec: ExperimentSpec) -> Any:
    key = json.dumps(spec.to_dict(), sort_keys=True, default=str)
    if key not in _ENVS:
        _ENVS[key] = evaluation_env(spec)
    return _ENVS[key]


def _do(spec: ExperimentSpec, job: dict[str, Any]) -> Any:
    """One job of :func:`collect`: a policy-run's absolute-metric episodes, or (a job with
    ``ranking_of``) the experiment's offline ranking."""
    if "ranking_of" in job:
        return experiment_ranking(Path(job["ranking_of"]), spec, _evaluation_env(spec),
                                  RANKING_K)
    return absolute_run(spec, **job)


def _run_all(spec: ExperimentSpec, jobs: list[dict[str, Any]],
             progress: Callable[[], None] | None) -> list[Any]:
    """:func:`_do` of every job, results in order: as Ray tasks (one CPU each) when Ray is
    running (``marlrec run``), else one after the other. Each job's episodes are fixed by
    its seeds, so both give the same numbers. ``progress()`` after each absolute-metric
    job."""
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized() or len(jobs) < 2:
        out = []
        for job in jobs:
            out.append(_do(spec, job))
            if progress and "ranking_of" not in job:
                progress()
        return out

    def task(spec_dict: dict[str, Any], job: dict[str, Any]) -> Any:
        import torch

        torch.set_num_threads(1)
        return _do(parse_spec(spec_dict, check_data=False), job)

    remote = ray.remote(num_cpus=1, max_retries=0)(task)
    spec_ref = ray.put(spec.to_dict())
    refs = [remote.remote(spec_ref, job) for job in jobs]
    absolute = {ref for ref, job in zip(refs, jobs, strict=True) if "ranking_of" not in job}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        if progress and done[0] in absolute:
            progress()
    return ray.get(refs)


def collect(folder: Path, spec: ExperimentSpec, progress: Callable[[], None] | None = None
            ) -> tuple[list[PolicyRuns], dict[str, dict[str, Any]] | None]:
    """Absolute-metric episodes of every learned policy and baseline, the learned
    policies' in-training evaluation curves, and the offline ranking
    (:func:`marlrec.evaluation.ranking.experiment_ranking`; ``None`` where it does not apply), all
    computed together (:func:`_run_all`); refuses unequal runs or evaluation points."""
    metric = spec.evaluation.metric
    policies: list[PolicyRuns] = []
    jobs: list[dict[str, Any]] = [{"ranking_of": str(folder)}]  # the longest job first
    missing = []
    for group in training_groups(spec):
        runs = PolicyRuns(group.label, learned=True)
        curves = []
        for r, seed in enumerate(spec.seeds):
            best = best_folder(folder, group, seed)
            if not (best / "best.json").is_file():
                missing.append(f"{group.name} seed {seed}")
                continue
            jobs.append({"run": r, "folder": str(best), "algorithm": group.algorithm,
                         "sharing": group.sharing, "baseline": None,
                         "variant": group.variant})
            curves.append(in_training_evaluations(folder, group.name, seed))
            _check_points(f"{group.name} seed {seed}", curves[-1], spec)
        runs.curve = _curve(runs.policy, curves, metric, spec.evaluation.every_env_steps)
        policies.append(runs)
    if missing:
        raise ValueError(f"runs without evaluated best modules: {missing}; every policy needs "
                         f"the same runs (seeds {spec.seeds}) to be aggregated")
    for name in spec.evaluation.baselines:
        policies.append(PolicyRuns(name, learned=False))
        jobs += [{"run": r, "folder": None, "algorithm": None, "sharing": None,
                  "baseline": name}
                 for r in range(len(spec.seeds))]
    lengths = {p.policy: len(p.curve) for p in policies if p.learned}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"evaluation points differ between algorithms {lengths}: every "
                         "algorithm needs the same number of evaluation points")
    ranking, *results = _run_all(spec, jobs, progress)
    episodes = iter(results)
    for policy in policies:  # jobs are in policy order, each policy's runs in run order
        policy.episodes = [next(episodes) for _ in spec.seeds]
        policy.groups = [pooled_groups(run) for run in policy.episodes]
    return policies, ranking


def _check_points(run: str, evaluations: list[dict[str, Any]], spec: ExperimentSpec) -> None:
    expected = list(range(1, spec.stop.env_steps // spec.evaluation.every_env_steps + 1))
    got = [k for e in evaluations for k in e["points"]]
    if got != expected:
        raise ValueError(f"{run}: evaluation points {got}, expected {expected}; every run needs "
                         "the same evaluation points (an interrupted run: --resume it)")


def _curve(policy: str, curves: list[list[dict[str, Any]]], metric: str, every: int
           ) -> list[tuple[float, list[float]]]:
    """Per evaluation point ``k`` (env steps ``k x every``): each run's value there."""
    by_point = [{k: e[metric] for e in evaluations for k in e["points"]}
                for evaluations in curves]
    points = sorted(by_point[0]) if by_point else []
    return [(float(k * every), [float(run[k]) for run in by_point]) for k in points]


# ----------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_learning_curves(policies: list[PolicyRuns], baselines: dict[str, float],
                         metric: str, path: Path, reps: int) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for p in (p for p in policies if p.learned and p.curve):
        x = [s for s, _ in p.curve]
        est = [aggregate.interval_estimates({"p": v}, reps=reps)["p"]["IQM"] for _, v in p.curve]
        ax.plot(x, [e.point for e in est], marker="o", label=f"{p.policy} (IQM)")
        ax.fill_between(x, [e.low for e in est], [e.high for e in est], alpha=0.2)
    for (name, value), style in zip(baselines.items(), ("--", ":", "-.", (0, (1, 3))),
                                    strict=False):
        ax.axhline(value, linestyle=style, color="grey", label=f"{name} (absolute)")
    ax.set_xlabel("env steps sampled")
    ax.set_ylabel(metric_label(metric))
    ax.set_title("Evaluation during training: IQM across runs, 95% CI")
    ax.legend(fontsize=7)
    _save(plt, fig, path)


def plot_intervals(estimates: dict[str, dict[str, aggregate.Estimate]], metric: str,
                   path: Path) -> None:
    plt = _plt()
    names = list(estimates)
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.5 * len(names) + 1.5), sharey=True)
    for ax, kind in zip(axes, ("IQM", "Mean", "Median"), strict=True):
        for i, name in enumerate(names):
            e = estimates[name][kind]
            ax.plot([e.low, e.high], [i, i], linewidth=6, alpha=0.5, color=f"C{i}")
            ax.plot([e.point], [i], "k|", markersize=14)
        ax.set_title(kind)
        ax.set_xlabel(metric_label(metric))
    axes[0].set_yticks(range(len(names)), names)
    fig.suptitle("Absolute metric: point estimate and stratified bootstrap 95% CI")
    _save(plt, fig, path)


def _poi_title(higher_is_better: bool) -> str:
    """What the probability-of-improvement matrix holds: P(row better than column)."""
    return "P(row > column)" if higher_is_better else "P(row < column), lower is better"


def _higher_is_better(metric: str) -> bool:
    """The direction of ``metric`` (:data:`envs.metrics.METRICS`); an unregistered one
    (an older results file) is read as higher-is-better, as every report before."""
    return EPISODE_METRICS[metric].higher_is_better if metric in EPISODE_METRICS else True


def _column(metric: str) -> str:
    """A table column's header: the metric's label, and its direction when lower is
    better."""
    lower = metric in EPISODE_METRICS and not EPISODE_METRICS[metric].higher_is_better
    return metric_label(metric) + (" (lower is better)" if lower else "")


def plot_poi(poi: dict[tuple[str, str], aggregate.Estimate], names: list[str],
             path: Path, higher_is_better: bool = True) -> None:
    plt = _plt()
    matrix = np.full((len(names), len(names)), np.nan)
    for (x, y), e in poi.items():
        matrix[names.index(x), names.index(y)] = e.point
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2.5, 0.9 * len(names) + 1.5))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="RdBu")
    for i in range(len(names)):
        for j in range(len(names)):
            if i != j:
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_title(_poi_title(higher_is_better))
    fig.colorbar(image)
    _save(plt, fig, path)


def plot_profiles(profiles: dict[str, dict[str, np.ndarray]], taus: np.ndarray, metric: str,
                  path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, p in profiles.items():
        ax.plot(taus, p["profile"], label=name)
        ax.fill_between(taus, p["low"], p["high"], alpha=0.15)
    ax.set_xlabel(f"{metric_label(metric)} threshold tau")
    ax.set_ylabel("fraction of runs > tau")
    ax.set_title("Performance profiles (95% CI)")
    ax.legend(fontsize=7)
    _save(plt, fig, path)


TRADEOFF = ("provider_exposure_gini", "engagement_per_session")
"""The trade-off the report draws (x, y): providers' exposure inequality against users'
engagement."""


def non_dominated(estimates: dict[str, dict[str, aggregate.Estimate]],
                  metrics: tuple[str, ...] = TRADEOFF) -> list[str]:
    """The policies no other policy dominates on ``metrics`` (mean over runs, in each
    metric's direction: at least as good on every one and better on one): the Pareto front,
    in the order given. ``estimates[metric][policy]``: :func:`metric_estimates`'s mean."""
    def better_or_equal(a: str, b: str, m: str) -> bool:
        x, y = estimates[m][a]["Mean"].point, estimates[m][b]["Mean"].point
        return x >= y if _higher_is_better(m) else x <= y

    names = [n for n in estimates[metrics[0]] if all(n in estimates[m] for m in metrics)]
    return [a for a in names if not any(
        all(better_or_equal(b, a, m) for m in metrics)
        and not all(better_or_equal(a, b, m) for m in metrics) for b in names if b != a)]


def plot_tradeoff(policies: list[PolicyRuns], estimates: dict[str, dict[str, Any]],
                  front: list[str], path: Path) -> None:
    """Each policy's mean over runs of the two :data:`TRADEOFF` metrics with their 95% CIs
    (crosses), its runs (dots) and the Pareto front (the non-dominated policies, joined)."""
    plt = _plt()
    x_metric, y_metric = TRADEOFF
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    for i, p in enumerate(policies):
        colour = f"C{i % 10}"
        ax.scatter(p.run_scores(x_metric), p.run_scores(y_metric), alpha=0.3, color=colour,
                   s=14)
        ex, ey = estimates[x_metric][p.policy]["Mean"], estimates[y_metric][p.policy]["Mean"]
        ax.errorbar([ex.point], [ey.point], xerr=[[ex.point - ex.low], [ex.high - ex.point]],
                    yerr=[[ey.point - ey.low], [ey.high - ey.point]], color=colour,
                    marker="o" if p.learned else "s", markersize=7, markeredgecolor="k",
                    capsize=3, label=p.policy + (" *" if p.policy in front else ""))
    on_front = sorted((estimates[x_metric][n]["Mean"].point,
                       estimates[y_metric][n]["Mean"].point) for n in front)
    if len(on_front) > 1:
        ax.plot(*zip(*on_front, strict=True), color="k", linewidth=1, linestyle="--",
                label="Pareto front (* non-dominated)")
    ax.set_xlabel(f"{metric_label(x_metric)} (lower is fairer)")
    ax.set_ylabel(metric_label(y_metric))
    ax.set_title("Engagement against providers' exposure: mean over runs, 95% CI")
    ax.legend(fontsize=7, loc="best")
    _save(plt, fig, path)


def privacy_levels(spec: ExperimentSpec) -> dict[str, float | None]:
    """Each learned policy's ``privacy_epsilon`` (``None``: no privacy), when a variant
    sets one; ``{}`` otherwise."""
    if not spec.variants or not any("privacy_epsilon" in v for v in spec.variants.values()):
        return {}
    return {g.label: variant_spec(spec, g.variant).env.params.get("privacy_epsilon")
            for g in training_groups(spec)}


def plot_privacy(policies: list[PolicyRuns], levels: dict[str, float | None],
                 estimates: dict[str, dict[str, aggregate.Estimate]], metric: str,
                 path: Path) -> None:
    """The headline metric (IQM, 95% CI) of the learned policies against their privacy
    budget epsilon (log scale; smaller is more private); the policies without privacy and
    the baselines as horizontal references."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    private = sorted((eps, name) for name, eps in levels.items() if eps is not None)
    if private:
        xs = [eps for eps, _ in private]
        est = [estimates[name]["IQM"] for _, name in private]
        ax.errorbar(xs, [e.point for e in est], yerr=[[e.point - e.low for e in est],
                                                       [e.high - e.point for e in est]],
                    marker="o", capsize=3, label="learned, private feedback")
        for (eps, _), e in zip(private, est, strict=True):
            ax.annotate(f"eps={eps:g}", (eps, e.point), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
    styles = iter(("--", ":", "-.", (0, (1, 3)), (0, (5, 2))))
    references = [n for n, eps in levels.items() if eps is None]
    references += [p.policy for p in policies if not p.learned]
    for name, style in zip(references, styles, strict=False):
        e = estimates[name]["IQM"]
        ax.axhline(e.point, linestyle=style, color="grey", label=f"{name} (no privacy)")
        ax.axhspan(e.low, e.high, color="grey", alpha=0.08)
    ax.set_xscale("log")
    ax.set_xlabel("privacy budget epsilon per user step (log scale; smaller is more private)")
    ax.set_ylabel(metric_label(metric))
    ax.set_title("What local differential privacy of user feedback costs (IQM, 95% CI)")
    ax.legend(fontsize=7)
    _save(plt, fig, path)


def tradeoff_table(policies: list[PolicyRuns], estimates: dict[str, dict[str, Any]],
                   front: list[str]) -> str:
    """The :data:`TRADEOFF` metrics per policy (mean [95% CI]) and whether it is on the
    Pareto front."""
    rows = ["| policy | " + " | ".join(map(_column, TRADEOFF)) + " | non-dominated |",
            "|---|---|---|---|"]
    for p in policies:
        cells = [str(estimates[m][p.policy]["Mean"]) for m in TRADEOFF]
        rows.append(f"| {p.policy} | " + " | ".join(cells)
                    + f" | {'yes' if p.policy in front else 'no'} |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- tables


def plot_cold_start(policies: list[PolicyRuns], path: Path) -> None:
    """Warm against cold: engagement per session by kind of user, clicks per impression by
    kind of item; bars are means over runs, whiskers the runs' range."""
    plt = _plt()
    panels = (("engagement per session", "engagement_per_session_{}_users", "users"),
              ("clicks per impression", "item_ctr_{}", "items"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.5 * len(policies) + 2.5))
    y = np.arange(len(policies))
    for ax, (label, key, who) in zip(axes, panels, strict=True):
        for offset, kind, colour in ((-0.2, "warm", "tab:orange"), (0.2, "cold", "tab:blue")):
            runs = [p.run_scores(key.format(kind)) for p in policies]
            means = np.array([np.nanmean(r) for r in runs])
            low = means - np.array([np.nanmin(r) for r in runs])
            high = np.array([np.nanmax(r) for r in runs]) - means
            ax.barh(y + offset, means, height=0.4, color=colour, xerr=[low, high],
                    label=f"{kind} {who}")
        ax.set_yticks(y, [p.policy for p in policies])
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    fig.suptitle("Cold start: known (warm) against new (cold) users and items")
    _save(plt, fig, path)


def absolute_table(estimates: dict[str, dict[str, aggregate.Estimate]], runs: int,
                   episodes: int) -> str:
    rows = ["| policy | IQM [95% CI] | mean [95% CI] | median [95% CI] | runs | episodes/run |",
            "|---|---|---|---|---:|---:|"]
    for name, e in estimates.items():
        rows.append(f"| {name} | {e['IQM']} | {e['Mean']} | {e['Median']} | {runs} | "
                    f"{episodes} |")
    return "\n".join(rows)


def poi_table(poi: dict[tuple[str, str], aggregate.Estimate], names: list[str],
              higher_is_better: bool = True) -> str:
    rows = [f"| {_poi_title(higher_is_better)} | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|"]
    for x in names:
        cells = ["—" if x == y else f"{poi[(x, y)].point:.2f} [{poi[(x, y)].low:.2f}, "
                 f"{poi[(x, y)].high:.2f}]" for y in names]
        rows.append(f"| {x} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def metric_estimates(policies: list[PolicyRuns], metric: str, reps: int = BOOTSTRAP_REPS
                     ) -> dict[str, dict[str, aggregate.Estimate]]:
    """IQM, mean and median over runs of ``metric`` [95% CI], by policy: the policies whose
    runs all have a value together (:func:`aggregate.interval_estimates`), each other one
    alone over its runs with a value (a run without one: no cold user met); a policy
    without a value in any run left out."""
    scores = {p.policy: p.run_scores(metric) for p in policies}
    complete = {name: v for name, v in scores.items() if not np.isnan(v).any()}
    estimates = aggregate.interval_estimates(complete, reps=reps) if complete else {}
    for name, v in scores.items():
        if name not in complete and not np.isnan(v).all():
            estimates |= aggregate.interval_estimates({name: v[~np.isnan(v)]}, reps=reps)
    return estimates


def metrics_table(policies: list[PolicyRuns], reps: int,
                  metrics: tuple[str, ...] = HEADLINE_METRICS) -> str:
    """Mean over runs [95% CI] of each of ``metrics`` (:func:`metric_estimates`), one row
    per policy."""
    head = "| policy | " + " | ".join(map(_column, metrics)) + " |"
    rows = [head, "|---" * (len(metrics) + 1) + "|"]
    per_metric = {m: metric_estimates(policies, m, reps) for m in metrics}
    for p in policies:
        cells = []
        for m in metrics:
            e = per_metric[m].get(p.policy)
            cells.append("—" if e is None else
                         f"{e['Mean'].point:.3g} [{e['Mean'].low:.3g}, {e['Mean'].high:.3g}]")
        rows.append(f"| {p.policy} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def has_cold_start(policies: list[PolicyRuns]) -> bool:
    """Whether the episodes carry the cold/warm split (the env had ``cold_start``)."""
    return COLD_START_METRICS[0] in policies[0].episodes[0][0]


def ranking_table(policies: list[PolicyRuns], ranking: dict[str, dict[str, Any]]) -> str:
    """Simulated engagement and CTR beside the held-out ranking metrics, one row per
    policy that has both."""
    columns = [f"{m}@{RANKING_K}" if m != "hit_rate" else f"HR@{RANKING_K}" for m in METRICS]
    simulated = ("engagement_per_session", "ctr")
    rows = ["| policy | " + " | ".join(f"{metric_label(m)} (sim)" for m in simulated) + " | "
            + " | ".join(columns) + " |", "|---" * (len(columns) + 3) + "|"]
    for p in policies:
        if p.policy not in ranking:
            continue
        sim = [float(np.mean(p.run_scores(m))) for m in simulated]
        rows.append(f"| {p.policy} | {sim[0]:.3g} | {sim[1]:.3g} | "
                    + " | ".join(f"{ranking[p.policy][m]:.3f}" for m in METRICS) + " |")
    return "\n".join(rows)


def ranking_note(spec: ExperimentSpec) -> str:
    learned = [g.label for g in training_groups(spec)]
    return (f"learned policies {learned}: each run's best slate module scoring every movie "
            f"as a candidate at a session's start, mean over the {len(spec.seeds)} runs")


def curve_table(policies: list[PolicyRuns]) -> str:
    learned = [p for p in policies if p.learned and p.curve]
    if not learned:
        return "(no evaluations during training)"
    rows = ["| evaluation | env steps | " + " | ".join(p.policy for p in learned) + " |",
            "|---" * (len(learned) + 2) + "|"]
    for k in range(len(learned[0].curve)):
        steps = learned[0].curve[k][0]
        cells = [f"{np.mean(p.curve[k][1]):.3g} ({', '.join(f'{v:.3g}' for v in p.curve[k][1])})"
                 for p in learned]
        rows.append(f"| {k + 1} | {steps:,.0f} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- report


def write_report(folder: str | Path, reps: int = BOOTSTRAP_REPS,
                 progress: Callable[[], None] | None = None,
                 phase: Callable[[str], None] | None = None) -> Path:
    """Writes ``<folder>/report/`` (see the module docstring) and returns its path.
    ``progress()`` is called after each run's absolute-metric evaluation, ``phase(name)``
    when a later phase starts."""
    folder = Path(folder).resolve()
    spec = load_spec_of(folder)
    provenance = read_provenance(folder)
    with running_pool(spec.encoder_pool):  # the training's encoder, served again
        policies, ranking = collect(folder, spec, progress)  # the offline ranking with it
        if phase:
            phase("explaining the learned slate policies' decisions")
        explained = explain_experiment(folder, spec)
    if phase:
        phase("aggregating (bootstrap CIs)")
    metric = spec.evaluation.metric
    scores = {p.policy: p.run_scores(metric) for p in policies}
    estimates = aggregate.interval_estimates(scores, reps=reps)
    better = _higher_is_better(metric)
    poi = aggregate.probability_of_improvement(scores, reps=reps, higher_is_better=better)
    values = np.concatenate(list(scores.values()))
    taus = np.linspace(values.min() - 1e-9, values.max(), 50)
    profiles = aggregate.performance_profiles(scores, taus, reps=reps)
    names = [p.policy for p in policies]
    n_episodes = absolute_episodes(spec)
    pool = encoder_pool_figures(folder)
    tradeoff = {m: metric_estimates(policies, m, reps) for m in TRADEOFF}
    front = non_dominated(tradeoff)
    fairness = group_fairness({p.policy: p.groups for p in policies}, reps)
    if phase:
        phase("writing the report and plots")

    out = folder / "report"
    with staged_folder(out) as staging:
        baselines = {p.policy: estimates[p.policy]["IQM"].point for p in policies
                     if not p.learned}
        plot_learning_curves(policies, baselines, metric, staging / "learning_curves.png", reps)
        plot_intervals(estimates, metric, staging / "absolute_metric.png")
        plot_poi(poi, names, staging / "probability_of_improvement.png", better)
        plot_profiles(profiles, taus, metric, staging / "performance_profile.png")
        plot_tradeoff(policies, tradeoff, front, staging / "tradeoff.png")
        if has_cold_start(policies):
            plot_cold_start(policies, staging / "cold_start.png")
        groups_plot = plot_group_gaps(fairness, "engagement_per_session",
                                      staging / "user_groups.png")
        why = experiment_markdown(explained, spec.seeds[0])
        levels = privacy_levels(spec)
        if levels:
            plot_privacy(policies, levels, estimates, metric, staging / "privacy.png")
        if explained:
            (staging / "explanations.md").write_text(why)
        (staging / "scores.json").write_text(_json_text({
            "provenance": provenance, "metric": metric, "seeds": spec.seeds,
            "absolute_seeds": [absolute_seed(spec, r) for r in range(len(spec.seeds))],
            "episodes_per_run": n_episodes,
            # the in-training evaluations' (selection) episodes: seeds seed .. seed+episodes-1
            "evaluation_seed": spec.evaluation.seed,
            "evaluation_episodes": spec.evaluation.episodes,
            "confirmation": None if spec.confirmation is None else {
                "hypothesis": spec.confirmation.hypothesis,
                "selection": spec.confirmation.selection},
            "absolute": {name: {k: [e.point, e.low, e.high] for k, e in by_kind.items()}
                         for name, by_kind in estimates.items()},
            # P(a run of x scores better than a run of y: above, as every selectable
            # metric is higher-is-better) [95% CI]: [x][y] = [point, low, high]
            "probability_of_improvement": {
                x: {y: [poi[(x, y)].point, poi[(x, y)].low, poi[(x, y)].high]
                    for y in names if y != x} for x in names},
            "policies": {p.policy: {"learned": p.learned, "runs": p.episodes,
                                    "curve": p.curve} for p in policies},
            "ranking": ranking, "encoder_pool": pool,
            # the Pareto front of (exposure Gini, engagement) by mean over runs
            "tradeoff": {"metrics": list(TRADEOFF), "non_dominated": front,
                         "estimates": {m: {n: [e["Mean"].point, e["Mean"].low, e["Mean"].high]
                                           for n, e in by_policy.items()}
                                       for m, by_policy in tradeoff.items()}},
            "variants": spec.variants,
            # per user attribute: the groups compared, and per policy and session metric
            # each run's value per group, best / worst group, gap [point, low, high]
            "user_groups": fairness,
            # run 0's best modules: faithfulness of the attributions, explained slates
            "explanations": explained,
            # each learned policy's privacy_epsilon (null: none), when variants set one
            "privacy": levels}))
        (staging / "marl_eval.json").write_text(_json_text(aggregate.marl_eval_json(
            "marlrec", spec.env.preset, metric,
            {p.policy: [[e[metric] for e in run] for run in p.episodes] for p in policies},
            {p.policy: [{int(s): [v[r]] for s, v in p.curve} for r in range(len(p.episodes))]
             for p in policies if p.learned})))
        (staging / "report.md").write_text(_markdown(spec, policies, estimates, poi, names,
                                                     n_episodes, reps, ranking, provenance,
                                                     pool, tradeoff_table(policies, tradeoff,
                                                                          front),
                                                     _groups_section(fairness, groups_plot),
                                                     why + _privacy_section(levels)
                                                     + search_markdown(folder)))
    return out


def _privacy_section(levels: dict[str, float | None]) -> str:
    """The report's section on private feedback (empty without privacy variants)."""
    if not levels:
        return ""
    rows = "\n".join(f"| {name} | {'none' if eps is None else f'{eps:g}'} |"
                     for name, eps in levels.items())
    return f"""
## Private user feedback: the headline metric against epsilon

| policy | privacy_epsilon per user step |
|---|---|
{rows}

The platform learned from locally differentially private reports of each user step
(`envs/privacy.py` states the mechanism and the guarantee); the users behaved as without
privacy and every metric above is of their true behaviour. Baselines play without privacy.

![privacy](privacy.png)
"""


def _groups_section(fairness: dict[str, dict[str, Any]], plotted: bool) -> str:
    """The report's section on fairness across user groups (empty without user groups)."""
    if not fairness:
        return ""
    plot = "\n![user groups](user_groups.png)\n" if plotted else ""
    return f"""
## Fairness across user groups (gap between the best and worst served group)

{group_tables(fairness)}

A run's value of a group pools its sessions over the run's episodes; the gap is the best
group's value minus the worst group's, its mean over runs with a stratified bootstrap 95%
CI; a group enters with at least {next(iter(fairness.values()))["min_sessions"]} sessions in
every run of every policy. Per-group values of every run: `scores.json` (`user_groups`);
method: `marlrec/report/user_groups.py`.
{plot}"""


def read_provenance(folder: Path) -> dict[str, str]:
    """The training command and commit (``provenance.json`` of ``marlrec run``) and the
    commit this report is made at."""
    from marlrec.training.run import code_commit

    path = folder / "provenance.json"
    training = json.loads(path.read_text()) if path.is_file() else {}
    return {"training_command": training.get("command", "not recorded"),
            "training_commit": training.get("commit", "not recorded"),
            "report_commit": code_commit()}


def provenance_line(provenance: dict[str, str]) -> str:
    return (f"Trained by `{provenance['training_command']}` at commit "
            f"{provenance['training_commit']}; this report (absolute metric, aggregates) "
            f"made at commit {provenance['report_commit']}.")


def _protocol(spec: ExperimentSpec, n_episodes: int, reps: int) -> str:
    e = spec.evaluation
    return " ".join([
        f"**Protocol.** Each run's best modules (highest `{e.metric}` over the evaluations",
        f"during training: {e.episodes} episodes each, on fixed seeds from {e.seed}, every",
        f"{e.every_env_steps:,} env steps) are re-evaluated on {n_episodes} episodes",
        f"({e.absolute_factor}x: the absolute metric of Gorsane et al. 2022); baseline run",
        f"`r` plays the same {n_episodes} episodes as learned run `r`. A run's score is its",
        "mean over those episodes. Aggregates across runs follow rliable (Agarwal et al.",
        "2021): interquartile mean, mean and median with stratified bootstrap 95% CIs",
        f"({reps} resamples); P(X > Y) is the probability that a run of X scores above a",
        "run of Y. Baselines script the learned roles (`greedy_by_quality` is an oracle: it",
        "reads hidden quality). Metric definitions: `envs/metrics.py`."])


def _markdown(spec: ExperimentSpec, policies: list[PolicyRuns],
              estimates: dict[str, dict[str, aggregate.Estimate]],
              poi: dict[tuple[str, str], aggregate.Estimate], names: list[str],
              n_episodes: int, reps: int, ranking: dict[str, dict[str, Any]] | None,
              provenance: dict[str, str], pool: dict[str, float] | None = None,
              tradeoff: str = "", groups: str = "", why: str = "") -> str:
    metric = spec.evaluation.metric
    variants = "" if not spec.variants else (
        "\nVariants (each trained and evaluated as its own policy, its env.params overrides; "
        "the baselines play in env.params): "
        + "; ".join(f"`{n}` `{json.dumps(v)}`" for n, v in spec.variants.items()) + ".\n")
    encoder = "" if pool is None else f"""
## Encoder pool during training

The state embeddings came from the {encoder_pool_line(pool, spec.encoder_pool.encoder)}
(over the {pool['runs']} training runs; texts include the text pieces an additive encoder
composes states from, see `marlrec/report/encoder_figures.py`).
"""
    runs = len(spec.seeds)
    cold = "" if not has_cold_start(policies) else f"""
## Cold start: new users and items against known ones (mean over runs [95% CI])

{metrics_table(policies, reps, COLD_START_METRICS)}

Warm users start each session with their past consumption as its history; cold users with
their profile text only. Cold items show the platform no popularity and no appeal, only
their text; training never met a cold user or item (`envs/cold_start.py`).

![cold start](cold_start.png)
"""
    offline = "" if ranking is None else f"""
## Offline ranking on held-out MovieLens-100k ratings (k = {RANKING_K})

{ranking_table(policies, ranking)}

Each user's unrated-in-training movies ranked, the held-out ratings of the env's split
relevant (catalog parameters `holdout` and `holdout_seed`: by default 20% of each user's
ratings, seed 0, whatever the evaluation seed); the simulator the policies trained in was
built from the other ratings only, and so is everything a baseline uses
({ranking_note(spec)}). Simulated
columns: means over runs of the absolute-metric episodes above. Protocol:
`marlrec/evaluation/ranking.py`.
"""
    confirmation = "" if spec.confirmation is None else (
        f"\n**Confirmatory run.** Hypothesis, stated in the spec before it ran: "
        f"{spec.confirmation.hypothesis.strip()} Selection run: "
        f"`{spec.confirmation.selection}`; no training seed or evaluation episode of it "
        "is used here (checked when the spec was validated).\n")
    return f"""# {spec.name}: learned policies against baselines

{provenance_line(provenance)}
{confirmation}
Preset `{spec.env.preset}` (`{json.dumps(spec.env.params)}`, encoder `{spec.env.encoder}`{
    f", user-state encoder `{spec.env.state_encoder}`" if spec.env.state_encoder else ""});
learned roles {spec.learned_roles}; {runs} runs per policy (training seeds {spec.seeds});
budget {spec.stop.env_steps:,} env steps per run.
{variants}
{_protocol(spec, n_episodes, reps)}

## Absolute metric: {metric}

{absolute_table(estimates, runs, n_episodes)}

![absolute metric](absolute_metric.png)

## Probability of improvement

{poi_table(poi, names, _higher_is_better(metric))}

![probability of improvement](probability_of_improvement.png)

## Every headline metric (mean over runs [95% CI])

{metrics_table(policies, reps)}

## Trade-off: users' engagement against providers' exposure (mean over runs [95% CI])

{tradeoff}

Non-dominated: no other policy has at least its engagement and at most its exposure Gini
(means over runs), and is better in one. The slate policy's objective (`objective` in
env.params or a variant) weighs engagement against exposure fairness: `envs/objectives.py`.

![engagement against exposure Gini](tradeoff.png)
{groups}{cold}{offline}{why}{encoder}
## Evaluations during training ({metric}: mean over runs (each run))

{curve_table(policies)}

![learning curves](learning_curves.png)

![performance profiles](performance_profile.png)

Raw scores: `scores.json`; marl-eval layout: `marl_eval.json`. Regenerate with
`marlrec report {Path(spec.logging.results_dir) / spec.name}`.
"""
