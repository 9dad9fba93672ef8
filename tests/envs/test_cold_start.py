"""Cold start (envs/cold_start.py): new users and items, their separate metrics, the id state."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from pettingzoo.test import parallel_api_test, parallel_seed_test

import envs
from envs.cold_start import PRIOR_HISTORY_LENGTH
from envs.encoding import unit_rows
from envs.metrics import COLD_START_METRICS, EpisodeMetrics
from envs.observation import CANDIDATE_FEATURES

SMALL = {"num_sessions": 4, "num_candidates": 6, "slate_size": 2, "horizon": 60}
TRAIN = {"user_share": 0.3, "item_share": 0.3, "include_cold": False}
EVALUATE = {**TRAIN, "include_cold": True}


def cold_env(include_cold=True, **overrides):
    split = EVALUATE if include_cold else TRAIN
    return envs.make_env("interest_evolution", **{**SMALL, "cold_start": split, **overrides})


def play(env, episodes, seed, on_step=lambda env: None):
    """Episodes of random actions; ``on_step(env)`` after each reset and step; returns each
    episode's metrics."""
    out = []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        for agent in env.possible_agents:
            env.action_space(agent).seed(seed + episode)
        on_step(env)
        while env.agents:
            _, _, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
            on_step(env)
        out.append(next(iter(infos.values()))["episode_metrics"])
    return out


@pytest.mark.parametrize("user_state", ["item_mean", "text", "id"])
@pytest.mark.parametrize("include_cold", [False, True])
def test_pettingzoo_api_and_seeding_with_cold_start(user_state, include_cold):
    env = cold_env(include_cold, user_state=user_state)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(env, num_cycles=60)
    parallel_seed_test(lambda: cold_env(include_cold, user_state=user_state))


def test_the_split_draws_the_shares_and_is_fixed_by_its_seed():
    env = cold_env()
    split = env.cold_split
    assert split.cold_users.sum() == round(0.3 * env.population.num_users)
    assert split.cold_items.sum() == round(0.3 * env.catalog.num_items)
    again = cold_env().cold_split
    assert np.array_equal(again.cold_users, split.cold_users)
    other = cold_env(cold_start={**EVALUATE, "seed": 1}).cold_split
    assert not np.array_equal(other.cold_items, split.cold_items)
    # users and items come from their own streams: more new users, the same new items
    more_users = cold_env(cold_start={**EVALUATE, "user_share": 0.5}).cold_split
    assert np.array_equal(more_users.cold_items, split.cold_items)


def test_training_never_meets_a_cold_user_or_item_and_its_split_metrics_are_nan():
    env = cold_env(include_cold=False)
    seen_users, seen_items = set(), set()

    def record(env):
        seen_users.update(env.session_users.tolist())
        seen_items.update(env.candidate_items.ravel().tolist())
        assert not (env.market.live & env.cold_split.cold_items).any()

    episodes = play(env, 3, seed=0, on_step=record)
    assert not env.cold_split.cold_users[sorted(seen_users)].any()
    assert not env.cold_split.cold_items[sorted(seen_items)].any()
    for metrics in episodes:
        assert np.isnan(metrics["engagement_per_session_cold_users"])
        assert np.isnan(metrics["ctr_cold_users"]) and np.isnan(metrics["item_ctr_cold"])
        assert metrics["cold_item_impression_share"] == 0.0
        assert metrics["engagement_per_session_warm_users"] > 0


def test_evaluation_lets_cold_users_and_items_in_at_their_share():
    env = cold_env(include_cold=True)
    arrivals, candidates = [], []

    def record(env):
        arrivals.extend(env.session_users.tolist())
        candidates.extend(env.candidate_items.ravel().tolist())

    play(env, 4, seed=0, on_step=record)
    cold_share = env.cold_split.cold_users[arrivals].mean()
    assert 0.15 < cold_share < 0.45  # 30% of the population, sessions drawn uniformly
    assert 0.1 < env.cold_split.cold_items[candidates].mean() < 0.5


def test_a_cold_item_shows_no_appeal_or_popularity_until_clicked_but_users_see_its_appeal():
    env = cold_env(include_cold=True)
    env.reset(seed=0)
    obs = env.role_observations()
    cand = env.candidate_items
    cold = env.cold_split.cold_items[cand]
    assert cold.any() and (~cold).any()
    features = obs["slate_policy"]["candidate_features"]
    appeal = CANDIDATE_FEATURES.index("appeal")
    popularity = CANDIDATE_FEATURES.index("popularity")
    assert np.all(features[..., appeal][cold] == 0.0)
    assert np.all(features[..., popularity][cold] == 0.0)
    assert np.allclose(features[..., appeal][~cold], env.catalog.appeal[cand][~cold])
    attributes = cold_env(include_cold=True, item_attributes=True)
    attributes.reset(seed=0)
    columns = attributes.role_observations()["slate_policy"]["candidate_attributes"]
    column = attributes.item_features.names.index("popularity")
    assert np.all(columns[..., column][cold] == 0.0) and columns[..., column][~cold].any()
    # the user's view of a slate keeps the true appeal: the choice model is unchanged
    shown = env.shown_items
    assert np.allclose(obs["user"]["slate_features"][..., 0], env.catalog.appeal[shown])


