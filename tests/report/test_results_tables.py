"""Result figures in the docs are generated from committed ``scores.json`` files
(:mod:`marlrec.report.results_tables`): the mechanism on a tiny ``scores.json``, then the committed
docs against the committed files."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from marlrec.evaluation import aggregate
from marlrec.report import experiment_report as report
from marlrec.report.experiment_report import BOOTSTRAP_REPS, PolicyRuns, load_scores
from marlrec.report.results_tables import (
    Library,
    ResultsTableError,
    check,
    find_regions,
    main,
    render,
)

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "results"


def _episode(value: float, cold: float | None) -> dict[str, float | None]:
    return {"engagement_per_session": value, "ctr": value / 100,
            "engagement_per_session_cold_users": cold}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A results root with ``tiny/scores.json``: three policies, 3 runs of 2 episodes each
    (PPO's runs above random's, overlapping greedy's); the stored ``absolute`` estimates are
    arbitrary, so a table shows what the file says."""
    runs = {"PPO per_role": [[_episode(70, None), _episode(72, 60)],
                             [_episode(74, None), _episode(76, None)],
                             [_episode(71, 50), _episode(73, 52)]],
            "random": [[_episode(55, 40), _episode(56, None)],
                       [_episode(54, 41), _episode(57, 43)],
                       [_episode(55, 42), _episode(55, 44)]],
            "greedy": [[_episode(73, 60), _episode(74, 61)],
                       [_episode(70, 62), _episode(71, 63)],
                       [_episode(76, 64), _episode(77, 65)]]}
    stored = {"IQM": [73.0, 70.0, 77.0], "Mean": [73.5, 70.5, 76.5], "Median": [73.5, 70.5, 76.5]}
    data = {"provenance": {"training_command": "marlrec run tiny.yaml",
                           "training_commit": "abc1234", "report_commit": "def5678"},
            "metric": "engagement_per_session", "seeds": [0, 1, 2],
            "absolute_seeds": [1001000, 2001000, 3001000], "episodes_per_run": 2,
            "absolute": {"PPO per_role": {"IQM": [72.0, 70.0, 74.0], "Mean": [72.6, 71.0, 74.5],
                                          "Median": [72.5, 71.0, 74.0]},
                         "random": {"IQM": [55.5, 55.0, 56.0], "Mean": [55.3, 55.0, 55.9],
                                    "Median": [55.5, 55.0, 56.0]},
                         "greedy": stored},
            "policies": {"PPO per_role": {"learned": True, "runs": runs["PPO per_role"],
                                          "curve": [[1000.0, [60, 62, 64]],
                                                    [2000.0, [70, 71, 75]]]},
                         "random": {"learned": False, "runs": runs["random"], "curve": []},
                         "greedy": {"learned": False, "runs": runs["greedy"], "curve": []}},
            "ranking": {"PPO per_role": {"ndcg": 0.0512}, "random": {"ndcg": 0.0138}}}
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "scores.json").write_text(json.dumps(data))
    return tmp_path


DOC = """# Results

<!-- results-table: tiny/scores.json metrics=engagement_per_session,ctr
     policies="PPO per_role=PPO,random" -->
<!-- /results-table -->

PPO scores <!-- value: tiny/scores.json IQM "PPO per_role" --><!-- /value --> against
random's <!-- value: tiny/scores.json IQM random part=point --><!-- /value -->, runs
of PPO <!-- value: tiny/scores.json runs "PPO per_role" --><!-- /value -->; its curve ends
at <!-- value: tiny/scores.json curve "PPO per_role" 2000 --><!-- /value --> (best
runs <!-- value: tiny/scores.json best "PPO per_role" --><!-- /value -->), NDCG
of <!-- value: tiny/scores.json ranking "PPO per_role" ndcg --><!-- /value -->.
Provenance: <!-- value: tiny/scores.json provenance --><!-- /value -->
"""


def _doc(root: Path, text: str = DOC) -> Path:
    path = root / "doc.md"
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- mechanism


