"""Shipped result figures in markdown docs, generated from committed ``scores.json`` files.

A number in ``README.md`` or ``docs/`` that comes from a run sits in a marked region (an HTML
comment, invisible once rendered) that names the ``scores.json`` it comes from (written by
``marlrec report``; paths relative to ``docs/results/``). :func:`render` regenerates every
region, :func:`check` lists the regions whose text differs from what the committed files give:

- a table, policies as rows::

    <!-- results-table: quickstart/scores.json
         metrics=engagement_per_session,ctr,user_utility,provider_exposure_gini -->

    | policy | engagement /session, IQM [95% CI] | CTR, mean | ... |
    ...

    <!-- /results-table -->

  ``metrics=`` names the columns, each ``METRIC`` or ``METRIC:STAT``, STAT one of ``IQM``,
  ``Mean``, ``Median``, ``mean``, ``runs`` (as below) or ``P>POLICY`` (P(row > POLICY));
  by default ``IQM`` for the experiment's headline metric, ``mean`` for the others;
  ``policies="NAME[=LABEL],..."`` picks, orders and labels the rows (default: every policy of
  the file, in its order; labels cannot hold commas);

- a value in prose or in a hand-laid table cell (never at the start of a line, where markdown
  would read the line as raw HTML)::

    IQM <!-- value: quickstart/scores.json IQM "PPO per_role" -->78.1 [75.7, 79.8]<!-- /value -->

  ``value: FILE STAT ARGS... [key=value ...]``, quoted like a shell (:mod:`shlex`); METRIC is
  optional and defaults to the headline metric (``scores.json["metric"]``):

  ==============================  ===========================================================
  ``IQM|Mean|Median P [METRIC]``  the aggregate over runs with its stratified bootstrap 95% CI,
                                  ``78.1 [75.7, 79.8]`` (``part=point|low|high``: one number)
  ``mean|min|max P [METRIC]``     mean, lowest, highest of the runs' scores
  ``runs P [METRIC]``             each run's score, in seed order
  ``poi P Q [METRIC]``            P(a run of P scores above a run of Q) [95% CI]
  ``better P Q [METRIC]``         P(a run of P scores better than a run of Q) [95% CI]: ``poi``
                                  where the metric is higher-is-better, P(P below Q) where it
                                  is lower-is-better (:data:`envs.metrics.METRICS`)
  ``wins P Q [METRIC]``           in how many paired runs (same seed) P scores above Q, ``4 of 5``
  ``diff P Q [METRIC]``           P's mean minus Q's mean, signed
  ``ratio P Q [METRIC]``          P's mean over Q's mean
  ``curve P STEPS``               P's in-training evaluation at STEPS env steps, mean over runs
  ``best P``                      each run's best in-training evaluation (the checkpoint kept)
  ``ranking P KEY``               P's offline ranking figure (``ndcg``, ``precision``, ...)
  ``provenance``                  the training command and commit and the report's commit
  ``json KEY...``                 any other value of the file (``json episodes_per_run``)
  ==============================  ===========================================================

  ``vs=FILE`` takes Q (``poi``, ``better``, ``wins``, ``diff``, ``ratio``) from another
  ``scores.json``; ``fmt=SPEC`` is a Python format spec (``fmt=.0%``); the default is 3
  significant digits (trailing zeros kept), ``.2f`` for ``poi``, ``better`` and ``ratio``,
  ``.3f`` for ``ranking``.

Column labels are the metrics' own (:attr:`envs.metrics.Metric.label`; an unregistered key
reads as its words). ``poi``, ``P>POLICY`` and ``wins`` compare numbers (above), whatever the
metric's direction; ``better`` reads the direction.

Every statistic is the report's own (:mod:`marlrec.report.experiment_report`, the file read back by
:func:`marlrec.report.experiment_report.load_scores`): a run's score is its mean over its
absolute-metric
episodes (:meth:`marlrec.report.experiment_report.PolicyRuns.run_scores`); the headline metric's
IQM, mean and
median are ``scores.json["absolute"]``, another metric's :func:`marlrec.report.experiment_report.
metric_estimates` (the report's "every headline metric" table); P(P > Q) on the headline
metric is the report's matrix over all the file's policies,
``scores.json["probability_of_improvement"]``, on another metric or across files the pair's
own (:func:`marlrec.evaluation.aggregate.probability_of_improvement`; ``part=point`` skips the
bootstrap). Where an older file lacks ``absolute`` or ``probability_of_improvement``, it is
recomputed as the report computes it. Bootstraps
(:data:`marlrec.report.experiment_report.BOOTSTRAP_REPS`
resamples) are seeded, so a region renders the same text from the same file. Markers inside
fenced code blocks are left alone.

    python -m marlrec.report.results_tables [--check] [--results-root DIR] FILE...

rewrites each FILE with its regions regenerated (atomically, only when something changed), or
with ``--check`` prints every region that disagrees (file, line, expected, found) and exits 1.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from envs.metrics import METRICS
from envs.metrics import label as metric_label
from marlrec.evaluation import aggregate
from marlrec.report.experiment_report import (
    BOOTSTRAP_REPS,
    PolicyRuns,
    SavedScores,
    load_scores,
    metric_estimates,
    provenance_line,
)

RESULTS_ROOT = Path(__file__).resolve().parents[2] / "docs" / "results"
ESTIMATES = ("IQM", "Mean", "Median")


class ResultsTableError(ValueError):
    """A marked region that cannot be rendered: a malformed marker, a missing ``scores.json``,
    an unknown policy, metric or key. The message names the doc, line, file and key."""


# ----------------------------------------------------------------------------- markers


_MARKER = re.compile(r"<!--\s*(?:(?P<close>/)(?P<closes>results-table|value)\s*"
                     r"|(?P<kind>results-table|value)\s*:(?P<args>.*?))-->", re.DOTALL)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Region:
    """One marked region: ``text[start:end]`` is its generated part, between the markers."""

    kind: str  # "results-table" or "value"
    args: str  # what the opening marker says after the colon
    line: int  # the opening marker's, 1-based
    start: int
    end: int

    def describe(self) -> str:
        return f"<!-- {self.kind}: {' '.join(self.args.split())} -->"


def find_regions(text: str, source: str = "<text>") -> list[Region]:
    """Every marked region of ``text`` in order (markers inside fenced code blocks are text);
    a marker without its partner, a region inside another, a table marker not on a line of
    its own or a value marker that begins a line is an error naming ``source`` and the line."""
    fences = [m.span() for m in _FENCE.finditer(text)]
    markers = [m for m in _MARKER.finditer(text)
               if not any(a <= m.start() < b for a, b in fences)]
    regions = []
    for opening, closing in zip(markers[::2], [*markers[1::2], None], strict=False):
        line = text.count("\n", 0, opening.start()) + 1
        where = f"{source}:{line}"
        if opening["close"]:
            raise ResultsTableError(f"{where}: {opening[0]!r} closes no region")
        if closing is None or closing["closes"] != opening["kind"]:
            raise ResultsTableError(f"{where}: <!-- {opening['kind']}: ... --> needs its "
                                    f"<!-- /{opening['kind']} --> before any other marker")
        _check_placement(text, opening, closing, where)
        regions.append(Region(opening["kind"], opening["args"].strip(), line, opening.end(),
                              closing.start()))
    return regions


def _check_placement(text: str, opening: re.Match[str], closing: re.Match[str],
                     where: str) -> None:
    line_start = text.rfind("\n", 0, opening.start()) + 1
    begins_line = not text[line_start:opening.start()].strip()
    if opening["kind"] == "results-table":
        ends_line = text[closing.end():].split("\n", 1)[0].strip() == ""
        if not begins_line or not ends_line:
            raise ResultsTableError(f"{where}: a results-table region starts and ends on lines "
                                    "of its own")
    elif begins_line:
        raise ResultsTableError(f"{where}: a value marker must not begin a line (markdown "
                                "would read the whole line as raw HTML); put a word before it")
    elif "\n" in text[opening.end():closing.start()]:
        raise ResultsTableError(f"{where}: a value region's text stays on one line")


# ----------------------------------------------------------------------------- scores


class Scores:
    """One ``scores.json`` of ``marlrec report`` (``name``: its path under the results root),
    read back by :func:`marlrec.report.experiment_report.load_scores`, and the report's statistics
    on it."""

    def __init__(self, name: str, saved: SavedScores) -> None:
        self.name, self.saved, self.data = name, saved, saved.data
        self.metric = saved.metric
        self.policies = {p.policy: p for p in saved.policies}
        self._estimates: dict[str, dict[str, dict[str, aggregate.Estimate]]] = {}

    def fail(self, problem: str) -> ResultsTableError:
        return ResultsTableError(f"{self.name}: {problem}")

    def runs(self, policy: str) -> PolicyRuns:
        if policy not in self.policies:
            raise self.fail(f"no policy {policy!r}; it has {list(self.policies)}")
        return self.policies[policy]

    def run_scores(self, policy: str, metric: str | None = None) -> np.ndarray:
        """Each run's mean of ``metric`` (default: the headline metric) over its episodes."""
        metric = metric or self.metric
        episode = self.runs(policy).episodes[0][0]
        if metric not in episode:
            raise self.fail(f"no metric {metric!r} in {policy!r}'s episodes; they have "
                            f"{sorted(episode)}")
        return self.runs(policy).run_scores(metric)

    def estimate(self, policy: str, metric: str | None, kind: str) -> aggregate.Estimate:
        """IQM, mean or median over runs with its 95% CI: the report's own."""
        metric = metric or self.metric
        self.run_scores(policy, metric)  # names an unknown policy or metric
        if metric not in self._estimates:
            self._estimates[metric] = self._aggregate(metric)
        if policy not in self._estimates[metric]:
            raise self.fail(f"{policy!r} has no value of {metric!r} in any run")
        return self._estimates[metric][policy][kind]

    def _aggregate(self, metric: str) -> dict[str, dict[str, aggregate.Estimate]]:
        """The report's aggregates of ``metric`` by policy: ``scores.json["absolute"]`` for
        the headline metric, else (another metric, or an older file without it)
        :func:`marlrec.report.experiment_report.metric_estimates`."""
        if metric == self.metric and self.saved.absolute is not None:
            return self.saved.absolute
        return metric_estimates(list(self.policies.values()), metric, BOOTSTRAP_REPS)

    @cached_property
    def improvement(self) -> dict[tuple[str, str], aggregate.Estimate]:
        """The report's probability-of-improvement matrix (headline metric, every policy):
        ``scores.json["probability_of_improvement"]``, recomputed for an older file."""
        if self.saved.improvement is not None:
            return self.saved.improvement
        return aggregate.probability_of_improvement(
            {policy: self.run_scores(policy) for policy in self.policies}, reps=BOOTSTRAP_REPS)

    def curve(self, policy: str) -> dict[int, list[float]]:
        """The in-training evaluations of the headline metric: each run's value by env
        steps."""
        curve = self.runs(policy).curve
        if not curve:
            raise self.fail(f"{policy!r} has no evaluations during training (a baseline?)")
        return {int(steps): values for steps, values in curve}

    def curve_mean(self, policy: str, steps: str) -> float:
        points = self.curve(policy)
        if not steps.isdigit() or int(steps) not in points:
            raise self.fail(f"{policy!r} has no evaluation during training at {steps} env "
                            f"steps; it has {sorted(points)}")
        return float(np.mean(points[int(steps)]))

    def ranking(self, policy: str, key: str) -> float:
        ranking = self.data.get("ranking")
        if not ranking:
            raise self.fail("no offline ranking (scores.json[\"ranking\"] is empty)")
        if policy not in ranking or key not in ranking[policy]:
            have = sorted(ranking.get(policy, ranking))
            raise self.fail(f"no ranking[{policy!r}][{key!r}]; there: {have}")
        return float(ranking[policy][key])

    def provenance(self) -> str:
        if "provenance" not in self.data:
            return ("This `scores.json` predates provenance records: it names no training "
                    "command or commit.")
        return provenance_line(self.data["provenance"])

    def json(self, keys: list[str]) -> Any:
        value: Any = self.data
        for i, key in enumerate(keys):
            if isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            elif isinstance(value, dict) and key in value:
                value = value[key]
            else:
                raise self.fail(f"no key {'.'.join(keys[:i + 1])!r}")
        return value


