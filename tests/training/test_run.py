"""Experiments on Ray Tune: two trials with W&B offline run files, resume, checkpoints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

ray = pytest.importorskip("ray")

from run_specs import TINY, TRAINING, tiny_spec  # noqa: E402

from marlrec.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def finished_run(local_ray, tmp_path_factory):
    import io

    from rich.console import Console

    from marlrec.training.run import run_experiment

    results = tmp_path_factory.mktemp("results")
    spec = tiny_spec(results)
    command = ["run", "tiny.yaml", "--set", "seeds=[0,1]"]  # what the CLI would record
    console = Console(file=io.StringIO(), width=200)  # the live table, as `marlrec run` shows
    summaries = run_experiment(spec, command=command, console=console)
    return spec, results / "tiny", summaries, console.file.getvalue()


def test_the_live_table_shows_each_trial_its_budget_evaluation_and_baseline(finished_run):
    spec, folder, summaries, shown = finished_run
    for seed in (0, 1):
        assert f"PPO-per_role seed {seed}  done" in shown
    assert "400 / 400" in shown and "800 / 800 env steps" in shown
    assert "latest eval: engagement /session" in shown and "@ 400" in shown
    assert "(greedy_by_appeal)" in shown or "(random)" in shown  # the best baseline
    assert "Configuration for experiment" not in shown  # no Tune output


def test_two_trials_write_results_checkpoints_and_wandb_offline_runs(finished_run):
    spec, folder, summaries, _ = finished_run
    assert sorted(s.seed for s in summaries) == [0, 1]
    assert all(s.env_steps >= 400 and s.checkpoint for s in summaries)
    assert yaml.safe_load((folder / "spec.resolved.yaml").read_text()) == spec.to_dict()
    for s in summaries:
        trial = folder / "PPO-per_role" / s.path.split("/")[-1]
        params = json.loads((trial / "params.json").read_text())
        assert params["env_config"]["marlrec_spec"]["name"] == "tiny"  # logged per trial
        rows = (trial / "progress.csv").read_text()
        assert len(rows.strip().splitlines()) == 3  # header + 2 iterations of 200 steps
    runs = sorted((folder / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    for run in runs:
        (log,) = run.glob("run-*.wandb")
        data = log.read_bytes()
        assert b"episode_return_mean" in data and b"num_env_steps_sampled_lifetime" in data
        assert b"engagement_per_session" in data  # the ecosystem's own episode metrics
        assert b"evaluation" in data  # the in-training evaluations
        assert b"PPO-per_role-seed" in data and b"marlrec" in data  # run name, its spec
    names = b"".join(next(run.glob("run-*.wandb")).read_bytes() for run in runs)
    assert b"PPO-per_role-seed0" in names and b"PPO-per_role-seed1" in names


def test_a_second_run_into_a_finished_runs_folder_is_refused(finished_run, capsys):
    """Without --resume, a run into a folder that holds trials would put its trials beside
    them (and the report would read either's seeds): refused, nothing written."""
    from marlrec.training.run import run_experiment

    spec, folder, _, _ = finished_run
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    with pytest.raises(FileExistsError, match=r"already holds a run \(2 trials in "
                                              r"\['PPO-per_role'\]\): continue it with "
                                              r"--resume"):
        run_experiment(spec, verbose=0)
    spec_file = folder / "spec.resolved.yaml"
    assert main(["run", str(spec_file), "--set", f"logging.results_dir={folder.parent}"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before


def test_resume_does_not_redo_finished_trials(finished_run):
    from marlrec.training.run import run_experiment

    spec, folder, summaries, _ = finished_run
    before = {p: p.read_text() for p in folder.glob("PPO-per_role/*/progress.csv")}
    again = run_experiment(spec, resume=True, verbose=0)
    assert sorted(s.seed for s in again) == [0, 1]
    assert {p: p.read_text() for p in folder.glob("PPO-per_role/*/progress.csv")} == before


def test_checkpoint_round_trip_restores_weights_and_training_continues(local_ray, tmp_path):
    from ray.rllib.algorithms.algorithm import Algorithm

    from marlrec.training.rllib_config import build_algorithm_config

    spec = tiny_spec(tmp_path)
    algo = build_algorithm_config(spec, "PPO", "per_role", seed=0).build_algo()
    try:
        algo.train()
        algo.save_to_path(str(tmp_path / "ckpt"))
        weights = algo.get_module("slate_policy").get_state()
    finally:
        algo.stop()
    restored = Algorithm.from_checkpoint(str(tmp_path / "ckpt"))
    try:
        again = restored.get_module("slate_policy").get_state()
        assert weights.keys() == again.keys()
        for key in weights:
            np.testing.assert_array_equal(np.asarray(weights[key]), np.asarray(again[key]))
        result = restored.train()
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] >= 400
    finally:
        restored.stop()


def test_run_refuses_a_bad_spec_before_ray_starts(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: {preset: interest_evolution}\nsharing: federated\n")
    was_running = ray.is_initialized()
    assert main(["run", str(bad)]) == 2
    assert "experiment.sharing: 'federated' is not one of" in capsys.readouterr().err
    assert ray.is_initialized() == was_running


def test_the_report_aggregates_best_modules_and_baselines_on_the_same_episodes(
        finished_run, tmp_path):
    from PIL import Image

    from marlrec.report.experiment_report import write_report

    spec, folder, summaries, _ = finished_run
    for seed in (0, 1):  # evaluated at both iterations (every 200 steps), best modules kept
        best = json.loads((folder / "best" / "PPO-per_role" / f"seed_{seed}" / "best.json")
                          .read_text())
        assert best["iteration"] in (1, 2) and best["modules"] == ["slate_policy"]
    out = write_report(folder, reps=200)
    assert out == folder / "report"
    report = (out / "report.md").read_text()
    for row in ("| PPO per_role |", "| random |", "| greedy_by_appeal |", "P(row > column)"):
        assert row in report
    for png in ("learning_curves.png", "absolute_metric.png", "probability_of_improvement.png",
                "performance_profile.png", "tradeoff.png"):
        with Image.open(out / png) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 300
        assert (out / png).stat().st_size > 5000
    scores = json.loads((out / "scores.json").read_text())
    from marlrec.training.run import code_commit

    provenance = scores["provenance"]  # every number names its command and commit
    assert provenance["training_command"] == "marlrec run tiny.yaml --set 'seeds=[0,1]'"
    assert provenance["training_commit"] == provenance["report_commit"] == code_commit()
    assert f"at commit {code_commit()}" in report
    episodes = 2 * 2  # absolute_factor x evaluation.episodes
    for name in ("PPO per_role", "random", "greedy_by_appeal"):
        runs = scores["policies"][name]["runs"]
        assert len(runs) == 2 and all(len(r) == episodes for r in runs)
    assert len(scores["policies"]["PPO per_role"]["curve"]) == 2  # two evaluation points
    marl_eval = json.loads((out / "marl_eval.json").read_text())
    assert set(marl_eval["marlrec"]["interest_evolution"]) == {"PPO per_role", "random",
                                                                "greedy_by_appeal"}
    # the same episodes: a baseline evaluated again gives the same runs
    again = json.loads((write_report(folder, reps=200) / "scores.json").read_text())
    assert again["policies"]["greedy_by_appeal"] == scores["policies"]["greedy_by_appeal"]
    # user groups: the synthetic personas' primary topics, every policy's runs pooled
    topics = scores["user_groups"]["primary_topic"]
    assert topics["groups"] or topics["left_out"]
    assert "## Fairness across user groups" in report
    # why the slates: run 0's best modules attributed, checked and explained
    why = scores["explanations"]["PPO per_role"]
    assert why["faithfulness"]["decisions"] == 2 * TINY["num_sessions"] * TINY["horizon"]
    assert 0 <= why["faithfulness"]["top_group_changes"][0] <= 1 and why["examples"]
    assert "## Why was this slate shown?" in report and (out / "explanations.md").is_file()
    assert main(["explain", str(folder), "--sessions", "1", "--steps", "2"]) == 0
    assert "Session in slot 0" in (out / "explanations.md").read_text()
    assert main(["explain", str(folder), "--run", "2"]) == 2  # runs 0..1
    assert main(["explain", str(folder), "--episodes", "0"]) == 2

    # a run without best modules: the report is refused and nothing is written
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    shutil.rmtree(copy / "best" / "PPO-per_role" / "seed_1")
    shutil.rmtree(copy / "report")
    with pytest.raises(ValueError, match=r"runs without evaluated best modules: "
                                         r"\['PPO-per_role seed 1'\]"):
        write_report(copy, reps=100)
    assert not (copy / "report").exists()
    assert main(["report", str(copy)]) == 2


@pytest.mark.slow
def test_a_killed_driver_resumes_from_its_last_checkpoint(local_ray, tmp_path):
    """`marlrec run` is killed (SIGKILL, with the Ray it started) once its synced
    experiment state names a checkpoint; `--resume` continues the trial from there to the
    budget."""
    import os
    import signal
    import subprocess
    import sys
    import time

    spec_file = tmp_path / "killed.yaml"
    spec_file.write_text(yaml.safe_dump({
        "name": "killed", "env": {"preset": "interest_evolution", "params": TINY},
        "training": TRAINING, "seeds": [0], "stop": {"env_steps": 10000},
        "resources": {"num_env_runners": 0},
        "evaluation": {"episodes": 1, "every_env_steps": 2000, "absolute_factor": 1,
                       "baselines": ["random"]},
        "logging": {"results_dir": str(tmp_path), "checkpoint_every": 1,
                    "wandb_mode": "disabled"}}))
    driver = subprocess.Popen([sys.executable, "-m", "marlrec.cli", "run", str(spec_file)],
                              start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    def state_names_a_checkpoint() -> bool:  # what --resume will read: Tune's synced
        # experiment state, whose checkpoint manager is stored cloudpickled as hex

        for path in tmp_path.glob("killed/PPO-per_role/experiment_state-*.json"):
            pickled = re.findall(r"([0-9a-f]{64,})", path.read_text(errors="replace"))
            if any(b"checkpoint_0000" in bytes.fromhex(v) for v in pickled):
                return True
        return False

    # Wait on the state itself, however long the run takes to get there; the run ending
    # first (its 50 iterations faster than a sync of the state) fails with that message.
    while not state_names_a_checkpoint():
        assert driver.poll() is None, "the run ended before it could be killed"
        time.sleep(0.5)  # a polling interval, not a deadline
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    assert main(["run", str(spec_file), "--resume"]) == 0
    (results,) = tmp_path.glob("killed/PPO-per_role/PPO_*/result.json")
    checkpoints = sorted(p.name for p in results.parent.glob("checkpoint_*"))
    last = json.loads(results.read_text().strip().splitlines()[-1])
    assert last["training_iteration"] == 50  # 50 iterations of 200 steps: the budget
    assert last["env_runners"]["num_env_steps_sampled_lifetime"] >= 10000
    # continued from a checkpoint of iteration >= 2, not trained from scratch again
    assert last["training_iteration"] - last["iterations_since_restore"] >= 2
    assert checkpoints[-1] == "checkpoint_000049"  # every checkpoint kept, the last at 50


def test_metric_tables_leave_out_runs_without_a_value_and_mark_policies_with_none():
    from marlrec.report.experiment_report import PolicyRuns, metrics_table

    nan = float("nan")
    a = PolicyRuns("a", learned=False, episodes=[[{"m": 1.0}, {"m": nan}], [{"m": 3.0}]])
    b = PolicyRuns("b", learned=False, episodes=[[{"m": nan}], [{"m": 5.0}]])
    c = PolicyRuns("c", learned=False, episodes=[[{"m": nan}], [{"m": nan}]])
    assert np.array_equal(b.run_scores("m"), [nan, 5.0], equal_nan=True)
    rows = metrics_table([a, b, c], reps=50, metrics=("m",)).splitlines()
    assert rows[2].startswith("| a | 2 [1, 3]")  # episode NaNs left out of run means
    assert rows[3].startswith("| b | 5 [5, 5]")  # the run without a value left out
    assert rows[4] == "| c | — |"


@pytest.mark.slow
def test_a_training_seed_repeats_its_run_whatever_the_drivers_hash_seed(tmp_path):
    """Two `marlrec run`s of one seed, from drivers with different PYTHONHASHSEEDs, train
    the same policy: the same episode returns and losses, iteration by iteration
    (RLlib iterates sets of agent ids; marlrec fixes the workers' hash seed)."""
    import csv
    import os
    import subprocess
    import sys

    curves = []
    for hash_seed in ("1", "2"):
        spec_file = tmp_path / f"repeat_{hash_seed}.yaml"
        spec_file.write_text(yaml.safe_dump({
            "name": f"repeat_{hash_seed}",
            "env": {"preset": "interest_evolution", "params": TINY},
            "training": TRAINING, "seeds": [0], "stop": {"env_steps": 600},
            "resources": {"num_env_runners": 0},
            "evaluation": {"episodes": 1, "every_env_steps": 600, "absolute_factor": 1,
                           "baselines": ["random"]},
            "logging": {"results_dir": str(tmp_path), "wandb_mode": "disabled"}}))
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-m", "marlrec.cli", "run", str(spec_file)],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        (progress,) = tmp_path.glob(f"repeat_{hash_seed}/PPO-per_role/PPO_*/progress.csv")
        rows = list(csv.DictReader(progress.open()))
        curves.append([(row["env_runners/episode_return_mean"],
                        row["learners/slate_policy/total_loss"]) for row in rows])
    assert len(curves[0]) == 3
    assert curves[0] == curves[1]


def test_the_code_commit_says_dirty_exactly_when_the_code_has_uncommitted_changes():
    """The repository's own status of the code paths, asked from its root (the commit
    recorded beside every result must not call a modified tree clean)."""
    import subprocess

    from marlrec.training.run import code_commit

    root = Path(__file__).resolve().parents[2]
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                             "--untracked-files=no", "--", "marlrec", "envs",
                             "pyproject.toml", "constraints.txt"],
                            capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert code_commit() == (f"{head}+dirty" if status else head)