def test_render_writes_tables_and_values_from_the_scores_json(root: Path) -> None:
    out = render(DOC, root)
    assert "| policy | engagement /session, IQM [95% CI] | CTR, mean |" in out
    assert "| PPO | 72.0 [70.0, 74.0] | 0.727 |" in out  # IQM as stored; CTR mean of runs
    assert "| random | 55.5 [55.0, 56.0] | 0.553 |" in out
    assert "-->72.0 [70.0, 74.0]<!-- /value --> against" in out
    assert "-->55.5<!-- /value -->, runs" in out
    assert "-->71.0, 75.0, 72.0<!-- /value -->" in out  # each run's mean over its episodes
    assert "-->72.0<!-- /value --> (best" in out  # mean over runs at 2,000 steps
    assert "-->70.0, 71.0, 75.0<!-- /value -->" in out
    assert "-->0.051<!-- /value -->" in out
    assert "Trained by `marlrec run tiny.yaml` at commit abc1234" in out
    assert render(out, root) == out  # regenerating changes nothing


def test_check_finds_a_changed_number_in_the_doc(root: Path) -> None:
    path = _doc(root, render(DOC, root))
    assert check(path, root) == []
    path.write_text(path.read_text().replace("-->72.0 [70.0, 74.0]<!-- /value -->",
                                             "-->72.1 [70.0, 74.0]<!-- /value -->"))
    [disagreement] = check(path, root)
    assert (disagreement.line, disagreement.expected, disagreement.found) == (
        13, "72.0 [70.0, 74.0]", "72.1 [70.0, 74.0]")
    assert str(disagreement).startswith(f"{path}:13: <!-- value: tiny/scores.json IQM")


def test_check_finds_a_scores_json_that_changed_under_a_table(root: Path) -> None:
    path = _doc(root, render(DOC, root))
    scores = root / "tiny" / "scores.json"
    data = json.loads(scores.read_text())
    data["absolute"]["random"]["IQM"] = [56.5, 55.0, 57.0]
    scores.write_text(json.dumps(data))
    disagreements = check(path, root)
    assert [d.line for d in disagreements] == [3, 14]  # the table and the prose value
    text = str(disagreements[0])
    assert "-| random | 55.5 [55.0, 56.0] | 0.553 |" in text
    assert "+| random | 56.5 [55.0, 57.0] | 0.553 |" in text


def test_a_missing_scores_json_names_the_doc_line_and_file(root: Path) -> None:
    text = "x\n\nPPO <!-- value: gone/scores.json IQM PPO --><!-- /value -->\n"
    with pytest.raises(ResultsTableError, match=r"doc\.md:3: .*gone/scores\.json: no such "
                                                r"file under"):
        check(_doc(root, text), root)


@pytest.mark.parametrize(("spec", "message"), [
    ('IQM "PPO shared"', r"tiny/scores\.json: no policy 'PPO shared'; it has \['PPO per_role'"),
    ('mean random clicks', r"tiny/scores\.json: no metric 'clicks' in 'random'"),
    ('average random', r"tiny/scores\.json: statistic 'average': one of"),
    ('json absolute random P90', r"tiny/scores\.json: no key 'absolute\.random\.P90'"),
    ('curve "PPO per_role" 3000', r"no evaluation during training at 3000 env steps; it has "
                                  r"\[1000, 2000\]"),
    ('curve random 1000', r"'random' has no evaluations during training"),
    ('ranking random hit_rate', r"no ranking\['random'\]\['hit_rate'\]"),
    ('IQM random color=red', r"unknown option\(s\) \['color'\]"),
    ('IQM random part=middle', r"part=middle: one of ci, point, low, high"),
    ('mean random fmt=.2q', r"tiny/scores\.json: 'tiny/scores\.json mean random fmt=\.2q'"),
])
def test_a_bad_key_names_the_file_and_the_key(root: Path, spec: str, message: str) -> None:
    text = f"x\n\nvalue <!-- value: tiny/scores.json {spec} --><!-- /value -->\n"
    with pytest.raises(ResultsTableError, match=r"doc\.md:3: <!-- value: tiny/scores\.json.*"
                                                + message):
        check(_doc(root, text), root)


def test_a_bad_table_column_names_the_file_and_the_column(root: Path) -> None:
    text = "<!-- results-table: tiny/scores.json metrics=ctr:P90 -->\n<!-- /results-table -->\n"
    with pytest.raises(ResultsTableError, match=r"doc\.md:1: .*tiny/scores\.json: column "
                                                r"'ctr:P90'"):
        check(_doc(root, text), root)


