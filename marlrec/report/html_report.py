"""``report/report.html``: the report of an experiment as one self-contained HTML page,
built from its ``scores.json`` alone (:func:`marlrec.report.experiment_report.load_scores`).

The page has the sections and tables of ``report.md`` (their cells formatted by the same
functions of :mod:`marlrec.report.experiment_report`) and its plots as interactive plotly
charts: hovering a point shows a run's or a policy's value with its 95% CI, clicking a
policy in a legend hides or shows it. plotly.js is inlined once in the page, as is its
style: the file opens offline and makes no network request.

The aggregates that ``scores.json`` holds (the headline metric's IQM, mean and median, its
probability-of-improvement matrix) are read from it; the others (every headline metric's
mean [95% CI], the learning curves' IQM per evaluation point, the performance profiles,
and the probability of improvement of an older file without one) are computed from its
runs with the report's seeded stratified bootstrap, so they are the numbers of
``report.md``. What a file lacks (an older one: no curves, no ranking, no provenance; a
sample the bootstrap refuses) leaves its section out.

    python -m marlrec.report.html_report RESULTS_DIR/report [-o OUT.html] [--reps N]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from envs.metrics import COLD_START_METRICS
from envs.metrics import METRICS as EPISODE_METRICS
from envs.metrics import label as metric_label
from marlrec.evaluation import aggregate
from marlrec.evaluation.scripted_comparison import HEADLINE_METRICS
from marlrec.report.experiment_report import (
    BOOTSTRAP_REPS,
    RANKING_K,
    PolicyRuns,
    SavedScores,
    absolute_table,
    curve_table,
    load_scores,
    metric_estimates,
    non_dominated,
    poi_table,
    provenance_line,
    ranking_table,
)
from marlrec.staged_folder import write_text_atomically

Estimates = dict[str, dict[str, aggregate.Estimate]]

# Every chart's id in the page (``<div id=...>``), in page order.
CHART_IDS = ("absolute-metric-chart", "probability-of-improvement-chart", "tradeoff-chart",
             "cold-start-chart", "learning-curves-chart", "performance-profile-chart")

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")
_CONFIG = {"displaylogo": False, "responsive": True,
           "toImageButtonOptions": {"format": "png", "scale": 2}}
_CI = "95% CI [%{customdata[0]:.3g}, %{customdata[1]:.3g}]"


# ----------------------------------------------------------------------------- the file


def write_html_report(report_folder: str | Path, out: str | Path | None = None, *,
                      reps: int = BOOTSTRAP_REPS) -> Path:
    """Reads ``<report_folder>/scores.json`` and writes the page to ``out`` (by default
    ``<report_folder>/report.html``) atomically: a temporary file in the same folder,
    renamed over it. Returns the page's path."""
    report_folder = Path(report_folder)
    saved = load_scores(report_folder / "scores.json")
    page = html_page(saved, title=experiment_name(report_folder), reps=reps)
    target = Path(out) if out is not None else report_folder / "report.html"
    write_text_atomically(target, page)
    return target


def experiment_name(report_folder: Path) -> str:
    """The experiment's name: ``<results>/<name>/report`` -> ``<name>``; a folder not named
    ``report`` (``docs/results/<name>``) names itself."""
    folder = report_folder.resolve()
    return folder.parent.name if folder.name == "report" else folder.name


# ----------------------------------------------------------------------------- the page


