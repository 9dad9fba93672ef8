"""The report in W&B: tables and plots of a finished report, logged offline into the
experiment's folder as a run that `wandb sync` picks up."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from marlrec.config.loading import load_spec
from marlrec.report.wandb_report import log_report, report_tables

ROOT = Path(__file__).parents[2]
QUICKSTART = ROOT / "docs" / "results" / "quickstart"


def test_report_tables_hold_the_reports_numbers():
    scores = json.loads((QUICKSTART / "scores.json").read_text())
    tables = report_tables(scores)
    columns, rows = tables["absolute_metric"]
    first = next(iter(scores["absolute"]))
    row = next(r for r in rows if r[0] == first)
    assert row[columns.index("IQM")] == scores["absolute"][first]["IQM"][0]
    assert row[columns.index("IQM 95% low")] == scores["absolute"][first]["IQM"][1]
    columns, rows = tables["headline_metrics"]
    assert "engagement /session (higher is better)" in columns
    assert "exposure Gini (lower is better)" in columns
    assert {r[0] for r in rows} == set(scores["policies"])
    assert tables["learning_curves"][1]
    assert "ranking" in tables  # MovieLens: the offline ranking
    # this scores.json predates the stored matrix (an empty table); a newer one has it
    recsim = json.loads((ROOT / "docs" / "results" / "recsim_parity" / "scores.json"
                         ).read_text())
    columns, rows = report_tables(recsim)["probability_of_improvement"]
    assert len(rows) == len(recsim["absolute"]) * (len(recsim["absolute"]) - 1)
    assert rows[0][2] == recsim["probability_of_improvement"][rows[0][0]][rows[0][1]][0]


def test_an_offline_report_run_holds_tables_and_plots_and_syncs(tmp_path, monkeypatch):
    folder = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, folder / "report")
    monkeypatch.chdir(tmp_path)
    spec = load_spec(ROOT / "experiments" / "quickstart.yaml",
                     [f"logging.results_dir={tmp_path}", "logging.wandb_mode=offline"],
                     check_data=False)
    run = log_report(folder / "report", spec)
    assert run is not None and run.parent == folder / "wandb"
    tables = {p.name.split("_")[0]: p for p in (run / "files" / "media" / "table").glob("*.json")}
    absolute = json.loads(next((run / "files" / "media" / "table").glob(
        "absolute_metric_*.table.json")).read_text())
    scores = json.loads((QUICKSTART / "scores.json").read_text())
    iqm = {row[0]: row[absolute["columns"].index("IQM")] for row in absolute["data"]}
    assert iqm == {p: e["IQM"][0] for p, e in scores["absolute"].items()}
    assert tables  # every table written as a W&B table file
    images = {p.name.split("_")[0] for p in (run / "files" / "media" / "images" / "plots"
                                              ).glob("*.png")}
    assert {"absolute", "learning", "tradeoff"} <= images
    record = next(run.glob("run-*.wandb")).read_bytes()  # offline: the summary is in here
    assert b"quickstart-report" in record and b"quickstart" in record  # name and group
    assert b"iqm/PPO per_role" in record and b"engagement_per_session" in record
    wandb = shutil.which("wandb") or str(Path(__import__("sys").executable).parent / "wandb")
    shown = subprocess.run([wandb, "sync", "--dry-run"], cwd=folder, capture_output=True,
                           text=True, timeout=120)
    assert "Would sync 1 run(s)" in shown.stdout + shown.stderr, shown.stdout + shown.stderr


def test_a_disabled_mode_logs_nothing(tmp_path):
    spec = load_spec(ROOT / "experiments" / "quickstart.yaml",
                     ["logging.wandb_mode=disabled"], check_data=False)
    assert log_report(QUICKSTART, spec) is None


@pytest.mark.parametrize("name", ["recsim_parity", "confirm_ppo"])
def test_tables_of_other_shipped_reports(name):
    scores = json.loads((ROOT / "docs" / "results" / name / "scores.json").read_text())
    assert report_tables(scores)["absolute_metric"][1]
