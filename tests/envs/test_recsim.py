"""The recsim_interest_evolution preset: RecSim's interest_evolution dynamics in our env.

The formulas are checked on hand-computed single steps against RecSim 0.2.4's
``interest_evolution.py`` / ``choice_model.py``; the baselines' returns against RecSim's
own are measured by ``benchmarks/recsim_parity.py`` (docs/recsim_parity.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import envs
from envs.recsim import RECSIM_USER_MODEL, cluster_quality_means, recsim_catalog
from envs.users import choice_probabilities, recsim_interest_update

REPO = Path(__file__).resolve().parents[2]
PRESET = "recsim_interest_evolution"
ALPHA = 0.9 / 3.4  # RecSim's user_update_alpha: budget regained per unit of watch x quality


def recsim_env(**overrides):
    return envs.make_env(PRESET, **overrides)


def forced_step(env, click: int | None):
    """One step in which the user clicks shown item ``click`` (``None``: no click)."""
    s = env.config.slate_size
    user = np.array([s if click is None else click])
    return env.step_arrays(np.arange(s)[None], user, np.zeros(1, np.int64))


def test_passes_pettingzoo_api_and_seed_tests():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(recsim_env(), num_cycles=300)  # beyond a session's end
    parallel_seed_test(lambda: recsim_env(num_items=500, num_users=100))


def test_catalog_is_recsims_document_distribution():
    catalog = recsim_catalog(20_000, seed=3)
    means = cluster_quality_means()
    np.testing.assert_allclose(means[:14], np.linspace(-3, 0, 14))
    np.testing.assert_allclose(means[14:], np.linspace(0, 3, 6))
    np.testing.assert_array_equal(catalog.features.sum(axis=1), 1.0)
    np.testing.assert_array_equal(catalog.features.argmax(axis=1), catalog.topic)
    residual = catalog.quality - means[catalog.topic]
    assert abs(residual.std() - 0.1) < 0.005 and abs(residual.mean()) < 0.005
    counts = np.bincount(catalog.topic, minlength=20)
    assert counts.min() > 0.8 * 1000 and counts.max() < 1.2 * 1000  # uniform clusters


def test_observation_is_the_users_interest_and_one_hot_candidates():
    env = recsim_env()
    obs, _ = env.reset(seed=0)
    slate_obs = obs["slate_policy_0"]
    np.testing.assert_array_equal(slate_obs["user_state"], env._interest[0])
    assert np.all(np.abs(slate_obs["user_state"]) <= 1)
    np.testing.assert_array_equal(slate_obs["candidates"].sum(axis=1), 1.0)
    similarity = slate_obs["candidate_features"][:, envs.ecosystem.CANDIDATE_FEATURES.index(
        "similarity")]
    np.testing.assert_allclose(similarity, slate_obs["candidates"] @ env._interest[0],
                               rtol=1e-6)


def test_choice_probabilities_are_multinomial_proportional():
    # Interests 0.5 and -0.2 in the two shown documents' clusters: RecSim's scores minus
    # min_normalizer (-1): 1.5 and 0.8; no-click mass 1 - (-1) = 2.
    p = choice_probabilities(RECSIM_USER_MODEL, np.zeros((1, 2)), np.array([[0.5, -0.2]]))
    np.testing.assert_allclose(p, [[1.5 / 4.3, 0.8 / 4.3, 2.0 / 4.3]])
    env = recsim_env()
    obs, _ = env.reset(seed=1)
    user = envs.ChoiceModelUser(env.config.user_model)
    user_obs = obs["user_0"]
    affinity = user_obs["slate"] @ user_obs["interest"]
    mass = np.append(affinity + 1.0, 2.0)
    np.testing.assert_allclose(user.probabilities({k: v[None] for k, v in user_obs.items()})[0],
                               mass / mass.sum(), rtol=1e-6)
    draws = user.act_batch({k: np.repeat(v[None], 20_000, 0) for k, v in user_obs.items()},
                           np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(draws, minlength=3)[:3] / 20_000,
                               mass / mass.sum(), atol=0.015)


def test_click_watches_the_video_and_moves_the_budget_by_recsims_rule():
    env = recsim_env()
    env.reset(seed=2)
    item = env.shown_items[0, 0]
    quality = float(env.catalog.quality[item])
    rewards, ended, _ = forced_step(env, click=0)
    assert rewards["slate_policy"][0] == pytest.approx(4.0)  # min(budget 200, length 4)
    assert env._budget[0] == pytest.approx(200.0 - 4.0 + ALPHA * 4.0 * quality)
    assert ended.size == 0


def test_no_click_costs_the_step_penalty_only():
    env = recsim_env()
    env.reset(seed=2)
    rewards, _, _ = forced_step(env, click=None)
    assert rewards["slate_policy"][0] == 0.0
    assert env._budget[0] == pytest.approx(200.0 - 0.5)


def test_watch_time_is_capped_by_the_remaining_budget_and_the_session_ends_the_episode():
    env = recsim_env()
    env.reset(seed=4)
    env._budget[0] = 2.5
    item = env.shown_items[0, 1]
    quality = float(env.catalog.quality[item])
    before = list(env.agents)
    slate = np.array([[0, 1]])
    obs, rewards, terminations, truncations, infos = env.step(
        {"slate_policy_0": slate[0], "user_0": np.int64(1), "provider_0": np.int64(0)})
    assert rewards["slate_policy_0"] == pytest.approx(2.5)
    remaining = 2.5 - 2.5 + ALPHA * 2.5 * quality
    if remaining > 0:  # a nutritious video gives some time back: the session goes on
        assert env._budget[0] == pytest.approx(remaining) and env.agents == before
        return
    assert env.agents == [] and all(terminations.values()) and not any(truncations.values())
    metrics = infos["slate_policy_0"]["episode_metrics"]
    assert metrics["sessions_completed"] == 1.0


def test_episode_is_one_session_and_its_return_is_the_engagement():
    env = recsim_env()
    behaviours = envs.scripted_behaviours(env, "random")
    result = envs.rollout(env, behaviours, episodes=3, seed=5)
    for metrics, returns in zip(result.episode_metrics, result.role_returns, strict=True):
        assert metrics["sessions"] == metrics["sessions_completed"] == 1.0
        assert returns["slate_policy"] == pytest.approx(metrics["engagement_per_session"])
    assert result.env_steps < 3 * env.config.horizon  # every session ended before it


def test_interest_update_is_recsims_stochastic_rule():
    rng = np.random.default_rng(7)
    interest = np.array([[0.5, -0.4, 0.0]])
    consumed = np.array([[1.0, 0.0, 0.0]])
    u = np.random.default_rng(7).random(1)[0]
    step = 0.3 * (1 - 0.5) * (1 - 0.5)  # alpha(x) * (target - x), target 1
    expected = 0.5 + step if u < (0.5 + 1) / 2 else 0.5 - step
    out = recsim_interest_update(RECSIM_USER_MODEL, interest, consumed, rng)
    np.testing.assert_allclose(out, [[expected, -0.4, 0.0]])
    # The sign is positive with probability (x + 1) / 2.
    many = recsim_interest_update(RECSIM_USER_MODEL, np.repeat(interest, 20_000, 0),
                                  np.repeat(consumed, 20_000, 0), np.random.default_rng(0))
    assert np.mean(many[:, 0] > 0.5) == pytest.approx(0.75, abs=0.01)
    extreme = recsim_interest_update(RECSIM_USER_MODEL, np.array([[1.0, 0, 0]]), consumed, rng)
    np.testing.assert_allclose(extreme, [[1.0, 0, 0]])  # alpha(1) = 0: saturated


def test_baselines_order_random_below_myopic_below_quality_oracle():
    env = recsim_env()
    means = {}
    for policy in ("random", "greedy_by_similarity", "greedy_by_quality"):
        result = envs.rollout(env, envs.scripted_behaviours(env, policy), episodes=150, seed=9)
        means[policy] = result.mean_metrics()["engagement_per_session"]
    assert means["random"] < means["greedy_by_similarity"] < means["greedy_by_quality"]


def test_feature_catalog_needs_the_interest_state_and_one_session_per_episode():
    with pytest.raises(ValueError, match="user_state='item_mean' needs text embeddings"):
        recsim_env(user_state="item_mean")
    with pytest.raises(ValueError, match="session_ends_episode=True needs num_sessions=1, "
                                         "got num_sessions=4"):
        recsim_env(num_sessions=4)
    env = recsim_env(num_sessions=4, session_ends_episode=False)  # sessions replaced
    assert env.num_sessions == 4


def test_parity_benchmark_prints_json_last():
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "recsim_parity.py"), "--episodes", "3",
         "--no-recsim"], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("random", "myopic", "quality_oracle", "user_steps_per_s",
                "user_steps_per_s_batched"):
        assert result[key] > 0
    assert result["recsim_source"] == "skipped (--no-recsim)"