class Library:
    """The ``scores.json`` files under ``root``, each read once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._files: dict[str, Scores] = {}

    def get(self, name: str) -> Scores:
        if name not in self._files:
            path = self.root / name
            if not path.is_file():
                raise ResultsTableError(f"{name}: no such file under {self.root}")
            try:
                data = json.loads(path.read_text())
                if isinstance(data, dict) and "policies" not in data and "metric" not in data:
                    # another JSON record (e.g. marlrec log's ope.json): its json keys only
                    saved = SavedScores("", [], None, None, data)
                else:
                    saved = load_scores(path)
                self._files[name] = Scores(name, saved)
            except (ValueError, KeyError, TypeError, IndexError) as error:
                raise ResultsTableError(f"{name}: not a scores.json of `marlrec report` "
                                        f"({type(error).__name__}: {error})") from None
        return self._files[name]


# ----------------------------------------------------------------------------- formatting


def significant(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits, trailing zeros kept (70.0, 0.190, 231, 1,234)."""
    if not np.isfinite(x):
        return "—"
    text = f"{x:#.{digits}g}"
    return f"{x:,.0f}" if "e+" in text else text.rstrip(".")


def _number(x: float, fmt: str | None) -> str:
    return significant(x) if fmt is None else format(x, fmt)


def _interval(e: aggregate.Estimate, fmt: str | None) -> str:
    return f"{_number(e.point, fmt)} [{_number(e.low, fmt)}, {_number(e.high, fmt)}]"


