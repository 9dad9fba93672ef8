"""The slate policy's objective (envs.objectives): the default is today's reward exactly,
each term is what the episode metrics measure, exposure fairness sums to the Gini."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs.metrics import gini
from envs.objectives import (
    SlateObjective,
    exposure_fairness_of_providers,
    exposure_fairness_terms,
)

SMALL = {"num_sessions": 4, "num_candidates": 6, "slate_size": 3, "horizon": 60,
         "num_providers": 6}


def play(objective=None, seed=0, steps=None, **overrides):
    """Random actions (the same for every objective) on a small env; per-step slate and
    user rewards and the env at the end."""
    params = {**SMALL, **overrides}
    if objective is not None:
        params["objective"] = objective
    env = envs.make_env("interest_evolution", **params)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    cfg = env.config
    b, s = cfg.num_sessions, cfg.slate_size
    slate_rewards, user_rewards, provider_impressions = [], [], []
    for _ in range(steps or cfg.horizon):
        if not env.agents:
            break
        provider_impressions.append(env.metrics.provider_impressions.copy())
        slates = np.stack([rng.permutation(cfg.num_candidates)[:s] for _ in range(b)])
        users = rng.integers(0, s + 2, b)
        releases = rng.integers(0, env.catalog.num_topics + 1, env.catalog.num_providers)
        rewards, _, _ = env.step_arrays(slates, users, releases)
        slate_rewards.append(np.array(rewards["slate_policy"], np.float64))
        user_rewards.append(rewards["user"])
    return np.array(slate_rewards), np.array(user_rewards), provider_impressions, env


def test_default_objective_is_the_watch_time_exactly():
    default, _, _, env = play()
    explicit, *_ = play({"engagement": 1.0, "novelty": 0})
    assert env.config.objective == SlateObjective()
    assert np.array_equal(default, explicit)
    # the reward of every earlier version: each step's watch time, summing to engagement
    assert default.sum() == pytest.approx(env.metrics.engagement_total, rel=1e-6)
    assert np.array_equal(default > 0, default != 0)


def test_each_term_is_what_the_metrics_measure():
    s = SMALL["slate_size"]
    clicks, _, _, env = play({"engagement": 0, "clicks": 1})
    assert clicks.sum() == env.metrics.clicks
    utility, user_rewards, _, _ = play({"engagement": 0, "utility": 1})
    assert np.allclose(utility, user_rewards)
    diversity, _, _, env = play({"engagement": 0, "diversity": 1})
    assert diversity.sum() == pytest.approx(env.metrics.diversity_sum, rel=1e-6)
    assert diversity.min() >= 0 and diversity.std() > 0
    novelty, _, _, env = play({"engagement": 0, "novelty": 1})
    assert novelty.sum() == pytest.approx(env.metrics.novelty_sum / s, rel=1e-6)


def test_weights_combine_linearly():
    engagement, *_ = play()
    diversity, *_ = play({"engagement": 0, "diversity": 1})
    fairness, *_ = play({"engagement": 0, "exposure_fairness": 1})
    mixed, *_ = play({"engagement": 0.5, "diversity": -2, "exposure_fairness": 3})
    assert np.allclose(mixed, 0.5 * engagement - 2 * diversity + 3 * fairness)


def test_exposure_fairness_rewards_the_less_exposed():
    c = np.array([0.0, 5, 5, 10, 30])
    scores = exposure_fairness_of_providers(c, slate_size=1)
    assert scores[0] == scores.max() and scores[-1] == scores.min()
    assert scores[1] == pytest.approx(scores[2])  # tied exposure, tied score
    assert scores[0] > 0 > scores[-1]
    assert np.all(exposure_fairness_of_providers(np.zeros(4), 2) == 0)  # nothing shown yet
    # a slate's term: its Gini decrease x C / S, slates after the earlier slots' slates
    owners = np.array([[0, 1], [4, 4], [0, 0]])
    terms = exposure_fairness_terms(c, owners)
    after = [c + [1, 1, 0, 0, 0], c + [1, 1, 0, 0, 2], c + [3, 1, 0, 0, 2]]
    ginis = [gini(c), *(gini(a) for a in after)]
    assert terms == pytest.approx(-(c.sum() / 2) * np.diff(ginis))
    assert terms[0] > 0 > terms[1]
    # for a large exposure: G(c) - (1/P) sum_q sign(c_p - c_q), the Gini's -C dG/dc_p
    large = 1000 * c + np.arange(c.size)  # no ties
    rank_term = gini(large) - np.sign(large[:, None] - large[None]).mean(axis=1)
    assert exposure_fairness_of_providers(large, 1) == pytest.approx(rank_term, abs=1e-3)


def test_exposure_fairness_sums_to_the_gini_decrease():
    """sum_{t >= 1} (S / C_t) sum_j term_{j,t} = G(after step 0) - G(final), exactly."""
    s = SMALL["slate_size"]
    rewards, _, before, env = play({"engagement": 0, "exposure_fairness": 1}, horizon=200)
    assert rewards[0].tolist() == [0.0] * SMALL["num_sessions"]  # no exposure before step 0
    total = sum(s / c.sum() * r.sum() for r, c in zip(rewards[1:], before[1:], strict=True))
    decrease = gini(before[1]) - gini(env.metrics.provider_impressions)
    assert decrease > 0.1
    assert total == pytest.approx(decrease, rel=1e-9)


def test_fairness_weight_lowers_the_exposure_gini_of_a_greedy_slate():
    """A slate chosen greedily by the fairness term spreads exposure more evenly than one
    chosen by appeal (the term points the right way)."""
    def final_gini(by_fairness: bool) -> float:
        env = envs.make_env("interest_evolution", **SMALL)
        env.reset(seed=3)
        rng = np.random.default_rng(3)
        s = env.config.slate_size
        for _ in range(env.config.horizon):
            obs = env.role_observations()["slate_policy"]
            if by_fairness:
                owners = env.market.owner[env._candidates]
                score = exposure_fairness_of_providers(env.metrics.provider_impressions,
                                                       s)[owners]
            else:
                score = obs["candidate_features"][..., 0]
            slates = np.argsort(-score, axis=1, kind="stable")[:, :s]
            users = rng.integers(0, s + 1, env.config.num_sessions)
            env.step_arrays(slates, users, np.zeros(env.catalog.num_providers, np.int64))
        return gini(env.metrics.provider_impressions)

    assert final_gini(True) < final_gini(False)


@pytest.mark.parametrize(("objective", "message"), [
    ({"fairness": 1.0}, "unknown objective parameter(s) ['fairness']; allowed: ['clicks'"),
    ({"diversity": "high"}, "objective.diversity='high' must be a finite number"),
    ({"clicks": True}, "objective.clicks=True must be a finite number"),
    ({"novelty": float("nan")}, "objective.novelty=nan must be a finite number"),
])
def test_bad_objective_is_refused(objective, message):
    with pytest.raises(ValueError) as info:
        envs.make_env("interest_evolution", **SMALL, objective=objective)
    assert message in str(info.value)


def test_objective_describes_itself():
    assert SlateObjective().describe() == "1 engagement"
    assert SlateObjective(engagement=1, exposure_fairness=2, diversity=-0.5).describe() == (
        "1 engagement + 2 exposure_fairness - 0.5 diversity")


def test_reveal_exposure_shows_each_candidates_fairness_term():
    env = envs.make_env("interest_evolution", **SMALL, reveal_exposure=True)
    space = env.observation_space("slate_policy_0")["candidate_features"]
    assert space.shape == (SMALL["num_candidates"], len(envs.ecosystem.CANDIDATE_FEATURES) + 1)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    s = SMALL["slate_size"]
    for _ in range(5):
        slates = np.stack([rng.permutation(SMALL["num_candidates"])[:s] for _ in range(4)])
        env.step_arrays(slates, rng.integers(0, s + 2, 4),
                        np.zeros(env.catalog.num_providers, np.int64))
    shown = env.role_observations()["slate_policy"]["candidate_features"][..., -1]
    owners = env.market.owner[env._candidates]
    expected = exposure_fairness_of_providers(env.metrics.provider_impressions, s)[owners]
    assert np.allclose(shown, expected, atol=1e-6) and shown.std() > 0
    assert env.observation_space("slate_policy_0")["candidate_features"].contains(
        env.role_observations()["slate_policy"]["candidate_features"][0])