@pytest.mark.parametrize(("text", "message"), [
    ("a <!-- value: tiny/scores.json mean random -->\n", r"doc:1: .*needs its <!-- /value -->"),
    ("a\n<!-- value: tiny/scores.json mean random --><!-- /value -->\n",
     r"doc:2: a value marker must not begin a line"),
    ("a <!-- /value -->\n", r"doc:1: '<!-- /value -->' closes no region"),
    ("x <!-- results-table: tiny/scores.json -->\n<!-- /results-table -->\n",
     r"doc:1: a results-table region starts and ends on lines of its own"),
])
def test_malformed_markers_are_refused_with_their_line(text: str, message: str) -> None:
    with pytest.raises(ResultsTableError, match=message):
        find_regions(text, "doc")


def test_markers_in_fenced_code_are_text() -> None:
    text = "```\n<!-- value: x/scores.json mean y -->\n```\n"
    assert find_regions(text) == []


def test_aggregates_are_the_reports_own(root: Path) -> None:
    """A non-headline metric's mean [CI] is the cell of the report's metrics table; a run's
    score leaves out episodes without a value (null in scores.json)."""
    scores = Library(root).get("tiny/scores.json")
    table = report.metrics_table(list(scores.policies.values()), BOOTSTRAP_REPS, ("ctr",))
    for policy in scores.policies:
        e = scores.estimate(policy, "ctr", "Mean")
        assert f"| {policy} | {e.point:.3g} [{e.low:.3g}, {e.high:.3g}] |" in table
    cold = scores.run_scores("PPO per_role", "engagement_per_session_cold_users")
    np.testing.assert_allclose(cold, [60, np.nan, 51])
    assert BOOTSTRAP_REPS == inspect.signature(report.write_report).parameters["reps"].default


def test_probability_of_improvement_is_the_reports_matrix(root: Path) -> None:
    """P(PPO > random) is 1 (every run above every run: no bootstrap needed), P(PPO > greedy)
    is 4/9 with the CI of the report's matrix over every policy of the file."""
    scores = Library(root).get("tiny/scores.json")
    names = list(scores.policies)
    matrix = aggregate.probability_of_improvement(
        {name: scores.run_scores(name) for name in names}, reps=BOOTSTRAP_REPS)
    row = report.poi_table(matrix, names).splitlines()[2]
    for other, point in (("random", "1.00 [1.00, 1.00]"), ("greedy", "0.44 [")):
        spec = f'tiny/scores.json poi "PPO per_role" {other}'
        text = render(f"P <!-- value: {spec} --><!-- /value -->", root)
        value = text.split("-->")[1].split("<!--")[0]
        assert value.startswith(point) and f" {value} |" in row


def test_a_stored_improvement_matrix_is_the_one_shown(root: Path) -> None:
    """A scores.json with ``probability_of_improvement`` (what the report writes now) gives
    P(P > Q) as stored, whatever its runs say; without it, the matrix is recomputed."""
    text = 'P <!-- value: tiny/scores.json poi "PPO per_role" greedy --><!-- /value -->'
    assert "0.44 [" in render(text, root)
    path = root / "tiny" / "scores.json"
    data = json.loads(path.read_text())
    data["probability_of_improvement"] = {"PPO per_role": {"greedy": [0.5, 0.25, 0.75]}}
    path.write_text(json.dumps(data))
    assert "-->0.50 [0.25, 0.75]<!--" in render(text, root)


def _with_gini(root: Path) -> Library:
    """The tiny file with a lower-is-better metric: each episode's exposure Gini is its CTR
    (so PPO's Gini is above random's in every run: PPO is worse on it)."""
    path = root / "tiny" / "scores.json"
    data = json.loads(path.read_text())
    for entry in data["policies"].values():
        for run in entry["runs"]:
            for episode in run:
                episode["provider_exposure_gini"] = episode["ctr"]
    path.write_text(json.dumps(data))
    return Library(root)


def _value(spec: str, root: Path) -> str:
    return render(f"v <!-- value: {spec} --><!-- /value -->", root).split("-->")[1].split(
        "<!--")[0]