# ----------------------------------------------------------------------------- values


@dataclass
class Expression:
    """A parsed value marker (or table cell): the file, the statistic, its arguments."""

    scores: Scores
    stat: str
    args: list[str]
    options: dict[str, str]
    library: Library

    def arg(self, i: int, what: str) -> str:
        if i >= len(self.args):
            raise self.scores.fail(f"{self.stat} needs {what}")
        return self.args[i]

    def optional(self, i: int) -> str | None:
        return self.args[i] if i < len(self.args) else None

    def other(self) -> Scores:
        """Where the second policy lives: ``vs=FILE`` or the same file."""
        return self.library.get(self.options["vs"]) if "vs" in self.options else self.scores

    def part(self, e: aggregate.Estimate, fmt: str | None) -> str:
        part = self.options.get("part", "ci")
        if part == "ci":
            return _interval(e, fmt)
        if part not in ("point", "low", "high"):
            raise self.scores.fail(f"part={part}: one of ci, point, low, high")
        return _number(getattr(e, part), fmt)


def _estimate(x: Expression) -> str:
    e = x.scores.estimate(x.arg(0, "a policy"), x.optional(1), x.stat)
    return x.part(e, x.options.get("fmt"))


def _over_runs(reduce: Callable[[np.ndarray], float]) -> Callable[[Expression], str]:
    def value(x: Expression) -> str:
        scores = x.scores.run_scores(x.arg(0, "a policy"), x.optional(1))
        if np.isnan(scores).all():
            metric = x.optional(1) or x.scores.metric
            raise x.scores.fail(f"{x.args[0]!r} has no value of {metric!r} in any run")
        return _number(reduce(scores[~np.isnan(scores)]), x.options.get("fmt"))
    return value