def html_page(saved: SavedScores, title: str, reps: int = BOOTSTRAP_REPS) -> str:
    """The whole page (``<!DOCTYPE html>`` ... ``</html>``) of ``saved``."""
    from plotly.offline import get_plotlyjs

    data = saved.data
    policies = [p for p in saved.policies if p.episodes and p.episodes[0]]
    metric = saved.metric
    higher = higher_is_better(metric)
    names = [p.policy for p in policies]
    colours = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(names)}
    scores = {p.policy: p.run_scores(metric) for p in policies}
    estimates = saved.absolute if saved.absolute else _attempt(
        lambda: aggregate.interval_estimates(scores, reps=reps))
    poi = saved.improvement if saved.improvement else _attempt(
        lambda: aggregate.probability_of_improvement(scores, reps=reps,
                                                     higher_is_better=higher))
    available = _metrics_of(policies)
    runs = {len(p.episodes) for p in policies}
    episodes = data.get("episodes_per_run") or len(policies[0].episodes[0])

    sections: list[tuple[str, str, str]] = []  # (id, heading, body)
    if estimates:
        sections.append(("absolute-metric", f"Absolute metric: {metric}",
                         _table(absolute_table(estimates, max(runs), episodes))
                         + _chart(absolute_chart(estimates, metric, colours),
                                  "absolute-metric-chart")))
    if poi and all((x, y) in poi for x in names for y in names if x != y):
        sections.append(("probability-of-improvement", "Probability of improvement",
                         _table(poi_table(poi, names, higher))
                         + _chart(poi_chart(poi, names, higher),
                                  "probability-of-improvement-chart")))
    headline = tuple(m for m in HEADLINE_METRICS if m in available)
    cold_split = all(m in available for m in COLD_START_METRICS)
    per_metric = {m: metric_estimates_of(policies, m, reps, estimates if m == metric else None)
                  for m in headline + (COLD_START_METRICS if cold_split else ())}
    if headline:
        body = _table(means_table(policies, per_metric, headline))
        if all(m in available for m in ("provider_exposure_gini", "engagement_per_session")):
            body += _chart(tradeoff_chart(policies, per_metric, colours), "tradeoff-chart")
        sections.append(("headline-metrics",
                         "Every headline metric (mean over runs [95% CI])", body))
    if cold_split:
        sections.append(("cold-start",
                         "Cold start: new users and items against known ones "
                         "(mean over runs [95% CI])",
                         _table(means_table(policies, per_metric, COLD_START_METRICS))
                         + _paragraph(
                             "Warm users start each session with their past consumption as "
                             "its history; cold users with their profile text only. Cold "
                             "items show the platform no popularity and no appeal, only "
                             "their text; training never met a cold user or item "
                             "(`envs/cold_start.py`).")
                         + _chart(cold_start_chart(policies, per_metric), "cold-start-chart")))
    ranking = data.get("ranking")
    if isinstance(ranking, dict) and ranking and all(
            m in available for m in ("engagement_per_session", "ctr")):
        table = _attempt(lambda: ranking_table(policies, ranking))
        if table:
            sections.append(("offline-ranking", "Offline ranking on held-out MovieLens-100k "
                             f"ratings (k = {RANKING_K})", _table(table) + _paragraph(
                                 "Each user's unrated-in-training movies ranked, the "
                                 "held-out ratings of the env's split relevant; the "
                                 "simulator the policies trained in was built from the "
                                 "other ratings only, and so is everything a baseline "
                                 "uses. Learned rows: means over runs. Simulated columns: "
                                 "means over runs of the absolute-metric episodes above. "
                                 "Protocol: `marlrec/evaluation/ranking.py`.")))
    if any(p.learned and p.curve for p in policies):
        baselines = {name: e["IQM"] for name, e in (estimates or {}).items()
                     if name in names and not _policy(policies, name).learned}
        curves = learning_curves_chart(policies, baselines, metric, colours, reps)
        sections.append(("training", f"Evaluations during training ({metric}: mean over "
                         "runs (each run))", _table(curve_table(policies))
                         + (_chart(curves, "learning-curves-chart") if curves else "")))
    profiles = performance_profile_chart(scores, metric, colours, reps)
    if profiles is not None:
        sections.append(("performance-profiles", "Performance profiles",
                         _chart(profiles, "performance-profile-chart")))

    head = [f"<h1>{html.escape(title)}: learned policies against baselines</h1>"]
    if isinstance(data.get("provenance"), dict):
        head.append(_paragraph(provenance_line(
            {k: str(data["provenance"].get(k, "not recorded"))
             for k in ("training_command", "training_commit", "report_commit")}),
            "provenance"))
    confirmation = data.get("confirmation")
    if isinstance(confirmation, dict) and confirmation.get("hypothesis"):
        head.append(_paragraph(
            "**Confirmatory run.** Hypothesis, stated in the spec before it ran: "
            f"{str(confirmation['hypothesis']).strip()} Selection run: "
            f"`{confirmation.get('selection', 'not recorded')}`; no training seed or "
            "evaluation episode of it is used here (checked when the spec was validated).",
            "confirmation"))
    head.append(_paragraph(_protocol(data, metric, max(runs), episodes, reps)))
    toc = "".join(f'<li><a href="#{sid}">{html.escape(heading)}</a></li>'
                  for sid, heading, _ in sections)
    body = "\n".join(f'<section id="{sid}">\n<h2>{html.escape(heading)}</h2>\n{content}\n'
                     "</section>" for sid, heading, content in sections)
    footer = _paragraph("Raw scores: `scores.json`; marl-eval layout: `marl_eval.json`; "
                        "the same report as markdown: `report.md`. Metric definitions: "
                        "`envs/metrics.py`.")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}: marlrec report</title>
