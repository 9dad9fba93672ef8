"""Compare scripted slate policies on one ecosystem: standalone rollouts, a table, a plot.

Every policy is rolled out on the same episode seeds (episode ``e`` is
``envs.rollout(env, behaviours, episodes=1, seed=seed + e)``), so
differences come from the policies, not from the draw of users. The report is written to
a temporary folder and moved into place at the end: an interrupted run leaves nothing
half-written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats

import envs
from marlrec.staged_folder import staged_folder

HEADLINE_METRICS = ("engagement_per_session", "ctr", "session_length", "user_utility",
                    "catalog_coverage", "intra_list_diversity", "novelty",
                    "provider_exposure_gini", "active_providers", "long_tail_share")


@dataclass
class PolicyResult:
    policy: str
    episodes: list[dict[str, float]]

    def mean(self, metric: str) -> float:
        return float(np.mean([m[metric] for m in self.episodes]))

    def ci95(self, metric: str) -> float:
        """Half-width of the Student-t 95% interval of the mean over episodes (0 for one
        episode: no interval)."""
        values = [m[metric] for m in self.episodes]
        if len(values) < 2:
            return 0.0
        quantile = scipy.stats.t.ppf(0.975, len(values) - 1)
        return float(quantile * np.std(values, ddof=1) / np.sqrt(len(values)))


def episodes_on_seeds(env: envs.RecEcosystemEnv, behaviours: dict[str, Any], episodes: int,
                      seed: int, progress: Any = None, with_groups: bool = False
                      ) -> list[dict[str, Any]]:
    """Episode metrics of ``episodes`` rollouts, episode ``e`` seeded ``seed + e``: the
    same episodes for every policy compared. ``progress()`` is called after each.
    ``with_groups``: each episode's sessions by user group under ``"groups"``
    (:meth:`envs.RecEcosystemEnv.group_stats`)."""
    metrics = []
    for e in range(episodes):
        result = envs.rollout(env, behaviours, episodes=1, seed=seed + e)
        metrics.append(result.episode_metrics[0])
        if with_groups:
            metrics[-1]["groups"] = result.group_stats[0]
        if progress is not None:
            progress()
    return metrics


def compare_slate_policies(env: envs.RecEcosystemEnv, policies: list[str], episodes: int,
                           seed: int, provider: str = "static",
                           progress: Any = None) -> list[PolicyResult]:
    """Rolls out each scripted slate policy (names from ``envs.SLATE_BASELINES``) with the
    env's scripted users and providers, on the same seeds."""
    results = []
    for name in policies:
        behaviours = envs.scripted_behaviours(env, name, provider=provider)
        results.append(PolicyResult(name, episodes_on_seeds(env, behaviours, episodes, seed,
                                                            progress)))
    return results


def markdown_table(results: list[PolicyResult], metrics: tuple[str, ...] = HEADLINE_METRICS
                   ) -> str:
    head = "| policy | " + " | ".join(metrics) + " |"
    rule = "|---" * (len(metrics) + 1) + "|"
    rows = [f"| {r.policy} | " + " | ".join(f"{r.mean(m):.3g} ± {r.ci95(m):.2g}"
                                           for m in metrics) + " |" for r in results]
    return "\n".join([head, rule, *rows])


def plot(results: list[PolicyResult], path: Path,
         metrics: tuple[str, ...] = ("engagement_per_session", "ctr", "session_length",
                                     "catalog_coverage")) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2))
    names = [r.policy for r in results]
    for ax, metric in zip(axes, metrics, strict=True):
        ax.bar(names, [r.mean(metric) for r in results],
               yerr=[r.ci95(metric) for r in results], capsize=3, color="#4c72b0")
        ax.set_title(metric.replace("_", " "))
        ax.tick_params(axis="x", rotation=45)
    fig.suptitle("Scripted slate policies (mean ± 95% CI over episodes)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_comparison_report(results: list[PolicyResult], out_dir: Path, settings: dict[str, Any],
                 title: str = "Scripted slate policies",
                 extra: Callable[[Path], str] | None = None) -> Path:
    """Writes ``report.md``, ``metrics.json`` and ``comparison.png`` into ``out_dir``
    atomically (all or nothing); ``extra(staging_folder)`` may add files and returns
    markdown appended to the report."""
    out_dir = Path(out_dir)
    with staged_folder(out_dir) as staging:
        plot(results, staging / "comparison.png")
        (staging / "metrics.json").write_text(json.dumps({
            "settings": settings,
            "results": {r.policy: r.episodes for r in results},
        }, indent=2))
        more = extra(staging) if extra is not None else ""
        (staging / "report.md").write_text(
            f"# {title}\n\n"
            f"Settings: `{json.dumps(settings)}`\n\n"
            "Each cell: mean ± 95% CI half-width over episodes (same seeds for every "
            "policy). Metric definitions: `envs/metrics.py`.\n\n"
            f"{markdown_table(results)}\n\n![comparison](comparison.png)\n\n{more}\n")
    return out_dir
