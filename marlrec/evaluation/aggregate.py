"""Aggregate scores across runs the rliable way (Agarwal et al. 2021, *Deep RL at the Edge
of the Statistical Precipice*), with Google's ``rliable`` library.

Scores are ``{policy: array (runs, tasks)}``: one row per independent run (a training seed;
for a scripted baseline, the same evaluation episodes as that seed's learned policy), one
column per task. Every policy must have the same number of runs and tasks:
:func:`check_equal_runs` refuses to aggregate otherwise, because an IQM or a probability
of improvement over unequal samples is not comparable.

- :func:`interval_estimates`: IQM, mean and median (rliable's: the median over tasks of
  each task's mean over runs), each with a stratified bootstrap 95% CI;
- :func:`probability_of_improvement`: P(X better than Y) for every ordered pair, with CIs
  (better: above, or below for a lower-is-better metric);
- :func:`performance_profiles`: the fraction of runs scoring above each threshold ``tau``;
- :func:`marl_eval_json`: the same raw scores in marl-eval's JSON layout.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from rliable import library as rly
from rliable import metrics as rl_metrics


def aggregate_iqm(scores: np.ndarray) -> float:
    """rliable's IQM, ``scipy.stats.trim_mean(scores, 0.25, axis=None)``, as scipy computes
    it (the same partition, the same mean: the same bits) without scipy's per-call argument
    handling, which took most of a bootstrap's time."""
    flat = np.asarray(scores, dtype=float).ravel()
    low = int(0.25 * flat.size)
    high = flat.size - low
    return np.mean(np.partition(flat, (low, high - 1))[low:high])


def probability_of_improvement_of_runs(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """rliable's ``probability_of_improvement``: per task, Mann-Whitney's U of x over y
    divided by ``runs_x * runs_y`` (0.5 where the runs are equal), averaged over tasks. U is
    counted directly (pairs where x is above, ties half), the same number scipy's ranks give
    to the bit, about 100x faster."""
    probabilities = []
    pairs = scores_x.shape[0] * scores_y.shape[0]
    for task in range(scores_x.shape[1]):
        x, y = scores_x[:, task], scores_y[:, task]
        if np.array_equal(x, y):
            probabilities.append(0.5)
            continue
        above = np.count_nonzero(x[:, None] > y[None, :])
        ties = np.count_nonzero(x[:, None] == y[None, :])
        probabilities.append(np.float64(above + 0.5 * ties) / pairs)
    return np.mean(probabilities)


AGGREGATES = {"IQM": aggregate_iqm, "Mean": rl_metrics.aggregate_mean,
              "Median": rl_metrics.aggregate_median}


@dataclass(frozen=True)
class Estimate:
    point: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.point:.3g} [{self.low:.3g}, {self.high:.3g}]"


def as_score_matrix(scores: dict[str, Any]) -> dict[str, np.ndarray]:
    """``{policy: (runs, tasks)}`` float arrays; a 1-D list of runs becomes one task."""
    out = {}
    for name, value in scores.items():
        array = np.asarray(value, dtype=float)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.size == 0:
            raise ValueError(f"scores[{name!r}]: shape {array.shape}; expected (runs, tasks)")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"scores[{name!r}]: contains NaN or infinite values")
        out[name] = array
    return out


def check_equal_runs(scores: dict[str, np.ndarray]) -> None:
    """Refuses policies with different numbers of runs or tasks."""
    shapes = {name: a.shape for name, a in scores.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n}: {s[0]} runs x {s[1]} tasks" for n, s in shapes.items())
        raise ValueError("every policy needs the same number of runs and tasks to be "
                         f"aggregated; got {listed}")


