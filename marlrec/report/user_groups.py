"""Fairness across user groups: each policy's session metrics by user group, and the gap
between the best and the worst served group with a 95% CI across runs.

The groups are the user population's attributes (``env.population.groups``: MovieLens'
``age`` band, ``gender`` and ``occupation``; a synthetic persona's ``primary_topic``). Each
absolute-metric episode records its sessions by group (:meth:`envs.RecEcosystemEnv.
group_stats`: sessions and their engagement, utility, steps and clicks); a run's value of a
group is pooled over the run's episodes (engagement per session = the group's summed
engagement / its sessions; CTR = clicks / steps). A group enters the comparison when it has
at least :data:`MIN_GROUP_SESSIONS` sessions in every run of every policy (a rarer group's
mean is too noisy to call best or worst; the groups left out are named). A run's gap is
its best group's value minus its worst group's (for every metric here higher is better);
the gap's mean over runs gets a stratified bootstrap 95% CI (:mod:`marlrec.evaluation.
aggregate`), as every other estimate of the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from marlrec.evaluation import aggregate

MIN_GROUP_SESSIONS = 20
"""Sessions a group needs in every run of every policy to enter the comparison."""

GROUP_METRICS = {
    "engagement_per_session": ("engagement", "sessions"),
    "ctr": ("clicks", "steps"),
    "user_utility": ("utility", "sessions"),
    "session_length": ("steps", "sessions"),
}
"""Session metrics broken down by group: name -> (numerator, denominator) of the pooled
sums (the names of the episode metrics they break down)."""


def pooled_groups(episodes: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """One run's ``groups`` summed over its episodes (attribute -> group -> sums); the
    ``groups`` entries are removed from the episodes (their metrics stay flat)."""
    total: dict[str, dict[str, dict[str, float]]] = {}
    for episode in episodes:
        for attr, groups in episode.pop("groups", {}).items():
            for label, stats in groups.items():
                into = total.setdefault(attr, {}).setdefault(label, {})
                for key, value in stats.items():
                    into[key] = into.get(key, 0.0) + value
    return total


def group_fairness(runs_by_policy: dict[str, list[dict[str, Any]]], reps: int
                   ) -> dict[str, dict[str, Any]]:
    """Per attribute: the groups compared, those left out (too few sessions), and per
    policy and metric each run's value per group, the best and worst group (by mean over
    runs) and the best-minus-worst gap [95% CI]. ``runs_by_policy``: each policy's runs'
    :func:`pooled_groups`."""
    attributes = sorted({a for runs in runs_by_policy.values() for run in runs for a in run})
    out: dict[str, dict[str, Any]] = {}
    for attr in attributes:
        labels = sorted({g for runs in runs_by_policy.values() for run in runs
                         for g in run.get(attr, {})})
        kept = [g for g in labels if all(
            run.get(attr, {}).get(g, {}).get("sessions", 0) >= MIN_GROUP_SESSIONS
            for runs in runs_by_policy.values() for run in runs)]
        entry: dict[str, Any] = {"groups": kept, "left_out": [g for g in labels if g not in kept],
                                 "min_sessions": MIN_GROUP_SESSIONS, "policies": {}}
        if len(kept) >= 2:
            for policy, runs in runs_by_policy.items():
                entry["policies"][policy] = {
                    metric: _gap(runs, attr, kept, num, den, reps)
                    for metric, (num, den) in GROUP_METRICS.items()}
        out[attr] = entry
    return out


def _gap(runs: list[dict[str, Any]], attr: str, groups: list[str], numerator: str,
         denominator: str, reps: int) -> dict[str, Any]:
    values = np.array([[run[attr][g][numerator] / run[attr][g][denominator] for g in groups]
                       for run in runs])  # (runs, groups)
    gaps = values.max(axis=1) - values.min(axis=1)
    estimate = aggregate.interval_estimates({"gap": gaps}, reps=reps)["gap"]["Mean"]
    means = values.mean(axis=0)
    return {"by_group": {g: values[:, i].tolist() for i, g in enumerate(groups)},
            "best": groups[int(means.argmax())], "worst": groups[int(means.argmin())],
            "gap": [estimate.point, estimate.low, estimate.high], "gap_per_run": gaps.tolist()}


def group_tables(fairness: dict[str, dict[str, Any]]) -> str:
    """One markdown table per attribute: per policy, each metric's best and worst group
    and the gap's mean over runs [95% CI]."""
    from envs.metrics import label

    parts = []
    for attr, entry in fairness.items():
        if not entry["policies"]:
            parts.append(f"**{attr}**: fewer than two groups with {entry['min_sessions']} "
                         "sessions in every run; not compared.")
            continue
        metrics = list(GROUP_METRICS)
        rows = [f"**{attr}** ({len(entry['groups'])} groups"
                + (f"; left out, too few sessions: {', '.join(entry['left_out'])}"
                   if entry["left_out"] else "") + ")", "",
                "| policy | " + " | ".join(f"{label(m)}: gap [95% CI] (best / worst)"
                                          for m in metrics) + " |",
                "|---" * (len(metrics) + 1) + "|"]
        for policy, by_metric in entry["policies"].items():
            cells = []
            for m in metrics:
                g = by_metric[m]
                point, low, high = g["gap"]
                cells.append(f"{point:.3g} [{low:.3g}, {high:.3g}] ({g['best']} / "
                             f"{g['worst']})")
            rows.append(f"| {policy} | " + " | ".join(cells) + " |")
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def plot_group_gaps(fairness: dict[str, dict[str, Any]], metric: str, path: Path) -> bool:
    """One panel per attribute: each policy's best-minus-worst gap of ``metric`` with its
    95% CI; ``False`` (nothing drawn) when no attribute has two groups to compare."""
    attrs = [a for a, e in fairness.items() if e["policies"]]
    if not attrs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policies = list(fairness[attrs[0]]["policies"])
    fig, axes = plt.subplots(1, len(attrs), figsize=(4.2 * len(attrs) + 1.5,
                                                     0.45 * len(policies) + 1.6), sharey=True)
    for ax, attr in zip(np.atleast_1d(axes), attrs, strict=True):
        for i, policy in enumerate(policies):
            point, low, high = fairness[attr]["policies"][policy][metric]["gap"]
            ax.errorbar([point], [i], xerr=[[point - low], [high - point]], fmt="o",
                        color=f"C{i % 10}", capsize=3)
        ax.set_yticks(range(len(policies)), policies)
        ax.invert_yaxis()
        ax.set_title(f"{attr} ({len(fairness[attr]['groups'])} groups)")
        ax.set_xlabel(f"best - worst group, {metric.replace('_', ' ')}")
    fig.suptitle("Gap between the best and worst served user group (mean over runs, 95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
