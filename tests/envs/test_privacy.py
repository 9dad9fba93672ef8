"""Local differential privacy of user feedback (envs.privacy): the mechanism's
distribution, its guarantee, and that only the platform's view is noised."""

from __future__ import annotations

import math

import numpy as np
import pytest

import envs
from envs.privacy import keep_probability, privatise

SMALL = {"num_sessions": 4, "num_candidates": 6, "slate_size": 3, "horizon": 60}


def test_randomised_response_keeps_the_truth_with_the_stated_probability():
    rng = np.random.default_rng(0)
    epsilon, s, n = 1.5, 3, 200_000
    choice = np.full(n, 1)
    reports = privatise(choice, np.zeros(n), np.zeros(n), epsilon, s, 4.0, (-4.0, 4.0), rng)
    keep = keep_probability(epsilon / 3, s + 1)
    freq = np.bincount(reports.choice, minlength=s + 1) / n
    assert freq[1] == pytest.approx(keep, abs=0.005)
    for other in (0, 2, 3):  # the other values uniformly
        assert freq[other] == pytest.approx((1 - keep) / s, abs=0.005)
    # the guarantee of the choice part: any two responses' report probabilities differ by
    # at most e^(eps/3)
    assert keep / ((1 - keep) / s) == pytest.approx(math.exp(epsilon / 3))


def test_laplace_reports_are_unbiased_with_the_stated_scale():
    rng = np.random.default_rng(1)
    n, epsilon, bound = 200_000, 3.0, 4.0
    watch = np.full(n, 2.5)
    utility = np.full(n, -1.0)
    reports = privatise(np.zeros(n, np.int64), watch, utility, epsilon, 2, bound,
                        (-4.0, 4.0), rng)
    scale = bound / (epsilon / 3)
    assert reports.watch.mean() == pytest.approx(2.5, abs=0.05)
    assert np.abs(reports.watch - 2.5).mean() == pytest.approx(scale, rel=0.02)  # E|Lap| = b
    assert np.abs(reports.utility + 1.0).mean() == pytest.approx(8.0 / (epsilon / 3), rel=0.02)
    clipped = privatise(np.zeros(n, np.int64), np.full(n, 9.0), utility, 1e9, 2, bound,
                        (-4.0, 4.0), rng)
    assert np.allclose(clipped.watch, bound, atol=1e-6)  # clipped to [0, W] first


def play(epsilon, seed=0, **overrides):
    env = envs.make_env("interest_evolution", **{**SMALL, **overrides},
                        privacy_epsilon=epsilon)
    behaviours = envs.scripted_behaviours(env, "random")
    returns, histories, popularity = [], [], []
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actors = envs.ScriptedRoles(env, behaviours)
    while env.agents:
        obs = env.role_observations()
        actions = [actors.act(role, obs[role], rng) for role in envs.ROLES]
        rewards, _, _ = env.step_arrays(*actions)
        returns.append(rewards["slate_policy"].copy())
        histories.append(env._history.copy())
        popularity.append(obs["slate_policy"]["candidate_features"][..., 1].copy())
    return env.episode_metrics(), np.array(returns), histories, popularity


def test_the_users_behave_the_same_and_only_the_platforms_view_is_noised():
    """With random candidates (no retrieval by the user state or history) and random
    slates, nothing the users are shown depends on the platform's view: their responses,
    hence every episode metric, are the same at every epsilon, while rewards, histories and
    popularity are the reports'."""
    plain, rewards, history, popularity = play(None, retrieval_share=0.0)
    private, noisy, noisy_history, noisy_popularity = play(0.5, retrieval_share=0.0)
    assert private == plain
    assert not np.allclose(noisy, rewards)
    assert any(not np.array_equal(a, b) for a, b in zip(history, noisy_history,
                                                         strict=True))
    assert any(not np.allclose(a, b) for a, b in zip(popularity, noisy_popularity,
                                                     strict=True))
    # the reward is the reported watch time: unbiased, so about the true total on average
    assert noisy.sum() == pytest.approx(plain["engagement_total"],
                                        abs=6 * 12 / 0.5 * math.sqrt(2 * noisy.size))


def test_a_huge_epsilon_reports_the_truth():
    plain, rewards, history, _ = play(None)
    almost, reported, reported_history, _ = play(1e9)
    assert almost == plain
    assert np.allclose(reported, rewards, atol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(history, reported_history, strict=True))


@pytest.mark.parametrize("epsilon", [0, -1.0, float("inf"), "high", True])
def test_bad_epsilon_is_refused(epsilon):
    with pytest.raises(ValueError, match=r"privacy_epsilon=.* must be a finite number > 0"):
        envs.make_env("interest_evolution", **SMALL, privacy_epsilon=epsilon)