def _runs(x: Expression) -> str:
    scores = x.scores.run_scores(x.arg(0, "a policy"), x.optional(1))
    return ", ".join(_number(v, x.options.get("fmt")) for v in scores)


def _pair(x: Expression) -> tuple[np.ndarray, np.ndarray]:
    """The two policies' run scores: the second from ``vs=FILE`` when given."""
    metric = x.optional(2)
    return (x.scores.run_scores(x.arg(0, "two policies"), metric),
            x.other().run_scores(x.arg(1, "two policies"), metric))


def _poi(x: Expression, higher_is_better: bool = True) -> str:
    """P(P > Q) [95% CI] (P(P < Q) where not ``higher_is_better``). Where every run of one
    scores above every run of the other (P is 1 or 0), every bootstrap resample of those
    runs does too: the CI is the point, no bootstrap needed (nor for ``part=point``)."""
    a, b = _pair(x)
    sign = 1.0 if higher_is_better else -1.0
    point = float(aggregate.probability_of_improvement_of_runs(sign * a[:, None],
                                                              sign * b[:, None]))
    if x.options.get("part") == "point" or point in (0.0, 1.0):
        e = aggregate.Estimate(point, point, point)
    elif (higher_is_better and x.other() is x.scores
          and x.optional(2) in (None, x.scores.metric)):
        e = x.scores.improvement[(x.args[0], x.args[1])]
    else:
        e = aggregate.probability_of_improvement(
            {"x": a, "y": b}, reps=BOOTSTRAP_REPS, higher_is_better=higher_is_better)[
            ("x", "y")]
    return x.part(e, x.options.get("fmt", ".2f"))