<style>{_STYLE}</style>
<script>{get_plotlyjs()}</script>
</head>
<body>
<main>
{''.join(head)}
<nav><ul>{toc}</ul></nav>
{body}
{footer}
</main>
</body>
</html>
"""


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1a1a2e; background: #fff; line-height: 1.45; }
main { max-width: 1150px; margin: 0 auto; padding: 1.5rem 2rem 3rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem;
     border-bottom: 1px solid #dde; padding-bottom: .2rem; }
code { background: #f3f3f7; padding: 0 .25em; border-radius: 3px; font-size: .92em; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .88rem; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #d8d8e0; padding: .25rem .55rem; text-align: left;
         white-space: nowrap; }
th { background: #f0f1f6; } tr:nth-child(even) td { background: #fafafc; }
td.num, th.num { text-align: right; }
nav ul { columns: 2; font-size: .9rem; } .chart { margin: 1rem 0; }
p.provenance, p.confirmation { background: #f6f7fb; padding: .5rem .8rem;
                               border-left: 3px solid #99a; }
"""


def _protocol(data: dict[str, Any], metric: str, runs: int, episodes: int, reps: int) -> str:
    during = ""
    if data.get("evaluation_episodes") is not None:
        during = (f": {data['evaluation_episodes']} episodes each, on fixed seeds from "
                  f"{data.get('evaluation_seed')}")
    seeds = f" (training seeds {data['seeds']})" if data.get("seeds") is not None else ""
    return " ".join([
        f"**Protocol.** {runs} runs per policy{seeds}. Each run's best modules (highest",
        f"`{metric}` over the evaluations during training{during}) are re-evaluated on",
        f"{episodes} episodes (the absolute metric of Gorsane et al. 2022); baseline run `r`",
        "plays the same episodes as learned run `r`. A run's score is its mean over those",
        "episodes. Aggregates across runs follow rliable (Agarwal et al. 2021):",
        "interquartile mean, mean and median with stratified bootstrap 95% CIs",
        f"({reps} resamples where computed here); P(X > Y) is the probability that a run of",
        f"X scores better than a run of Y ({metric_label(metric)}:",
        f"{'higher' if higher_is_better(metric) else 'lower'} is better). Baselines script",
        "the learned roles (`greedy_by_quality` is an oracle: it reads hidden quality).",
        "Hover a chart for values and CIs; click a legend entry to hide or show it."])


def higher_is_better(metric: str) -> bool:
    """The direction of ``metric`` in the registry; an unregistered one (an older file)
    reads as higher-is-better, as in ``report.md``."""
    return EPISODE_METRICS[metric].higher_is_better if metric in EPISODE_METRICS else True


def _axis_title(metric: str) -> str:
    direction = "higher" if higher_is_better(metric) else "lower"
    return f"{metric_label(metric)} ({direction} is better)"


def _metrics_of(policies: list[PolicyRuns]) -> set[str]:
    """The metrics every episode of every policy has."""
    keys: set[str] | None = None
    for p in policies:
        for run in p.episodes:
            for e in run:
                keys = set(e) if keys is None else keys & e.keys()
    return keys or set()


def metric_estimates_of(policies: list[PolicyRuns], metric: str, reps: int,
                        saved: Estimates | None = None) -> Estimates:
    """:func:`marlrec.report.experiment_report.metric_estimates` of ``metric`` (``{}``
    where the runs refuse it); ``saved``, the headline metric's estimates that
    ``scores.json`` holds, where every policy has a value in every run (the same seeded
    bootstrap of the same scores: the same numbers)."""
    names = [p.policy for p in policies]
    if saved and all(n in saved for n in names) and all(
            np.all(np.isfinite(p.run_scores(metric))) for p in policies):
        return {n: saved[n] for n in names}
    return _attempt(lambda: metric_estimates(policies, metric, reps)) or {}


