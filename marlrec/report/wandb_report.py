"""The experiment report in W&B: tables and plots in the experiment's group, so an online
project shows the comparison without opening any file.

After ``marlrec report`` (and at the end of ``marlrec run``) one W&B run of job type
``report``, named ``<experiment>-report`` and grouped with the experiment's training runs
(``logging.wandb_group``, default the spec's name), logs from ``report/scores.json``:

- ``absolute_metric``: a table, one row per policy, with the headline metric's IQM, mean
  and median and their 95% CIs, runs and episodes per run;
- ``headline_metrics``: a table of every policy's mean of every registered episode metric
  (``envs.metrics.METRICS``, with its label and direction) over runs;
- ``probability_of_improvement``: a table of P(row better than column) with its CI;
- ``learning_curves``: a table (policy, env steps, mean over runs) for the learned policies;
- ``ranking``: the offline-ranking table when the catalog has held-out ratings;
- every PNG of the report as an image and ``report.html`` (when written) as HTML;
- the summary: each policy's IQM of the headline metric (``iqm/<policy>``).

The run's config is the resolved spec plus the report's provenance. ``logging.wandb_mode``
decides where it goes: ``offline`` (the default) writes a run folder under
``results/<name>/wandb/`` that ``wandb sync`` uploads later; ``disabled`` logs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from envs.metrics import METRICS


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def report_tables(scores: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The report's tables as ``name -> (columns, rows)`` (plain data, W&B-free)."""
    metric = scores["metric"]
    runs = len(scores.get("seeds", []))
    tables: dict[str, tuple[list[str], list[list[Any]]]] = {}
    rows = []
    for policy, by_kind in scores["absolute"].items():
        row: list[Any] = [policy]
        for kind in ("IQM", "Mean", "Median"):
            row += [_finite(v) for v in by_kind.get(kind, [None] * 3)]
        rows.append(row + [runs, scores.get("episodes_per_run")])
    tables["absolute_metric"] = (
        ["policy", *(f"{k}{suffix}" for k in ("IQM", "mean", "median")
                     for suffix in ("", " 95% low", " 95% high")), "runs", "episodes per run"],
        rows)
    policies = scores.get("policies", {})
    keys = [m for m in METRICS if any(m in episode for p in policies.values()
                                      for run in p["runs"] for episode in run)]
    rows = []
    for policy, data in policies.items():
        means = []
        for key in keys:
            per_run = [np.nanmean([e[key] for e in run if e.get(key) is not None])
                       for run in data["runs"] if any(e.get(key) is not None for e in run)]
            means.append(_finite(np.mean(per_run)) if per_run else None)
        rows.append([policy, *means])
    tables["headline_metrics"] = (
        ["policy", *(f"{METRICS[k].label} ({METRICS[k].direction} is better)" for k in keys)],
        rows)
    poi = scores.get("probability_of_improvement") or {}
    tables["probability_of_improvement"] = (
        ["row", "column", "P(row better)", "95% low", "95% high"],
        [[x, y, *(_finite(v) for v in value)] for x, by_y in poi.items()
         for y, value in by_y.items()])
    tables["learning_curves"] = (
        ["policy", "env steps", f"{METRICS[metric].label} (mean over runs)"],
        [[policy, int(steps), _finite(np.mean(values))]
         for policy, data in policies.items() if data.get("learned")
         for steps, values in (data.get("curve") or [])])
    ranking = scores.get("ranking") or {}
    if ranking:
        columns = sorted({k for values in ranking.values() for k in values
                          if isinstance(values.get(k), int | float)})
        tables["ranking"] = (["policy", *columns],
                             [[policy, *(_finite(values.get(c)) for c in columns)]
                              for policy, values in ranking.items()])
    return tables


def log_report(report: Path, spec: Any) -> Path | None:
    """Logs ``report`` (the folder ``marlrec report`` wrote) to W&B as one run of the
    experiment's group; returns the run's local folder (``None`` when W&B is disabled)."""
    mode = spec.logging.wandb_mode
    if mode == "disabled":
        return None
    import wandb

    scores = json.loads((report / "scores.json").read_text())
    folder = report.parent
    (folder / "wandb").mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=spec.logging.wandb_project,
                     group=spec.logging.wandb_group or spec.name,
                     name=f"{spec.name}-report", job_type="report", mode=mode,
                     dir=str(folder), reinit="finish_previous",
                     config={"marlrec": spec.to_dict(),
                             "provenance": scores.get("provenance", {})},
                     settings=wandb.Settings(silent=True))
    try:
        for name, (columns, rows) in report_tables(scores).items():
            run.log({name: wandb.Table(columns=columns, data=rows)})
        for png in sorted(report.glob("*.png")):
            run.log({f"plots/{png.stem}": wandb.Image(str(png))})
        html = report / "report.html"
        if html.is_file():
            run.log({"report_html": wandb.Html(html.read_text())})
        for policy, by_kind in scores["absolute"].items():
            run.summary[f"iqm/{policy}"] = _finite(by_kind["IQM"][0])
        run.summary["metric"] = scores["metric"]
        for key, value in (scores.get("encoder_pool") or {}).items():
            run.summary[f"encoder_pool/{key}"] = _finite(value)
        return Path(run.dir).parent
    finally:
        run.finish()