def _better(x: Expression) -> str:
    """P(P better than Q) [95% CI], by the metric's direction (:data:`envs.metrics.METRICS`)."""
    metric = x.optional(2) or x.scores.metric
    if metric not in METRICS:
        raise x.scores.fail(f"better: {metric!r} is no registered metric (envs.metrics.METRICS), "
                            "so which way is better is unknown; poi compares numbers")
    return _poi(x, METRICS[metric].higher_is_better)


def _wins(x: Expression) -> str:
    a, b = _pair(x)
    if len(a) != len(b):
        raise x.scores.fail(f"{x.args[0]!r} and {x.args[1]!r} have {len(a)} and {len(b)} "
                            "runs: no pairs")
    return f"{int(np.sum(a > b))} of {len(a)}"


def _diff(x: Expression) -> str:
    a, b = _pair(x)
    difference = float(np.nanmean(a) - np.nanmean(b))
    fmt = x.options.get("fmt")
    return format(difference, fmt) if fmt else ("+" if difference >= 0 else "") + significant(
        difference)


def _ratio(x: Expression) -> str:
    a, b = _pair(x)
    return format(float(np.nanmean(a) / np.nanmean(b)), x.options.get("fmt", ".2f"))


def _curve(x: Expression) -> str:
    value = x.scores.curve_mean(x.arg(0, "a policy"), x.arg(1, "env steps"))
    return _number(value, x.options.get("fmt"))


def _best(x: Expression) -> str:
    best = np.max(list(x.scores.curve(x.arg(0, "a policy")).values()), axis=0)
    return ", ".join(_number(v, x.options.get("fmt")) for v in best)


def _ranking(x: Expression) -> str:
    value = x.scores.ranking(x.arg(0, "a policy"), x.arg(1, "a ranking key"))
    return format(value, x.options.get("fmt", ".3f"))


def _json(x: Expression) -> str:
    value = x.scores.json(x.args)
    return format(value, x.options["fmt"]) if "fmt" in x.options else str(value)


