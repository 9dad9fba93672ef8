"""Experiments on Ray Tune: two trials with W&B offline run files, resume, checkpoints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

ray = pytest.importorskip("ray")

from marlrec.cli import main  # noqa: E402
from marlrec.config.spec import parse_spec  # noqa: E402
from marlrec.report.encoder_figures import encoder_pool_figures  # noqa: E402

TINY = {"num_sessions": 2, "num_candidates": 4, "horizon": 20, "user_state": "item_mean",
        "num_items": 60, "num_providers": 3, "num_users": 50}
TRAINING = {"train_batch_size_per_learner": 200, "minibatch_size": 100, "num_epochs": 1}


def tiny_spec(results_dir, **extra):
    return parse_spec({
        "name": "tiny", "env": {"preset": "interest_evolution", "params": TINY},
        "training": TRAINING, "seeds": [0, 1], "stop": {"env_steps": 400},
        "evaluation": {"episodes": 2, "seed": 1000, "every_env_steps": 200,
                       "absolute_factor": 2},
        "resources": {"num_env_runners": 0},
        "logging": {"results_dir": str(results_dir), "checkpoint_every": 1,
                    "wandb_mode": "offline"}, **extra})


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


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


def test_a_grid_of_sharing_modes_with_mappo_and_the_encoder_pool_from_the_spec(
        local_ray, tmp_path):
    """``sharing`` as a list makes one Tune experiment per algorithm x mode; the spec's
    ``encoder_pool`` serves minilm to every trial's envs and reports its figures, and is
    gone when the run ends."""
    from marlrec.encoder.pool import pool_stats
    from marlrec.training.run import run_experiment

    spec = tiny_spec(tmp_path, algorithms=["MAPPO"], sharing=["per_role", "independent"],
                     seeds=[0], stop={"env_steps": 200},
                     env={"preset": "interest_evolution", "encoder": "minilm",
                          "params": {**TINY, "user_state": "text"}},
                     encoder_pool={"num_replicas": 1, "num_cpus": 0, "name": "test-run-pool"},
                     logging={"results_dir": str(tmp_path), "wandb_mode": "disabled"})
    summaries = run_experiment(spec, verbose=0)
    assert sorted((s.algorithm, s.sharing) for s in summaries) == [
        ("MAPPO", "independent"), ("MAPPO", "per_role")]
    for s in summaries:
        result = json.loads(Path(s.path, "result.json").read_text().splitlines()[-1])
        assert result["encoder_pool"]["requests"] > 0  # the pool served the trial
        assert result["env_runners"]["encoder/texts"] > 0
        assert "slate_policy" in result["learners"] or "slate_policy_0" in result["learners"]
    with pytest.raises(ValueError, match="Failed to look up actor"):
        pool_stats(spec.encoder_pool)  # stopped with the run
    figures = encoder_pool_figures(tmp_path / "tiny")  # what the report and console show
    assert figures["runs"] == 2 and figures["texts"] > 0 and figures["texts_per_s"] > 0
    assert 0 <= figures["wait_share"] <= 1 and 0 <= figures["client_cache_hit_rate"] <= 1


def test_text_states_from_a_static_pool_encode_only_new_pieces(local_ray, tmp_path):
    """The quickstart's setting: ``env.encoder: static`` served by the pool, ``user_state:
    text``. Each env composes its states from profile and title pieces, so the replicas
    encode each piece about once: far fewer texts than the states the sessions showed."""
    from marlrec.training.run import run_experiment

    spec = tiny_spec(tmp_path, seeds=[0], stop={"env_steps": 400},
                     env={"preset": "interest_evolution", "encoder": "static",
                          "params": {**TINY, "user_state": "text"}},
                     encoder_pool={"num_replicas": 1, "num_cpus": 0, "name": "test-static"},
                     logging={"results_dir": str(tmp_path), "wandb_mode": "disabled"})
    assert spec.encoder_pool.encoder == "static"  # filled in from env.encoder
    run_experiment(spec, verbose=0)
    figures = encoder_pool_figures(tmp_path / "tiny")
    pieces = TINY["num_items"] + TINY["num_users"] + 3  # titles, profiles, glue
    states = 400 * TINY["num_sessions"]  # one state per session and step, training alone
    assert 0 < figures["texts"] and figures["texts"] < states
    # the catalog's and profiles' vectors once, each piece at most once per env: training
    # env and evaluation env (plus the in-training evaluations' envs)
    assert figures["texts"] <= 4 * pieces + TINY["num_items"] + TINY["num_users"]


def test_an_experiment_that_cannot_fit_the_cluster_is_refused_before_it_starts(
        local_ray, tmp_path):
    from marlrec.training.run import run_experiment

    spec = tiny_spec(tmp_path, env={"preset": "interest_evolution", "encoder": "minilm",
                                    "params": TINY},
                     encoder_pool={"num_replicas": 2, "num_cpus": 1})
    with pytest.raises(ValueError, match=r"the Ray cluster has 2 CPUs; one trial needs 1 .*"
                                         r"and the encoder pool 2: lower"):
        run_experiment(spec, verbose=0)
    assert not (tmp_path / "tiny").exists()  # nothing written


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
        import re

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


def test_a_movielens_report_puts_held_out_ranking_next_to_simulated_metrics(
        local_ray, movielens_data, tmp_path):
    from marlrec.report.experiment_report import write_report
    from marlrec.training.run import run_experiment

    params = {**TINY, "catalog": "movielens-100k"}
    for key in ("num_items", "num_providers", "num_users"):
        params.pop(key)
    spec = tiny_spec(tmp_path, env={"preset": "interest_evolution", "params": params},
                     logging={"results_dir": str(tmp_path), "wandb_mode": "disabled"})
    spec = parse_spec({**spec.to_dict(), "evaluation": {
        "episodes": 2, "seed": 1000, "every_env_steps": 200, "absolute_factor": 2,
        "baselines": ["random", "popularity", "collaborative_filtering"]}})
    run_experiment(spec, verbose=0)
    out = write_report(tmp_path / "tiny", reps=100)
    report = (out / "report.md").read_text()
    assert "## Offline ranking on held-out MovieLens-100k ratings (k = 10)" in report
    ranking = json.loads((out / "scores.json").read_text())["ranking"]
    assert set(ranking) == {"PPO per_role", "random", "popularity", "collaborative_filtering"}
    assert len(ranking["PPO per_role"]["runs"]) == 2
    for name, row in ranking.items():
        assert f"| {name} |" in report.split("## Offline ranking")[1]
        assert 0.0 <= row["ndcg"] <= 1.0 and row["users"] > 900
    assert ranking["collaborative_filtering"]["ndcg"] > ranking["random"]["ndcg"]


def test_a_cold_start_report_splits_warm_and_cold_and_ranks_with_learned_ids(
        local_ray, movielens_data, tmp_path):
    """Trained without new users and items (include_cold false), evaluated with them; the id
    state's modules are scored on held-out ratings too."""
    from PIL import Image

    from marlrec.report.experiment_report import write_report
    from marlrec.training.run import run_experiment

    params = {**TINY, "catalog": "movielens-100k", "user_state": "id", "num_sessions": 4,
              "cold_start": {"user_share": 0.4, "item_share": 0.2, "include_cold": False}}
    for key in ("num_items", "num_providers", "num_users"):
        params.pop(key)
    spec = tiny_spec(tmp_path, env={"preset": "interest_evolution", "params": params},
                     logging={"results_dir": str(tmp_path), "wandb_mode": "disabled"})
    spec = parse_spec({**spec.to_dict(), "evaluation": {
        "episodes": 2, "seed": 1000, "every_env_steps": 200, "absolute_factor": 2,
        "baselines": ["random", "greedy_by_appeal"],
        "env_params": {"cold_start": {"include_cold": True}}}})
    run_experiment(spec, verbose=0)
    out = write_report(tmp_path / "tiny", reps=100)
    report = (out / "report.md").read_text()
    section = report.split("## Cold start: new users and items against known ones")[1]
    for policy in ("PPO per_role", "random", "greedy_by_appeal"):
        row = next(line for line in section.splitlines() if line.startswith(f"| {policy} |"))
        assert "—" not in row and "nan" not in row  # evaluation met cold users and items
    with Image.open(out / "cold_start.png") as image:
        image.verify()
        assert image.size[0] > 800
    runs = json.loads((out / "scores.json").read_text())["policies"]["PPO per_role"]["runs"]
    assert all(0 < e["cold_item_impression_share"] < 1 for run in runs for e in run)
    ranking = json.loads((out / "scores.json").read_text())["ranking"]
    assert 0.0 <= ranking["PPO per_role"]["ndcg"] <= 1.0


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


