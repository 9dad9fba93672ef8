"""Logged data and off-policy evaluation (marlrec.offline): exact Plackett-Luce
propensities, estimators that recover known values, and `marlrec log` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from marlrec.cli import main
from marlrec.config.spec import SpecError, parse_spec
from marlrec.offline.estimators import estimate, indicators, pseudo_inverse_weights
from marlrec.offline.logging_policy import (
    ordered_slates,
    position_softmax,
    sample_slates,
    slate_probabilities,
)
from marlrec.offline.logs import read_parquet


def test_plackett_luce_probabilities_are_exact_and_match_the_draws():
    rng = np.random.default_rng(0)
    weights = position_softmax(np.array([[2.0, 1.0, 0.0, -1.0]]), temperature=0.7)
    slates = ordered_slates(4, 2)
    assert slates.shape == (12, 2)
    probs = slate_probabilities(weights, slates)[0]
    assert probs.sum() == pytest.approx(1.0)
    draws, drawn_prob = sample_slates(np.repeat(weights, 100_000, axis=0), 2, rng)
    index = {tuple(s): k for k, s in enumerate(slates.tolist())}
    counts = np.bincount([index[tuple(d)] for d in draws.tolist()], minlength=12) / 100_000
    assert np.allclose(counts, probs, atol=0.005)
    assert np.allclose(drawn_prob, probs[[index[tuple(d)] for d in draws.tolist()]])
    assert not (draws[:, 0] == draws[:, 1]).any()  # without replacement


def synthetic_log(n: int, rng: np.random.Generator, c: int = 5, s: int = 2):
    """Contexts with item values ``v (n, c)``; an additive reward ``v[a_1] + 0.5 v[a_2]``
    plus noise; a Plackett-Luce logger on noisy scores; the greedy target on ``v``."""
    values = rng.normal(size=(n, c))
    weights = position_softmax(values + rng.normal(size=(n, c)), temperature=1.0)
    logged, prob = sample_slates(weights, s, rng)
    rows = np.arange(n)
    rewards = values[rows, logged[:, 0]] + 0.5 * values[rows, logged[:, 1]] + rng.normal(
        scale=0.5, size=n)
    target = np.argsort(-values, axis=1)[:, :s]
    truth = values[rows, target[:, 0]] + 0.5 * values[rows, target[:, 1]]
    all_slates = ordered_slates(c, s)
    pi_weights = pseudo_inverse_weights(slate_probabilities(weights, all_slates), all_slates,
                                        logged, indicators(target, c))
    w = np.all(logged == target, axis=1) / prob
    features = values[rows[:, None], logged]  # per position: the item's value
    target_features = values[rows[:, None], target]
    return rewards, w, pi_weights, features, target_features, truth.mean()


def test_estimators_recover_the_value_of_a_target_under_an_additive_reward():
    rng = np.random.default_rng(1)
    rewards, w, pi_w, features, target_features, truth = synthetic_log(40_000, rng)
    values = estimate(rewards, w, pi_w, features, target_features, rng)
    for name in ("IPS", "SNIPS", "PI", "DR", "DM"):  # unbiased (or consistent) here
        assert values[name] == pytest.approx(truth, abs=0.1), name
    # PI's weights are far smaller than whole-slate IPS weights: its spread is smaller
    assert np.std(pi_w * rewards) < np.std(w * rewards)


TINY = {
    "name": "tiny_ope",
    "env": {"preset": "interest_evolution", "params": {
        "catalog": "synthetic", "num_sessions": 4, "num_candidates": 6, "slate_size": 2,
        "horizon": 40, "user_state": "item_mean"}},
    "roles": {"slate_policy": {"learned": True}, "provider": {"learned": False}},
    "offline": {"baseline": "greedy_by_appeal", "temperature": 1.0, "episodes": 3,
                "seed": 7, "targets": ["greedy_by_appeal", "random"], "sizes": [20, 100],
                "repeats": 3}}


def test_marlrec_log_writes_parquet_logs_and_the_estimators_study(tmp_path):
    spec = {**TINY, "logging": {"results_dir": str(tmp_path), "wandb_mode": "disabled"}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["log", str(path)]) == 0
    out = tmp_path / "tiny_ope" / "offline"
    logs = read_parquet(out / "interactions.parquet")
    n = logs["rewards"].size
    assert n > 300 and logs["obs"].shape[0] == n and logs["actions"].shape == (n, 2)
    assert np.allclose(np.log(logs["action_prob"]), logs["action_logp"])
    assert set(np.unique(logs["clicked_position"])) <= {-1, 0, 1}
    assert np.all((logs["rewards"] > 0) == (logs["clicked_position"] >= 0))
    # the logged rewards are draws of the logged slates' expected rewards
    se = logs["rewards"].std() / np.sqrt(n)
    assert abs(logs["rewards"].mean() - logs["expected_reward"].mean()) < 5 * se
    study = json.loads((out / "ope.json").read_text())
    assert study["rows"] == n and study["provenance"]["command"].startswith("marlrec log")
    for target in ("greedy_by_appeal", "random"):
        entry = study["targets"][target]
        assert set(entry["by_size"]["100"]) == {"IPS", "SNIPS", "DM", "DR", "PI"}
        assert entry["truth"] == pytest.approx(logs[f"target_{target}_value"].mean())
    assert (out / "ope_error.png").stat().st_size > 10_000
    assert "## random: true value" in (out / "ope.md").read_text()
    # the same spec again: the same logs (seeded), the folder replaced atomically
    assert main(["log", str(path)]) == 0
    again = read_parquet(out / "interactions.parquet")
    assert np.array_equal(again["rewards"], logs["rewards"])


@pytest.mark.parametrize(("offline", "message"), [
    ({"baseline": "oracle"}, "experiment.offline.baseline: 'oracle' is not one of"),
    ({"temperature": 0}, "experiment.offline.temperature: 0.0 must be > 0"),
    ({"sizes": [100, 20]}, "experiment.offline.sizes: [100, 20] must be increasing"),
    ({"targets": ["PPO"]}, "experiment.offline.targets[0]: 'PPO' is not one of"),
    ({"repeats": 1}, "experiment.offline.repeats: 1 must be >= 2"),
])
def test_bad_offline_sections_name_the_key(offline, message):
    with pytest.raises(SpecError) as info:
        parse_spec({**TINY, "offline": {**TINY["offline"], **offline}})
    assert message in str(info.value)


def test_marlrec_log_needs_an_offline_section_and_scripted_choice_model_users(tmp_path):
    path = tmp_path / "none.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in TINY.items() if k != "offline"}))
    assert main(["log", str(path)]) == 2
    with pytest.raises(SpecError, match="the user role is learned"):
        parse_spec({**TINY, "roles": {"user": {"learned": True}}})


def test_slate_policies_trained_from_the_logs_play_online_beside_the_logging_policy(tmp_path):
    """BC (RLlib's offline algorithm, new API stack) trains the candidate-scoring actor
    from the Parquet logs; the trained run, the logging policy and a baseline then play the
    evaluation protocol's episodes."""
    spec = {**TINY, "seeds": [0],
            "offline": {**TINY["offline"], "targets": ["random"], "sizes": [20],
                        "train": ["BC"], "train_iterations": 2, "train_batch_size": 64},
            "evaluation": {"episodes": 1, "seed": 1000, "absolute_factor": 2,
                           "baselines": ["greedy_by_appeal"]},
            "logging": {"results_dir": str(tmp_path), "wandb_mode": "disabled"}}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["log", str(path)]) == 0
    out = tmp_path / "tiny_ope" / "offline"
    trained = json.loads((out / "ope.json").read_text())["offline_training"]
    assert set(trained["policies"]) == {"BC from the logs", "logging policy",
                                        "greedy_by_appeal"}
    for figures in trained["policies"].values():
        assert len(figures["runs"]) == 1 and figures["runs"][0] > 0
    assert "## Slate policies trained from the logs, evaluated online" in (
        out / "ope.md").read_text()
    import ray

    assert not ray.is_initialized()  # the Ray that marlrec log started is gone


def test_the_study_table_shows_each_log_size_once():
    from marlrec.offline.estimators import ESTIMATORS
    from marlrec.offline.study import study_markdown

    cell = {"bias": 0.1, "std": 0.2, "rmse": 0.3}
    study = {"rows": 5000, "repeats": 3, "sizes": [1000],
             "logging_value": {"logged_reward_mean": 2.0, "expected": 2.0},
             "targets": {"random": {"truth": 1.0, "logged_share": 1.0, "max_weight": 9.0,
                                    "by_size": {1000: dict.fromkeys(ESTIMATORS, cell)}}}}
    text = study_markdown(study, "marlrec log x.yaml", "a logger")
    header = next(line for line in text.splitlines() if line.startswith("| estimator"))
    assert header.count("bias (n=1,000)") == 1
    study["sizes"] = [100, 1000]
    study["targets"]["random"]["by_size"][100] = dict.fromkeys(ESTIMATORS, cell)
    header = next(line for line in study_markdown(study, "c", "l").splitlines()
                  if line.startswith("| estimator"))
    assert "bias (n=100)" in header and "bias (n=1,000)" in header