@contextlib.contextmanager
def _seeded(seed: int):
    """A legacy ``RandomState`` for rliable's bootstrap. rliable's bootstrap (arch) also
    draws from NumPy's global generator, so that is seeded here too and restored after."""
    saved = np.random.get_state()  # noqa: NPY002 - rliable reads the legacy global
    np.random.seed(seed)  # noqa: NPY002
    try:
        with warnings.catch_warnings():  # arch deprecates random_state, rliable passes it
            warnings.simplefilter("ignore", FutureWarning)
            yield np.random.RandomState(seed)
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def interval_estimates(scores: dict[str, Any], reps: int = 2000, seed: int = 0
                       ) -> dict[str, dict[str, Estimate]]:
    """``{policy: {"IQM"|"Mean"|"Median": Estimate}}`` with stratified bootstrap 95% CIs."""
    matrix = as_score_matrix(scores)
    check_equal_runs(matrix)
    names = list(AGGREGATES)

    def aggregates(x: np.ndarray) -> np.ndarray:
        return np.array([AGGREGATES[n](x) for n in names])

    with _seeded(seed) as random_state:
        points, intervals = rly.get_interval_estimates(matrix, aggregates, reps=reps,
                                                       random_state=random_state)
    return {policy: {n: Estimate(float(points[policy][i]), float(intervals[policy][0, i]),
                                 float(intervals[policy][1, i])) for i, n in enumerate(names)}
            for policy in matrix}


def probability_of_improvement(scores: dict[str, Any], reps: int = 2000, seed: int = 0, *,
                               higher_is_better: bool = True
                               ) -> dict[tuple[str, str], Estimate]:
    """``{(x, y): P(a run of x scores better than a run of y)}`` (ties count half), averaged
    over tasks, with stratified bootstrap 95% CIs, for every ordered pair x != y. Better is
    above where ``higher_is_better`` (the metric's direction,
    :attr:`envs.metrics.Metric.higher_is_better`), below where not."""
    matrix = as_score_matrix(scores)
    if not higher_is_better:  # P(-x > -y) = P(x < y): the same bootstrap on negated scores
        matrix = {name: -a for name, a in matrix.items()}
    check_equal_runs(matrix)
    pairs = {f"{x}\x00{y}": (matrix[x], matrix[y]) for x in matrix for y in matrix if x != y}
    with _seeded(seed) as random_state:
        points, intervals = rly.get_interval_estimates(
            pairs, probability_of_improvement_of_runs, reps=reps,
            random_state=random_state)
    return {tuple(key.split("\x00")): Estimate(float(points[key]),
                                               *map(float, np.ravel(intervals[key])))
            for key in pairs}


def performance_profiles(scores: dict[str, Any], taus: np.ndarray, reps: int = 2000
                         ) -> dict[str, dict[str, np.ndarray]]:
    """``{policy: {"profile", "low", "high"}}``: the fraction of run scores above each tau,
    with bootstrap 95% CIs."""
    matrix = as_score_matrix(scores)
    check_equal_runs(matrix)
    with _seeded(0):
        profiles, cis = rly.create_performance_profile(matrix, np.asarray(taus, float),
                                                       reps=reps)
    return {p: {"profile": np.asarray(profiles[p]), "low": np.asarray(cis[p][0]),
                "high": np.asarray(cis[p][1])} for p in matrix}


def marl_eval_json(env_name: str, task_name: str, metric: str,
                   absolute: dict[str, list[list[float]]],
                   steps: dict[str, list[dict[int, list[float]]]] | None = None
                   ) -> dict[str, Any]:
    """Raw scores in marl-eval's layout (``instadeepai/marl-eval``):
    ``{env: {task: {algorithm: {"run_i": {"step_k": {"step_count": ..., metric: [episode
    values]}, "absolute_metrics": {metric: [episode values]}}}}}}``.

    ``absolute[algorithm][i]``: run ``i``'s absolute-metric episode values; ``steps``
    (optional) ``[algorithm][i]``: ``{env_steps: episode values}`` of the evaluations
    during training."""
    algorithms: dict[str, Any] = {}
    for algorithm, runs in absolute.items():
        entry = {}
        for i, values in enumerate(runs):
            run: dict[str, Any] = {}
            for k, (count, episode_values) in enumerate(
                    sorted(((steps or {}).get(algorithm) or [{}] * len(runs))[i].items())):
                run[f"step_{k}"] = {"step_count": int(count),
                                    metric: [float(v) for v in episode_values]}
            run["absolute_metrics"] = {metric: [float(v) for v in values]}
            entry[f"run_{i}"] = run
        algorithms[algorithm] = entry
    return {env_name: {task_name: algorithms}}