def means_table(policies: list[PolicyRuns], per_metric: dict[str, Estimates],
                metrics: tuple[str, ...]) -> str:
    """``report.md``'s table of means over runs [95% CI]
    (:func:`marlrec.report.experiment_report.metrics_table`), from estimates computed
    once: one row per policy, "—" where a policy has no value."""
    rows = ["| policy | " + " | ".join(map(_column, metrics)) + " |",
            "|---" * (len(metrics) + 1) + "|"]
    for p in policies:
        cells = []
        for m in metrics:
            e = per_metric.get(m, {}).get(p.policy)
            cells.append("—" if e is None else
                         f"{e['Mean'].point:.3g} [{e['Mean'].low:.3g}, {e['Mean'].high:.3g}]")
        rows.append(f"| {p.policy} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _column(metric: str) -> str:
    """A column's header: the metric's label, and its direction when lower is better."""
    return metric_label(metric) + ("" if higher_is_better(metric) else " (lower is better)")


def _policy(policies: list[PolicyRuns], name: str) -> PolicyRuns:
    return next(p for p in policies if p.policy == name)


def _attempt(compute: Callable[[], Any]) -> Any:
    """``compute()``, or ``None`` where the data refuses it (unequal runs, NaN, missing
    keys of an older file): its section is left out."""
    try:
        return compute()
    except (ValueError, KeyError, TypeError, IndexError, ZeroDivisionError):
        return None


# ----------------------------------------------------------------------------- text


def _inline(text: str) -> str:
    """Markdown's inline code and bold, the rest escaped."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def _paragraph(text: str, css: str = "") -> str:
    attribute = f' class="{css}"' if css else ""
    return f"<p{attribute}>{_inline(text)}</p>\n"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().removeprefix("|").removesuffix("|").split("|")]


def _table(markdown: str) -> str:
    """A markdown pipe table (what the report's table functions return) as an HTML
    table; any other text as a paragraph."""
    lines = [line for line in markdown.strip().splitlines() if line.strip()]
    if len(lines) < 2 or not set(lines[1]) <= set("|-: "):
        return _paragraph(markdown.strip())
    header, rules, rows = _cells(lines[0]), _cells(lines[1]), [_cells(r) for r in lines[2:]]
    numeric = [rule.endswith(":") for rule in rules]

    def row(cells: list[str], tag: str) -> str:
        return "<tr>" + "".join(
            f'<{tag}{" class=num" if i < len(numeric) and numeric[i] else ""}>'
            f"{_inline(c)}</{tag}>" for i, c in enumerate(cells)) + "</tr>"

    return ("<table>\n<thead>" + row(header, "th") + "</thead>\n<tbody>\n"
            + "\n".join(row(r, "td") for r in rows) + "\n</tbody>\n</table>\n")


def _chart(figure: Any, div_id: str) -> str:
    if figure is None:
        return ""
    figure.update_layout(template="plotly_white", font={"size": 12},
                         hoverlabel={"align": "left"}, margin={"t": 60})
    return ('<div class="chart">' + figure.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG)
        + "</div>\n")


# ----------------------------------------------------------------------------- charts


def _error(e: aggregate.Estimate) -> dict[str, Any]:
    """An error bar from ``e.low`` to ``e.high`` around ``e.point``."""
    return {"type": "data", "symmetric": False, "array": [max(e.high - e.point, 0.0)],
            "arrayminus": [max(e.point - e.low, 0.0)], "thickness": 1.5, "width": 6}


def absolute_chart(estimates: Estimates, metric: str, colours: dict[str, str]) -> Any:
    """IQM, mean and median of every policy, each with its 95% CI."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    kinds = ("IQM", "Mean", "Median")
    names = list(estimates)
    figure = make_subplots(rows=1, cols=3, shared_yaxes=True, subplot_titles=kinds,
                           horizontal_spacing=0.04)
    for col, kind in enumerate(kinds, start=1):
        for name in names:
            e = estimates[name][kind]
            figure.add_trace(go.Scatter(
                x=[e.point], y=[name], mode="markers", name=name, legendgroup=name,
                showlegend=col == 1, marker={"size": 11, "color": colours.get(name)},
                error_x=_error(e) | {"color": colours.get(name)},
                customdata=[[e.low, e.high]],
                hovertemplate=f"<b>%{{y}}</b><br>{kind}: %{{x:.3g}}<br>{_CI}<extra></extra>"),
                row=1, col=col)
        figure.update_xaxes(title_text=metric_label(metric), row=1, col=col)
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_layout(title=f"Absolute metric ({_axis_title(metric)}): point estimate "
                         "and stratified bootstrap 95% CI",
                         height=140 + 45 * len(names), legend={"title": "policy"})
    return figure


def poi_chart(poi: dict[tuple[str, str], aggregate.Estimate], names: list[str],
              higher: bool) -> Any:
    """P(row better than column) of every ordered pair, with its 95% CI."""
    import plotly.graph_objects as go

    relation = ">" if higher else "<"
    z: list[list[float | None]] = []
    custom: list[list[list[float | None]]] = []
    text: list[list[str]] = []
    for x in names:
        z.append([None if x == y else poi[(x, y)].point for y in names])
        custom.append([[None, None] if x == y else [poi[(x, y)].low, poi[(x, y)].high]
                       for y in names])
        text.append(["—" if x == y else f"{poi[(x, y)].point:.2f}" for y in names])
    figure = go.Figure(go.Heatmap(
        z=z, x=names, y=names, zmin=0, zmax=1, colorscale="RdBu", customdata=custom,
        text=text, texttemplate="%{text}", colorbar={"title": "P"}, xgap=2, ygap=2,
        hovertemplate=(f"P(<b>%{{y}}</b> {relation} <b>%{{x}}</b>) = %{{z:.2f}}<br>"
                       "95% CI [%{customdata[0]:.2f}, %{customdata[1]:.2f}]<extra></extra>")))
    title = "P(row > column)" if higher else "P(row < column), lower is better"
    figure.update_yaxes(autorange="reversed", title_text="row")
    figure.update_xaxes(title_text="column", side="bottom")
    figure.update_layout(title=title, height=220 + 55 * len(names),
                         width=max(480, 260 + 110 * len(names)))
    return figure


def tradeoff_chart(policies: list[PolicyRuns], per_metric: dict[str, Estimates],
                   colours: dict[str, str]) -> Any:
    """Engagement per session against provider exposure Gini: every run, and each
    policy's mean over runs with its 95% CIs."""
    import plotly.graph_objects as go

    gini_key, engagement_key = "provider_exposure_gini", "engagement_per_session"
    figure = go.Figure()
    for p in policies:
        x, y = p.run_scores(gini_key), p.run_scores(engagement_key)
        colour = colours.get(p.policy)
        figure.add_trace(go.Scatter(
            x=x, y=y, mode="markers", name=p.policy, legendgroup=p.policy, showlegend=False,
            marker={"size": 8, "color": colour, "opacity": 0.45},
            customdata=np.arange(len(x))[:, None],
            hovertemplate=("<b>%{fullData.name}</b>, run %{customdata[0]}<br>"
                           "exposure Gini %{x:.3g}<br>engagement /session %{y:.3g}"
                           "<extra></extra>")))
        gini = per_metric.get(gini_key, {}).get(p.policy)
        engagement = per_metric.get(engagement_key, {}).get(p.policy)
        if gini is None or engagement is None:
            continue
        g, e = gini["Mean"], engagement["Mean"]
        figure.add_trace(go.Scatter(
            x=[g.point], y=[e.point], mode="markers", name=p.policy, legendgroup=p.policy,
            marker={"size": 14, "color": colour, "symbol": "circle" if p.learned else "square",
                    "line": {"width": 1.5, "color": "black"}},
            error_x=_error(g) | {"color": colour}, error_y=_error(e) | {"color": colour},
            customdata=[[g.low, g.high, e.low, e.high]],
            hovertemplate=("<b>%{fullData.name}</b>: mean over runs<br>exposure Gini "
                           "%{x:.3g} [%{customdata[0]:.3g}, %{customdata[1]:.3g}]<br>"
                           "engagement /session %{y:.3g} [%{customdata[2]:.3g}, "
                           "%{customdata[3]:.3g}] (95% CIs)<extra></extra>")))
    if gini_key in per_metric and engagement_key in per_metric:
        front = sorted((per_metric[gini_key][n]["Mean"].point,
                        per_metric[engagement_key][n]["Mean"].point)
                       for n in non_dominated(per_metric))
        if len(front) > 1:
            figure.add_trace(go.Scatter(
                x=[g for g, _ in front], y=[e for _, e in front], mode="lines",
                name="Pareto front", line={"dash": "dash", "color": "black", "width": 1},
                hoverinfo="skip"))
    figure.update_xaxes(title_text="provider exposure Gini (lower is fairer)")
    figure.update_yaxes(title_text="engagement per session")
    figure.update_layout(title="Users' engagement against providers' exposure (runs, and "
                         "their mean with 95% CIs)", height=480, legend={"title": "policy"})
    return figure


def cold_start_chart(policies: list[PolicyRuns], cold: dict[str, Estimates]) -> Any:
    """Warm against cold: engagement per session by kind of user, clicks per impression
    by kind of item; bars are means over runs, whiskers their 95% CIs."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = (("engagement per session", "engagement_per_session_{}_users", "users"),
              ("clicks per impression", "item_ctr_{}", "items"))
    figure = make_subplots(rows=1, cols=2, subplot_titles=[p[0] for p in panels],
                           shared_yaxes=True, horizontal_spacing=0.06)
    for col, (label, key, who) in enumerate(panels, start=1):
        for kind, colour in (("warm", "#ff7f0e"), ("cold", "#1f77b4")):
            by_policy = cold.get(key.format(kind), {})
            shown = [p.policy for p in policies if p.policy in by_policy]
            means = [by_policy[n]["Mean"] for n in shown]
            figure.add_trace(go.Bar(
                x=[e.point for e in means], y=shown, orientation="h", name=f"{kind} {who}",
                marker_color=colour, legendgroup=f"{kind} {who}",
                error_x={"type": "data", "symmetric": False,
                         "array": [max(e.high - e.point, 0) for e in means],
                         "arrayminus": [max(e.point - e.low, 0) for e in means]},
                customdata=[[e.low, e.high] for e in means],
                hovertemplate=(f"<b>%{{y}}</b>, {kind} {who}<br>{label}: %{{x:.3g}}<br>"
                               f"{_CI}<extra></extra>")), row=1, col=col)
        figure.update_xaxes(title_text=label, row=1, col=col)
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_layout(barmode="group", height=200 + 60 * len(policies),
                         title="Cold start: known (warm) against new (cold) users and items "
                         "(means over runs, 95% CIs)")
    return figure


def learning_curves_chart(policies: list[PolicyRuns], baselines: dict[str, aggregate.Estimate],
                          metric: str, colours: dict[str, str], reps: int) -> Any:
    """Each learned policy's IQM across runs at each evaluation point with its 95% CI
    band; each baseline's absolute-metric IQM as a line."""
    import plotly.graph_objects as go

    figure = go.Figure()
    drawn = False
    for p in (p for p in policies if p.learned and p.curve):
        points = []
        for steps, values in p.curve:
            finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
            if finite.size == 0:
                continue
            e = aggregate.interval_estimates({"p": finite}, reps=reps)["p"]["IQM"]
            points.append((steps, e, ", ".join(f"{v:.3g}" for v in values)))
        if not points:
            continue
        drawn = True
        x = [s for s, _, _ in points]
        colour = colours.get(p.policy, "#444")
        figure.add_trace(go.Scatter(
            x=x + x[::-1], y=[e.high for _, e, _ in points] + [e.low for _, e, _ in points][::-1],
            mode="lines", fill="toself", fillcolor=_transparent(colour), line={"width": 0},
            name=p.policy, legendgroup=p.policy, showlegend=False, hoverinfo="skip"))
        figure.add_trace(go.Scatter(
            x=x, y=[e.point for _, e, _ in points], mode="lines+markers", name=p.policy,
            legendgroup=p.policy, line={"color": colour}, marker={"size": 7},
            customdata=[[e.low, e.high, runs] for _, e, runs in points],
            hovertemplate=("<b>%{fullData.name}</b> at %{x:,.0f} env steps<br>IQM %{y:.3g}"
                           f"<br>{_CI}<br>runs: %{{customdata[2]}}<extra></extra>")))
    if not drawn:
        return None
    dashes = ("dash", "dot", "dashdot", "longdash", "longdashdot")
    steps = [s for p in policies if p.learned for s, _ in p.curve]
    span = [min(steps), max(steps)]
    for i, (name, e) in enumerate(baselines.items()):
        figure.add_trace(go.Scatter(
            x=span, y=[e.point, e.point], mode="lines", name=f"{name} (absolute)",
            legendgroup=name, line={"color": colours.get(name, "grey"),
                                    "dash": dashes[i % len(dashes)], "width": 1.5},
            customdata=[[e.low, e.high]] * 2,
            hovertemplate=("<b>%{fullData.name}</b>: IQM %{y:.3g}<br>" + _CI
                           + "<extra></extra>")))
    figure.update_xaxes(title_text="env steps sampled")
    figure.update_yaxes(title_text=_axis_title(metric))
    figure.update_layout(title="Evaluation during training: IQM across runs, 95% CI",
                         height=460, hovermode="closest", legend={"title": "policy"})
    return figure


def performance_profile_chart(scores: dict[str, np.ndarray], metric: str,
                              colours: dict[str, str], reps: int) -> Any:
    """The fraction of runs scoring above each threshold, with its 95% CI band (as
    ``performance_profile.png``); ``None`` where the runs cannot be aggregated."""
    import plotly.graph_objects as go

    if not scores or any(not np.all(np.isfinite(v)) or v.size == 0 for v in scores.values()):
        return None
    values = np.concatenate(list(scores.values()))
    taus = np.linspace(values.min() - 1e-9, values.max(), 50)
    profiles = _attempt(lambda: aggregate.performance_profiles(scores, taus, reps=reps))
    if profiles is None:
        return None
    figure = go.Figure()
    x = list(map(float, taus))
    for name, p in profiles.items():
        colour = colours.get(name, "#444")
        figure.add_trace(go.Scatter(
            x=x + x[::-1], y=list(map(float, p["high"])) + list(map(float, p["low"]))[::-1],
            mode="lines", fill="toself", fillcolor=_transparent(colour, 0.12),
            line={"width": 0},
            name=name, legendgroup=name, showlegend=False, hoverinfo="skip"))
        figure.add_trace(go.Scatter(
            x=x, y=list(map(float, p["profile"])), mode="lines", name=name, legendgroup=name,
            line={"color": colour},
            customdata=np.stack([p["low"], p["high"]], axis=1).astype(float),
            hovertemplate=("<b>%{fullData.name}</b>: %{y:.2f} of runs > %{x:.3g}<br>"
                           "95% CI [%{customdata[0]:.2f}, %{customdata[1]:.2f}]"
                           "<extra></extra>")))
    figure.update_xaxes(title_text=f"{metric_label(metric)} threshold tau")
    figure.update_yaxes(title_text="fraction of runs > tau", range=[-0.02, 1.02])
    figure.update_layout(title="Performance profiles (95% CI)", height=440,
                         legend={"title": "policy"})
    return figure


def _transparent(colour: str, alpha: float = 0.2) -> str:
    """``#rrggbb`` as ``rgba(r, g, b, alpha)``."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def chart_ids(page: str) -> list[str]:
    """The ids of the charts a page has, in order."""
    return [i for i in CHART_IDS if f'id="{i}"' in page]


def _iter_sources(page: str) -> Iterator[str]:
    """Every ``src``/``href`` of the page's elements (not the text of its scripts)."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Sources(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(v for k, v in attrs if k in ("src", "href", "srcset", "data")
                         and v is not None)

    Sources().feed(page)
    yield from found


def external_references(page: str) -> list[str]:
    """The ``src``/``href`` values of the page that point outside it (anything but a
    ``#fragment`` or a ``data:`` URI)."""
    return [v for v in _iter_sources(page) if not (v.startswith("#") or v.startswith("data:"))]


# ----------------------------------------------------------------------------- command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m marlrec.report.html_report",
        description="Writes report.html (one self-contained page, interactive charts) from "
                    "a report folder's scores.json.")
    parser.add_argument("report_folder", type=Path,
                        help="the folder with scores.json (RESULTS_DIR/report), or RESULTS_DIR")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="where to write the page (default: REPORT_FOLDER/report.html)")
    parser.add_argument("--reps", type=int, default=BOOTSTRAP_REPS,
                        help="bootstrap resamples of the CIs computed from the runs "
                             f"(default {BOOTSTRAP_REPS}, as report.md)")
    args = parser.parse_args(argv)
    folder = args.report_folder
    if not (folder / "scores.json").is_file() and (folder / "report" / "scores.json").is_file():
        folder = folder / "report"
    if not (folder / "scores.json").is_file():
        parser.error(f"{args.report_folder}: no scores.json (pass the folder that "
                     "`marlrec report` wrote: RESULTS_DIR/report)")
    try:
        path = write_html_report(folder, args.output, reps=args.reps)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        print(f"{folder / 'scores.json'}: not a report's scores.json ({error!r})",
              file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
