"""What `marlrec run` shows while it trains: one live table instead of Tune's output.

Per trial (algorithm x sharing x seed): its status, env steps against the budget, env
steps per second, the latest in-training evaluation of the selection metric
(``evaluation.metric``) beside the best baseline's on the same evaluation episodes, and an
ETA; above the table, the experiment's overall progress. A spec with ``search:`` first
shows each group's search trials (``GROUP search K``, evaluated on the tuning episodes, so
without the baseline's reference; a trial the scheduler stops reads ``stopped early`` and
counts as finished in the overall progress). It is a Tune callback on the
driver, fed by each trial's results; Tune itself runs with ``verbose=0`` and Ray's,
RLlib's and Tune's loggers are held to errors (:func:`quiet_libraries`), so the console
shows this table, marlrec's own warnings and, at the end, the report.
``marlrec run --verbose`` restores Tune's own output instead.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from ray.tune import Callback

STEPS_KEY = "num_env_steps_sampled_lifetime"

_LIBRARY_LOGGERS = ("ray", "ray.tune", "ray.rllib", "ray.data", "ray.train", "ray.air",
                    "wandb", "filelock", "urllib3")


def quiet_libraries() -> None:
    """Holds the libraries' loggers to errors and silences their deprecation warnings (a
    researcher cannot act on RLlib's internal deprecation notices); marlrec's own loggers
    keep their warnings. Tune's newer console output prints an experiment header and result
    paths even at ``verbose=0``; its legacy reporter is silent there."""
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # wandb logs an ERROR with a traceback whenever its fast JSON encoder falls back to the
    # standard one (RLlib's config holds gymnasium spaces); the fallback works
    logging.getLogger("wandb").setLevel(logging.CRITICAL)
    for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", module=r"(ray|gymnasium|torch|wandb)(\.|$)")


@dataclass
class TrialRow:
    name: str
    status: str = "pending"
    env_steps: int = 0
    seconds: float = 0.0
    evaluation: float | None = None
    evaluated_at: int | None = None
    started: float = field(default_factory=time.perf_counter)
    search: bool = False  # a search trial: evaluated on the tuning episodes

    def finished(self) -> bool:
        """Ran its whole budget, or a search's scheduler stopped it."""
        return self.status in ("done", "stopped early")

    def rate(self) -> float | None:
        return self.env_steps / self.seconds if self.seconds > 0 and self.env_steps else None


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else \
        f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class LiveTrials(Callback):
    """A Tune callback that keeps one row per trial and renders them as a rich table."""

    def __init__(self, budget: int, metric: str, metric_label: str,
                 baseline: tuple[str, float] | None = None, total_trials: int = 0) -> None:
        self.budget = budget
        self.metric = metric
        self.metric_label = metric_label
        self.baseline = baseline
        self.total_trials = total_trials
        self.rows: dict[str, TrialRow] = {}
        self.group = ""
        self.search_trials: dict[str, str] | None = None  # trial id -> row, while searching
        self.started = time.perf_counter()

    def start_group(self, group: str, seeds: list[int]) -> None:
        """The next Tuner (one algorithm x sharing mode) and its seeds."""
        self.group, self.search_trials = group, None
        for seed in seeds:
            self.rows.setdefault(f"{group} seed {seed}", TrialRow(f"{group} seed {seed}"))

    def start_search(self, group: str, num_samples: int) -> None:
        """The next Tuner is ``group``'s search: ``num_samples`` trials, one row each."""
        self.group, self.search_trials = group, {}
        for k in range(1, num_samples + 1):
            name = f"{group} search {k}"
            self.rows.setdefault(name, TrialRow(name, search=True))

    def _row(self, trial: Any) -> TrialRow:
        if self.search_trials is not None:
            name = self.search_trials.setdefault(
                trial.trial_id, f"{self.group} search {len(self.search_trials) + 1}")
            return self.rows.setdefault(name, TrialRow(name, search=True))
        seed = trial.config.get("seed")
        name = f"{self.group} seed {seed}"
        return self.rows.setdefault(name, TrialRow(name))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self._row(trial)
        row.status, row.started = "running", time.perf_counter()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        row = self._row(trial)
        row.status = "running"
        row.env_steps = int(result.get("env_runners", {}).get(STEPS_KEY, row.env_steps))
        row.seconds = float(result.get("time_total_s", row.seconds))
        evaluation = result.get("evaluation")
        if isinstance(evaluation, dict) and self.metric in evaluation:
            row.evaluation = float(evaluation[self.metric])
            row.evaluated_at = int(evaluation.get("env_steps", row.env_steps))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self._row(trial)
        row.status = "done" if row.env_steps >= self.budget else "stopped early"

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._row(trial).status = "failed"

    def steps_done(self) -> int:
        return sum(self.budget if r.finished() else min(r.env_steps, self.budget)
                   for r in self.rows.values())

    def render(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        total = self.budget * max(self.total_trials, len(self.rows), 1)
        done = self.steps_done()
        elapsed = time.perf_counter() - self.started
        eta = (total - done) * elapsed / done if done else None
        head = Table.grid(padding=(0, 1))
        head.add_row(ProgressBar(total=total, completed=done, width=40),
                     f"{done:,} / {total:,} env steps, {_duration(elapsed)} elapsed"
                     + (f", about {_duration(eta)} to go" if eta is not None else ""))
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("trial", "status", "env steps", "steps/s",
                       f"latest eval: {self.metric_label}", "best baseline", "ETA"):
            table.add_column(column, justify="left" if column in ("trial", "status")
                             else "right", no_wrap=True)
        for row in self.rows.values():
            rate = row.rate()
            left = max(self.budget - row.env_steps, 0)
            eta_row = "-" if row.finished() else (
                _duration(left / rate) if rate else "")
            evaluation = "" if row.evaluation is None else \
                f"{row.evaluation:.3g} @ {row.evaluated_at:,}"
            baseline = "" if self.baseline is None or row.search else \
                f"{self.baseline[1]:.3g} ({self.baseline[0]})"
            table.add_row(row.name, row.status,
                          f"{row.env_steps:,} / {self.budget:,}",
                          "" if rate is None else f"{rate:,.0f}", evaluation, baseline,
                          eta_row)
        return Group(head, table)

    def __rich__(self) -> Any:
        return self.render()


def baseline_reference(spec: Any, encoder: Any = None) -> tuple[str, float] | None:
    """The best baseline on the selection metric over the in-training evaluation episodes
    (the episodes every trial's evaluations play), for the live table: ``(name, value)``."""
    from marlrec.evaluation.protocol import baseline_behaviours, evaluation_env, summarise
    from marlrec.evaluation.scripted_comparison import episodes_on_seeds

    e = spec.evaluation
    if not e.baselines:
        return None
    env = evaluation_env(spec, encoder)
    values = {}
    for name in e.baselines:
        episodes = episodes_on_seeds(env, baseline_behaviours(env, spec, name), e.episodes,
                                     e.seed)
        values[name] = summarise(episodes, e.metric)[e.metric]
    best = max(values, key=values.get)
    return best, values[best]