STATISTICS: dict[str, Callable[[Expression], str]] = {
    **dict.fromkeys(ESTIMATES, _estimate),
    "mean": _over_runs(np.mean), "min": _over_runs(np.min), "max": _over_runs(np.max),
    "runs": _runs, "poi": _poi, "better": _better, "wins": _wins, "diff": _diff,
    "ratio": _ratio,
    "curve": _curve, "best": _best, "ranking": _ranking,
    "provenance": lambda x: x.scores.provenance(), "json": _json,
}


VALUE_OPTIONS = ("part", "fmt", "vs")
TABLE_OPTIONS = ("metrics", "policies")


def parse(spec: str, library: Library, table: bool = False) -> Expression:
    """A value marker's ``FILE STAT ARGS... [key=value ...]``, or a table marker's ``FILE
    [key=value ...]`` (``table``), shell-quoted, into an :class:`Expression`."""
    try:
        words = shlex.split(spec)
    except ValueError as error:
        raise ResultsTableError(f"{spec!r}: {error}") from None
    options = dict(w.split("=", 1) for w in words if "=" in w)
    positional = [w for w in words if "=" not in w]
    if not positional:
        raise ResultsTableError(f"{spec!r}: names no scores.json")
    scores = library.get(positional[0])
    allowed = TABLE_OPTIONS if table else VALUE_OPTIONS
    if set(options) - set(allowed):
        raise scores.fail(f"unknown option(s) {sorted(set(options) - set(allowed))}; "
                          f"{'a table' if table else 'a value'} takes {', '.join(allowed)}")
    if table:
        if len(positional) > 1:
            raise scores.fail(f"a table takes only key=value options; got {positional[1:]}")
        return Expression(scores, "table", [], options, library)
    if len(positional) < 2 or positional[1] not in STATISTICS:
        got = positional[1] if len(positional) > 1 else "none"
        raise scores.fail(f"statistic {got!r}: one of {sorted(STATISTICS)}")
    return Expression(scores, positional[1], positional[2:], options, library)


def render_value(spec: str, library: Library) -> str:
    """The text of one value marker's region."""
    x = parse(spec, library)
    try:
        return STATISTICS[x.stat](x)
    except ResultsTableError:
        raise
    except (ValueError, TypeError) as error:  # e.g. a bad fmt=
        raise x.scores.fail(f"{spec!r}: {error}") from None


# ----------------------------------------------------------------------------- tables


def _label(metric: str) -> str:
    return metric_label(metric)


_HEADERS = {"IQM": "IQM [95% CI]", "Mean": "mean [95% CI]", "Median": "median [95% CI]",
            "mean": "mean", "runs": "each run"}


def _columns(scores: Scores, spec: str | None) -> list[tuple[str, str]]:
    """``(metric, stat)`` per column of ``metrics=METRIC[:STAT],...``."""
    columns = []
    for item in (spec or scores.metric).split(","):
        metric, _, stat = item.strip().partition(":")
        stat = stat or ("IQM" if metric == scores.metric else "mean")
        if stat not in _HEADERS and not stat.startswith("P>"):
            raise scores.fail(f"column {item!r}: the statistic is one of IQM, Mean, Median, "
                              "mean, runs, P>POLICY")
        columns.append((metric, stat))
    return columns


def _header(metric: str, stat: str) -> str:
    if stat.startswith("P>"):
        return f"P(policy > {stat[2:]}), {_label(metric)}"
    return f"{_label(metric)}, {_HEADERS[stat]}"


def _cell(scores: Scores, policy: str, metric: str, stat: str, library: Library) -> str:
    if stat.startswith("P>"):
        if stat[2:] == policy:
            return "—"
        args = [policy, stat[2:], metric]
        return _poi(Expression(scores, "poi", args, {}, library))
    if np.isnan(scores.run_scores(policy, metric)).all():  # e.g. no cold user in any run
        return "—"
    return STATISTICS[stat](Expression(scores, stat, [policy, metric], {}, library))