def test_warm_users_start_with_their_past_and_cold_users_with_their_profile_only():
    env = cold_env(include_cold=True, user_state="item_mean")
    prior, split = env.population.prior_history, env.cold_split
    h = env.config.user_model.history_length
    for seed in range(6):
        env.reset(seed=seed)
        for slot, user in enumerate(env.session_users):
            history = env._history[slot]
            if split.cold_users[user]:
                assert np.all(history == -1)
                expected = env._profile_vectors[user]
            else:
                past = prior[user][prior[user] >= 0]
                past = past[~split.cold_items[past]][:h]
                assert np.array_equal(history[: past.size], past)
                expected = unit_rows(env.item_vectors[past].sum(axis=0, keepdims=True))[0]
            obs = env.role_observations()["slate_policy"]["user_state"][slot]
            assert np.allclose(obs, env.to_observation_basis(expected), atol=1e-5)
    text = cold_env(include_cold=True, user_state="text")
    text.reset(seed=0)
    for slot, state in enumerate(text.state_texts(np.arange(SMALL["num_sessions"]))):
        cold_user = split.cold_users[text.session_users[slot]]
        assert ("Recently watched" in state) != cold_user


def test_episode_metrics_split_cold_and_warm_by_hand():
    cold_items = np.array([False, False, True, True])
    metrics = EpisodeMetrics(2, 4, 1, np.ones(4), cold_items=cold_items)
    metrics.start_sessions(np.array([0, 1]), np.array([False, True]))
    slates = np.array([[0, 2], [3, 1]])
    vectors = np.zeros((2, 2, 3), np.float32)
    metrics.record_slates(slates, vectors, np.array([4]))
    # slot 0 (warm user) clicks item 2 (cold) watching 3; slot 1 (cold user) skips
    metrics.record_responses(np.array([True, False]), np.array([3.0, 0.0]),
                             np.array([1.0, 0.0]), np.array([2, 3]))
    metrics.record_slates(slates, vectors, np.array([4]))
    # slot 0 skips; slot 1 clicks item 1 (warm) watching 2
    metrics.record_responses(np.array([False, True]), np.array([0.0, 2.0]),
                             np.array([0.0, 1.0]), np.array([0, 1]))
    metrics.end_sessions(np.array([0, 1]))
    out = metrics.summary(np.ones(4, bool), 1)
    assert out["engagement_per_session_warm_users"] == 3.0
    assert out["engagement_per_session_cold_users"] == 2.0
    assert out["ctr_warm_users"] == 0.5 and out["ctr_cold_users"] == 0.5
    assert out["cold_item_impression_share"] == 0.5  # 4 of 8 impressions
    assert out["item_ctr_cold"] == 0.25 and out["item_ctr_warm"] == 0.25
    assert set(COLD_START_METRICS) <= set(out)
    plain = EpisodeMetrics(2, 4, 1, np.ones(4)).summary(np.ones(4, bool), 1)
    assert not set(COLD_START_METRICS) & set(plain)


def test_id_state_shows_platform_ids_with_zero_for_new_users_and_items():
    env = cold_env(include_cold=True, user_state="id")
    env.reset(seed=3)
    obs = env.role_observations()["slate_policy"]
    assert "user_state" not in obs and "candidates" not in obs
    users, cand = env.session_users, env.candidate_items
    expected_users = np.where(env.cold_split.cold_users[users], 0, users + 1)
    assert np.array_equal(obs["user_id"][:, 0], expected_users)
    expected_items = np.where(env.cold_split.cold_items[cand], 0, cand + 1)
    assert np.array_equal(obs["candidate_ids"], expected_items)
    assert np.all(obs["candidate_features"][..., CANDIDATE_FEATURES.index("similarity")] == 0)
    space = env.observation_space("slate_policy_0")
    assert space["user_id"].high[0] == env.population.num_users


