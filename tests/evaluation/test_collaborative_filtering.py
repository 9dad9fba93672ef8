"""The collaborative-filtering baseline: ALS on the training split ranks held-out movies
better than popularity, and acts as a privileged slate policy in envs.rollout."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from marlrec.evaluation.collaborative_filtering import (
    CollaborativeFilteringSlate,
    movielens_cf_baseline,
    train_als,
)
from marlrec.evaluation.user_model_check import heldout_split, ndcg_at_k, rated_matrix


def test_als_on_the_training_split_beats_popularity_on_held_out_ratings(movielens_data):
    data = movielens_data
    train = heldout_split(data, 0.2, seed=0)
    factors = train_als(data, train, seed=0)
    seen = rated_matrix(data, train)
    held_out = rated_matrix(data, ~train)
    candidates = ~seen  # rank the movies each user has not rated in training
    als = factors.user @ factors.item.T
    popularity = np.broadcast_to(seen.sum(axis=0).astype(float), als.shape)
    ndcg_als = ndcg_at_k(als, held_out, 10, candidates).mean()
    ndcg_pop = ndcg_at_k(popularity, held_out, 10, candidates).mean()
    assert ndcg_als > ndcg_pop + 0.02, (ndcg_als, ndcg_pop)
    with pytest.raises(ValueError, match="train_mask has shape"):
        train_als(data, train[:10])


def test_cf_slate_policy_shows_the_highest_scored_candidates(movielens_data):
    env = envs.make_env("interest_evolution", catalog="movielens-100k", num_sessions=4,
                        num_candidates=6, slate_size=2, horizon=15, user_state="item_mean")
    policy = movielens_cf_baseline(env, slate_size=2)  # on the env's training ratings
    env.reset(seed=5)
    rows = np.arange(4)
    slate = policy.act_with_env(env, rows, None, np.random.default_rng(0))
    scores = policy.factors.scores(env.session_users, env.candidate_items)
    for b in rows:
        assert set(slate[b]) == set(np.argsort(-scores[b])[:2])
    result = envs.rollout(env, {**envs.scripted_behaviours(env), "slate_policy": policy},
                          episodes=1, seed=0)
    assert result.episode_metrics[0]["engagement_per_session"] > 0
    with pytest.raises(RuntimeError, match="reads the user's identity from the env"):
        policy.act_batch({}, np.random.default_rng(0))


def test_cf_slate_policy_refuses_a_catalog_it_was_not_trained_on(movielens_data):
    env = envs.make_env("interest_evolution", num_items=2000, num_users=2000, num_sessions=2,
                        num_candidates=6, horizon=5, user_state="item_mean")
    policy = CollaborativeFilteringSlate(train_als(movielens_data, heldout_split(
        movielens_data, 0.2, 0), factors=4, iterations=2), slate_size=2)
    env.reset(seed=0)
    env._user[:] = 1999  # a synthetic user index beyond MovieLens's 943
    with pytest.raises(ValueError, match="needs the MovieLens-100k catalog"):
        policy.act_with_env(env, np.arange(2), None, np.random.default_rng(0))


def test_the_default_split_of_the_env_is_the_seeded_heldout_split(movielens_data):
    env = envs.make_env("interest_evolution", catalog="movielens-100k", num_sessions=2)
    np.testing.assert_array_equal(env.catalog.ratings.train,
                                  heldout_split(movielens_data, 0.2, 0))


def test_an_experiment_names_the_cf_baseline_for_movielens(movielens_data):
    from marlrec.config.spec import parse_spec
    from marlrec.evaluation.protocol import baseline_behaviours, evaluation_env

    spec = parse_spec({"name": "cf", "env": {"preset": "interest_evolution", "params": {
        "catalog": "movielens-100k", "num_sessions": 2, "num_candidates": 6, "horizon": 10,
        "user_state": "item_mean"}}, "evaluation": {"baselines": ["collaborative_filtering"]}})
    env = evaluation_env(spec)
    behaviours = baseline_behaviours(env, spec, "collaborative_filtering")
    assert isinstance(behaviours["slate_policy"], CollaborativeFilteringSlate)
    assert envs.rollout(env, behaviours, episodes=1, seed=0).episode_metrics