def render_table(spec: str, library: Library) -> str:
    """The markdown table of one results-table marker."""
    x = parse(spec, library, table=True)
    scores, options = x.scores, x.options
    columns = _columns(scores, options.get("metrics"))
    rows = [item.split("=", 1) if "=" in item else [item, item]
            for item in options.get("policies", ",".join(scores.policies)).split(",")]
    lines = ["| policy | " + " | ".join(_header(m, s) for m, s in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for policy, label in rows:
        cells = [_cell(scores, policy.strip(), m, s, library) for m, s in columns]
        lines.append(f"| {label.strip()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- documents


def _generated(region: Region, library: Library) -> str:
    if region.kind == "results-table":
        return "\n\n" + render_table(region.args, library) + "\n\n"
    return render_value(region.args, library)


def _regions_with_text(text: str, library: Library, source: str
                       ) -> Iterator[tuple[Region, str]]:
    """Each region of ``text`` with the text it should have; errors name ``source``:line."""
    for region in find_regions(text, source):
        try:
            yield region, _generated(region, library)
        except ResultsTableError as error:
            raise ResultsTableError(f"{source}:{region.line}: {region.describe()}: "
                                    f"{error}") from None


def render(text: str, results_root: Path = RESULTS_ROOT, source: str = "<text>") -> str:
    """``text`` with every marked region regenerated from the ``scores.json`` files under
    ``results_root``."""
    library = Library(results_root)
    out, done = [], 0
    for region, generated in _regions_with_text(text, library, source):
        out += [text[done:region.start], generated]
        done = region.end
    return "".join(out) + text[done:]


@dataclass(frozen=True)
class Disagreement:
    """A region whose text is not what its ``scores.json`` gives."""

    file: Path
    line: int
    marker: str
    expected: str
    found: str

    def __str__(self) -> str:
        head = f"{self.file}:{self.line}: {self.marker}"
        if "\n" not in self.expected + self.found:
            return f"{head}\n  expected: {self.expected}\n  found:    {self.found}"
        diff = difflib.unified_diff(self.found.strip().splitlines(),
                                    self.expected.strip().splitlines(), "found", "expected",
                                    lineterm="", n=0)
        return head + "".join(f"\n  {line}" for line in diff if not line.startswith("@@"))


def check(path: Path, results_root: Path = RESULTS_ROOT) -> list[Disagreement]:
    """The regions of the markdown file ``path`` that disagree with their ``scores.json``."""
    path = Path(path)
    text = path.read_text()
    return [Disagreement(path, region.line, region.describe(), generated,
                         text[region.start:region.end])
            for region, generated in _regions_with_text(text, Library(results_root), str(path))
            if text[region.start:region.end] != generated]


def refresh(path: Path, results_root: Path = RESULTS_ROOT) -> bool:
    """Regenerates the regions of ``path`` in place (atomically); whether it changed."""
    path = Path(path)
    text = path.read_text()
    new = render(text, results_root, str(path))
    if new == text:
        return False
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                     suffix=".tmp") as tmp:
        tmp.write(new)
    os.chmod(tmp.name, path.stat().st_mode)
    os.replace(tmp.name, path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m marlrec.report.results_tables",
        description="Regenerate (or --check) the result figures marked in markdown files "
                    "from the committed scores.json files.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; list each disagreeing region, exit 1 if any")
    parser.add_argument("--results-root", type=Path, default=RESULTS_ROOT,
                        help="where the markers' scores.json paths start (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            disagreements = [d for f in args.files for d in check(f, args.results_root)]
            for d in disagreements:
                print(d)
            return 1 if disagreements else 0
        for f in args.files:
            print(f"{f}: {'regenerated' if refresh(f, args.results_root) else 'unchanged'}")
    except (ResultsTableError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