def test_variants_train_their_own_objective_and_the_report_draws_the_pareto_front(
        local_ray, tmp_path):
    """Each variant is its own Tune experiment whose envs take the variant's params (the
    objective here), evaluated in its env; the report names the non-dominated policies."""
    from marlrec.report.experiment_report import write_report
    from marlrec.training.run import run_experiment

    spec = tiny_spec(tmp_path, seeds=[0], stop={"env_steps": 200},
                     env={"preset": "interest_evolution",
                          "params": {**TINY, "reveal_exposure": True}},
                     variants={"engagement": {},
                               "fair_5": {"objective": {"exposure_fairness": 5}},
                               "private": {"privacy_epsilon": 1.0}},
                     evaluation={"episodes": 2, "seed": 1000, "absolute_factor": 2,
                                 "baselines": ["random", "greedy_by_appeal"]},
                     logging={"results_dir": str(tmp_path), "wandb_mode": "disabled"})
    summaries = run_experiment(spec, verbose=0)
    assert sorted((s.variant, s.seed) for s in summaries) == [
        ("engagement", 0), ("fair_5", 0), ("private", 0)]
    folder = tmp_path / "tiny"
    for name, objective in (("engagement", None), ("fair_5", {"exposure_fairness": 5})):
        (params,) = (folder / f"PPO-per_role-{name}").glob("*/params.json")
        overrides = json.loads(params.read_text())["env_config"]["overrides"]
        assert overrides.get("objective") == objective and overrides["reveal_exposure"]
        assert (folder / "best" / f"PPO-per_role-{name}" / "seed_0" / "best.json").is_file()
    out = write_report(folder, reps=100)
    scores = json.loads((out / "scores.json").read_text())
    names = {"PPO per_role engagement", "PPO per_role fair_5", "PPO per_role private",
             "random", "greedy_by_appeal"}
    assert set(scores["policies"]) == names
    front = scores["tradeoff"]["non_dominated"]
    assert front and set(front) <= names
    gini = scores["tradeoff"]["estimates"]["provider_exposure_gini"]
    engagement = scores["tradeoff"]["estimates"]["engagement_per_session"]
    for a in front:  # nothing dominates a non-dominated policy
        assert not any(engagement[b][0] >= engagement[a][0] and gini[b][0] <= gini[a][0]
                       and (engagement[b][0], gini[b][0]) != (engagement[a][0], gini[a][0])
                       for b in names)
    report = (out / "report.md").read_text()
    assert "| PPO per_role fair_5 |" in report and "non-dominated" in report
    assert '`fair_5` `{"objective": {"exposure_fairness": 5}}`' in report
    assert scores["privacy"] == {"PPO per_role engagement": None, "PPO per_role fair_5": None,
                                 "PPO per_role private": 1.0}
    assert "## Private user feedback" in report and (out / "privacy.png").stat().st_size > 5000