def test_better_reads_the_metrics_direction(root: Path) -> None:
    """``poi`` compares numbers, ``better`` reads the metric's direction: on exposure Gini
    (lower is better) PPO is above random in every run, so P(PPO > random) is 1 and
    P(PPO better than random) 0; against greedy the two are complements (no ties); on the
    headline metric (higher is better) they are the same figure."""
    library = _with_gini(root)
    gini = "provider_exposure_gini"
    assert _value(f'tiny/scores.json poi "PPO per_role" random {gini}', root).startswith("1.00")
    assert _value(f'tiny/scores.json better "PPO per_role" random {gini}',
                  root) == "0.00 [0.00, 0.00]"
    poi = float(_value(f'tiny/scores.json poi "PPO per_role" greedy {gini} part=point', root))
    better = _value(f'tiny/scores.json better "PPO per_role" greedy {gini}', root)
    assert float(better.split()[0]) == pytest.approx(1.0 - poi)
    scores = library.get("tiny/scores.json")
    e = aggregate.probability_of_improvement(
        {"x": scores.run_scores("PPO per_role", gini), "y": scores.run_scores("greedy", gini)},
        reps=BOOTSTRAP_REPS, higher_is_better=False)[("x", "y")]
    assert better == f"{e.point:.2f} [{e.low:.2f}, {e.high:.2f}]"
    for pair in ('"PPO per_role" greedy', 'random "PPO per_role"'):
        assert (_value(f"tiny/scores.json better {pair}", root)
                == _value(f"tiny/scores.json poi {pair}", root))
    with pytest.raises(ResultsTableError, match="'clicks' is no registered metric"):
        _value('tiny/scores.json better "PPO per_role" random clicks', root)


def test_labels_and_directions_come_from_the_metric_registry(root: Path) -> None:
    _with_gini(root)
    text = ("<!-- results-table: tiny/scores.json metrics=ctr,provider_exposure_gini -->\n"
            "<!-- /results-table -->\n")
    assert "| policy | CTR, mean | exposure Gini, mean |" in render(text, root)
    names = ["a", "b"]
    matrix = {("a", "b"): aggregate.Estimate(0.25, 0.0, 0.5),
              ("b", "a"): aggregate.Estimate(0.75, 0.5, 1.0)}
    assert report.poi_table(matrix, names).startswith("| P(row > column) |")
    assert report.poi_table(matrix, names, higher_is_better=False).startswith(
        "| P(row < column), lower is better |")
    scores = Library(root).get("tiny/scores.json")
    table = report.metrics_table(list(scores.policies.values()), 50,
                                 ("ctr", "provider_exposure_gini"))
    assert table.startswith("| policy | CTR | exposure Gini (lower is better) |\n")


def test_load_scores_reads_back_what_the_report_wrote(root: Path) -> None:
    """Episodes and curves as :class:`PolicyRuns`, null as NaN, ``absolute`` as estimates;
    no improvement matrix in a file that predates it."""
    saved = load_scores(root / "tiny" / "scores.json")
    assert saved.metric == "engagement_per_session"
    assert [(p.policy, p.learned) for p in saved.policies] == [
        ("PPO per_role", True), ("random", False), ("greedy", False)]
    ppo = saved.policies[0]
    assert np.isnan(ppo.episodes[0][0]["engagement_per_session_cold_users"])
    assert ppo.curve == [(1000.0, [60, 62, 64]), (2000.0, [70, 71, 75])]
    assert saved.absolute is not None
    assert saved.absolute["greedy"]["IQM"] == aggregate.Estimate(73.0, 70.0, 77.0)
    assert saved.improvement is None
    assert saved.data["ranking"]["random"]["ndcg"] == 0.0138