def test_id_embeddings_cannot_tell_new_items_apart_and_never_train_their_row():
    from marlrec.algorithms.actor_critic import build_actor_critic

    env = cold_env(include_cold=True, user_state="id")
    space = env.observation_space("slate_policy_0")
    module = build_actor_critic(space, env.action_space("slate_policy_0"))
    env.reset(seed=0)
    obs = {k: torch.as_tensor(v[:1]) for k, v in env.role_observations()["slate_policy"].items()}
    cold = np.flatnonzero(env.cold_split.cold_items)
    warm = np.flatnonzero(~env.cold_split.cold_items)

    def first_slot_logits(item_a, item_b):
        o = dict(obs)
        ids = o["candidate_ids"].clone()
        ids[0, 0], ids[0, 1] = item_a, item_b
        o["candidate_ids"] = ids
        features = o["candidate_features"].clone()
        features[0, 1] = features[0, 0]  # the two candidates differ by their ids only
        o["candidate_features"] = features
        flat = torch.cat([o[k].reshape(1, -1) for k in sorted(o)], dim=1)
        return module.actor(flat)[0, :2]

    observed = env.cold_split.observed_item_ids
    a, b = observed(cold[:2])  # two different new items: both id 0
    logits = first_slot_logits(float(a), float(b))
    assert torch.isclose(logits[0], logits[1])
    a, b = observed(warm[:2])  # two known items: their embeddings differ
    logits = first_slot_logits(float(a), float(b))
    assert not torch.isclose(logits[0], logits[1])
    logits.sum().backward()
    table = module.actor[0].items
    assert torch.all(table.weight[0] == 0) and torch.all(table.weight.grad[0] == 0)


def test_prior_histories_of_synthetic_users_are_distinct_items_near_their_interest():
    env = envs.make_env("interest_evolution", **SMALL)
    prior = env.population.prior_history
    assert prior.shape == (env.population.num_users, PRIOR_HISTORY_LENGTH)
    assert all(len(set(row)) == PRIOR_HISTORY_LENGTH for row in prior[:50])
    affinity = np.einsum("ud,ukd->uk", env.population.interest, env.item_vectors[prior])
    everything = env.population.interest @ env.item_vectors.T
    assert affinity.mean() > everything.mean() + 0.2


def test_movielens_prior_history_is_each_users_ratings_latest_first(movielens_data):
    from envs.users import movielens_prior_history

    data = movielens_data
    prior = movielens_prior_history(data, np.ones(data.n_ratings, bool))
    for user in (0, 5, 300):
        rows = np.flatnonzero(data.rating_user == user)
        times = data.rating_time[rows]
        n = min(PRIOR_HISTORY_LENGTH, rows.size)
        assert np.all(np.diff(data.rating_time[[
            rows[np.flatnonzero(data.rating_item[rows] == i)[0]] for i in prior[user, :n]]]) <= 0)
        assert data.rating_time[rows[data.rating_item[rows] == prior[user, 0]]][0] == times.max()
        assert np.all(prior[user, n:] == -1)


def test_warm_movielens_users_start_with_training_ratings_only(movielens_data):
    """A warm user's past is what they rated in the env's training split: the held-out
    ratings, which the offline ranking scores, never open a session."""
    from envs.movielens import heldout_split
    from envs.users import movielens_prior_history

    data = movielens_data
    env = cold_env(catalog="movielens-100k")
    train = heldout_split(data, 0.2, seed=0)  # the env's default split
    prior = env.population.prior_history
    np.testing.assert_array_equal(prior, movielens_prior_history(data, train))
    held_out = np.zeros((data.n_users, data.n_items), bool)
    held_out[data.rating_user[~train], data.rating_item[~train]] = True
    users = np.repeat(np.arange(data.n_users), PRIOR_HISTORY_LENGTH)
    known = prior.ravel() >= 0
    assert not held_out[users[known], prior.ravel()[known]].any()
    env.reset(seed=0)
    for slot, user in enumerate(env.session_users):
        shown = env._history[slot][env._history[slot] >= 0]
        assert not held_out[user, shown].any()


@pytest.mark.parametrize("raw, fragment", [
    ({"user_share": 1.0}, "cold_start.user_share=1.0 must be a number in [0, 1)"),
    ({"item_share": "many"}, "cold_start.item_share='many'"),
    ({"include_cold": "yes"}, "cold_start.include_cold='yes' must be true or false"),
    ({"seed": -1}, "cold_start.seed=-1"),
    ({"users": 0.2}, "unknown cold_start parameter(s) ['users']; allowed:"),
])
def test_bad_cold_start_settings_name_the_field_value_and_allowed(raw, fragment):
    with pytest.raises(ValueError) as error:
        envs.make_env("interest_evolution", **SMALL, cold_start=raw)
    assert fragment in str(error.value)


def test_cold_start_needs_users_with_a_past():
    with pytest.raises(ValueError, match="cold_start needs users with a prior history"):
        envs.make_env("recsim_interest_evolution", num_items=300, num_users=50,
                      cold_start=EVALUATE)