@pytest.mark.parametrize("scheduler", ["asha", pytest.param("pbt", marks=pytest.mark.slow)])
def test_a_search_tunes_on_its_own_seed_and_the_winner_trains_on_the_specs_seeds(
        local_ray, tmp_path, scheduler):
    import io

    from rich.console import Console

    from marlrec.report.experiment_report import write_report
    from marlrec.training.run import run_experiment

    spec = tiny_spec(tmp_path, seeds=[0], stop={"env_steps": 400},
                     search={"space": {"lr": {"loguniform": [0.0001, 0.01]},
                                       "num_epochs": {"choice": [1, 2]}},
                             "scheduler": scheduler, "num_samples": 3, "seed": 77,
                             "evaluation_seed": 90_000},
                     evaluation={"episodes": 2, "seed": 1000, "every_env_steps": 200,
                                 "absolute_factor": 2, "baselines": ["random"]},
                     logging={"results_dir": str(tmp_path), "wandb_mode": "disabled"})
    console = Console(file=io.StringIO(), width=200)  # the live table, as `marlrec run` shows
    run_experiment(spec, console=console)
    folder = tmp_path / "tiny"
    entry = json.loads((folder / "search.json").read_text())["PPO-per_role"]
    shown = console.file.getvalue()  # the search's trials beside the comparison's
    last = dict(re.findall(r"(PPO-per_role search \d)\s+(done|stopped early|running)", shown))
    assert sorted(last.values()) == sorted("done" if t["completed"] else "stopped early"
                                           for t in entry["trials"])
    assert re.search(r"PPO-per_role seed 0\s+done", shown) and "1,600 / 1,600 env steps" in shown
    assert entry["scheduler"] == scheduler and len(entry["trials"]) == 3
    assert entry["seed"] == 77 and entry["evaluation_seed"] == 90_000
    completed = [t for t in entry["trials"] if t["completed"]]
    assert completed and entry["winner_score"] == max(t["score"] for t in completed)
    assert 0.0001 <= entry["winner"]["lr"] <= 0.01 and entry["winner"]["num_epochs"] in (1, 2)
    assert not (folder / "best" / "PPO-per_role" / "seed_77").exists()  # nothing kept
    (params,) = (folder / "PPO-per_role").glob("*/params.json")
    trained = json.loads(params.read_text())
    assert trained["seed"] == 0  # the comparison's own seed, with the winner's keys
    assert trained["lr"] == pytest.approx(entry["winner"]["lr"])
    assert trained["num_epochs"] == entry["winner"]["num_epochs"]
    report = (write_report(folder, reps=100) / "report.md").read_text()
    assert "## Hyperparameter search (before the comparison)" in report
    assert f"### PPO-per_role: {scheduler.upper()}, 3 samples, tuning seed 77" in report


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
