"""Experiments whose reports show MovieLens ranking, cold start, variants' Pareto fronts, and
a search (split from test_run.py so that the two pytest workers can take one file each)."""

from __future__ import annotations

import json
import re

import pytest

ray = pytest.importorskip("ray")

from run_specs import TINY, movielens_spec, tiny_spec  # noqa: E402


def test_a_movielens_report_puts_held_out_ranking_next_to_simulated_metrics(
        local_ray, movielens_data, tmp_path):
    from marlrec.report.experiment_report import write_report
    from marlrec.training.run import run_experiment

    spec = movielens_spec(tmp_path, {
        "episodes": 2, "seed": 1000, "every_env_steps": 200, "absolute_factor": 2,
        "baselines": ["random", "popularity", "collaborative_filtering"]})
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

    spec = movielens_spec(tmp_path, {
        "episodes": 2, "seed": 1000, "every_env_steps": 200, "absolute_factor": 2,
        "baselines": ["random", "greedy_by_appeal"],
        "env_params": {"cold_start": {"include_cold": True}}},
        user_state="id", num_sessions=4,
        cold_start={"user_share": 0.4, "item_share": 0.2, "include_cold": False})
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