def test_write_report_stores_its_improvement_matrix(root: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``write_report`` puts the matrix it computes in scores.json; :func:`load_scores`
    reads it back, and a value marker shows it. The runs are made up (``collect``
    replaced, and with them the explanations of saved modules): 4 runs per policy, as the
    quickstart spec has 4 seeds."""
    folder = root / "quick"
    folder.mkdir()
    from marlrec.config.loading import read_spec_mapping

    (folder / "spec.resolved.yaml").write_text(yaml.safe_dump(
        read_spec_mapping(REPO / "experiments" / "quickstart.yaml")))
    metrics = ("engagement_per_session", *report.HEADLINE_METRICS[1:])

    def runs(base: float) -> list[list[dict[str, float]]]:
        return [[{m: base + run + episode / 2 for m in metrics} for episode in range(2)]
                for run in range(4)]

    policies = [PolicyRuns("PPO per_role", True, runs(70.0),
                           [(8000.0, [60.0, 61.0, 62.0, 63.0])]),
                PolicyRuns("random", False, runs(55.0)),
                PolicyRuns("greedy", False, runs(71.5))]
    monkeypatch.setattr(report, "collect", lambda folder, spec, progress=None: (policies, None))
    monkeypatch.setattr(report, "explain_experiment", lambda folder, spec: {})  # no modules
    out = report.write_report(folder, reps=50)
    saved = load_scores(out / "scores.json")
    scores = {p.policy: p.run_scores("engagement_per_session") for p in policies}
    assert saved.improvement == aggregate.probability_of_improvement(scores, reps=50)
    assert saved.absolute == aggregate.interval_estimates(scores, reps=50)
    stored = json.loads((out / "scores.json").read_text())["probability_of_improvement"]
    assert list(stored) == ["PPO per_role", "random", "greedy"]
    assert list(stored["PPO per_role"]) == ["random", "greedy"]
    e = saved.improvement[("PPO per_role", "greedy")]
    text = 'P <!-- value: quick/report/scores.json poi "PPO per_role" greedy --><!-- /value -->'
    assert f"-->{e.point:.2f} [{e.low:.2f}, {e.high:.2f}]<!--" in render(text, root)


def test_cli_checks_and_regenerates(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _doc(root)
    args = ["--results-root", str(root)]
    assert main(["--check", str(path), *args]) == 1
    out = capsys.readouterr().out
    assert f"{path}:7: <!-- value: tiny/scores.json IQM \"PPO per_role\" -->" in out
    assert "expected: 72.0 [70.0, 74.0]\n  found:    \n" in out
    assert main([str(path), *args]) == 0
    assert main(["--check", str(path), *args]) == 0
    assert path.read_text() == render(DOC, root)
    (root / "tiny" / "scores.json").unlink()
    assert main(["--check", str(path), *args]) == 2
    assert "tiny/scores.json: no such file" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the docs


DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
CONVERTED = [REPO / "README.md", RESULTS / "README.md",  # every run figure in them is marked
             REPO / "docs" / "benchmarks.md", REPO / "docs" / "recsim_parity.md"]


def _outside_regions(path: Path) -> str:
    """``path``'s text without the generated parts of its regions and without comments."""
    text = path.read_text()
    kept, done = [], 0
    for region in find_regions(text, str(path)):
        kept.append(text[done:region.start])
        done = region.end
    return re.sub(r"<!--.*?-->", "", "".join(kept) + text[done:], flags=re.DOTALL)


def test_the_default_results_root_is_the_repositorys() -> None:
    """``make results-tables`` passes no ``--results-root``."""
    from marlrec.report.results_tables import RESULTS_ROOT

    assert RESULTS_ROOT == RESULTS


def test_the_committed_docs_agree_with_their_scores_json() -> None:
    """Every marked region in README.md and docs/ is what its committed scores.json gives;
    after a rerun: ``make results-tables`` (python -m marlrec.report.results_tables FILE...)."""
    disagreements = [d for path in DOCS for d in check(path, RESULTS)]
    assert not disagreements, "\n".join(map(str, disagreements))
    for path in CONVERTED:
        assert find_regions(path.read_text()), f"{path}: no marked regions"


def test_no_table_of_results_outside_a_marked_region() -> None:
    """A markdown table row in docs/results/README.md holds a decimal number only inside a
    generated region (integers such as budgets and counts of studios may stand)."""
    rows = [line for line in _outside_regions(RESULTS / "README.md").splitlines()
            if line.lstrip().startswith("|") and re.search(r"\d\.\d", line)]
    assert not rows, "rows with numbers not generated from a scores.json:\n" + "\n".join(rows)


@pytest.mark.parametrize("path", CONVERTED, ids=lambda p: str(p.relative_to(REPO)))
def test_no_interval_outside_a_marked_region(path: Path) -> None:
    """An estimate with its interval, ``78.1 [75.7, 79.8]``, is a run result: in the
    converted docs it only appears generated."""
    intervals = re.findall(r"-?\d+(?:\.\d+)? \[-?\d+(?:\.\d+)?, -?\d+(?:\.\d+)?\]",
                           _outside_regions(path))
    assert not intervals, f"{path}: intervals not generated from a scores.json: {intervals}"
