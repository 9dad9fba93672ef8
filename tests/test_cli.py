"""The marlrec command line: rollout reports and clear errors for bad arguments."""

from __future__ import annotations

import json

import pytest

from marlrec.cli import main
from marlrec.config.loading import apply_overrides

FAST = ["--episodes", "2", "--set", "num_sessions=2", "--set", "horizon=20"]


def test_rollout_writes_report_table_and_plot(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["rollout", *FAST, "--policies", "random,greedy_by_appeal",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "greedy_by_appeal" in printed and "CTR" in printed
    assert (out / "comparison.png").stat().st_size > 1000
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["results"]) == {"random", "greedy_by_appeal"}
    assert len(metrics["results"]["random"]) == 2
    assert "| greedy_by_appeal |" in (out / "report.md").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no staging folder left


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--set", "num_sesions=2"], "unknown parameter(s) ['num_sesions']"),
        (["--set", "slate_size=0"], "slate_size=0 must be an integer >= 1"),
        (["--set", "user_model.budgett=3"], "unknown user_model parameter(s) ['budgett']"),
        (["--set", "novalue"], "expected key.path=value"),
        (["--policies", "random,oracle"], "unknown ['oracle']"),
        (["--episodes", "0"], "--episodes=0: must be >= 1"),
    ],
)
def test_rollout_bad_arguments_fail_before_running(args, fragment, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["rollout", *args, "--out", str(out)]) == 2
    assert fragment in capsys.readouterr().err
    assert not out.exists()


def test_unknown_dataset_and_preset_are_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as err:
        main(["data", "fetch", "netflix-prize"])
    assert err.value.code == 2
    assert "invalid choice: 'netflix-prize'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["rollout", "--preset", "nope"])


def test_rollout_set_uses_the_spec_override_parser():
    """`marlrec rollout --set` and `marlrec run --set` share one parser: YAML values, dotted
    keys into nested mappings."""
    assert apply_overrides({}, ["a=3", "b=0.5", "c=true", "d=text", "user_model.budget=30",
                                "user_model.pivot=2"], root="env params") == {
        "a": 3, "b": 0.5, "c": True, "d": "text", "user_model": {"budget": 30, "pivot": 2}}
    with pytest.raises(ValueError, match="env params.a is 3, not a mapping"):
        apply_overrides({"a": 3}, ["a.b=1"], root="env params")


def test_presets_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    printed = capsys.readouterr().out
    for name in ("interest_evolution", "creator_economy", "strategic_users", "full_ecosystem"):
        assert name in printed
