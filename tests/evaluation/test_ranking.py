"""Offline ranking metrics: hand-computed values on a tiny example, the held-out MovieLens
protocol on every baseline, and the user states a learned policy is scored with."""

from __future__ import annotations

import numpy as np
import pytest

from envs.movielens import RatingSplit, heldout_split
from marlrec.evaluation.ranking import (
    BASELINE_SCORERS,
    baseline_scores,
    heldout_ranking,
    ranking_metrics,
)


def default_split(data) -> RatingSplit:
    """The split ``envs.make_env`` builds a MovieLens simulator from by default."""
    return RatingSplit(data, heldout_split(data, 0.2, seed=0), 0.2, 0)


def test_metrics_match_hand_computed_values():
    scores = np.array([[0.9, 0.8, 0.1, 0.5],
                       [0.9, 0.8, 0.1, 0.5],
                       [0.9, 0.8, 0.1, 0.5]])
    relevant = np.array([[True, False, False, True],
                         [False, False, False, False],  # no relevant item: dropped
                         [True, False, False, True]])
    candidates = np.array([[True] * 4, [True] * 4, [False, True, True, True]])
    m = ranking_metrics(scores, relevant, 2, candidates)
    # Row 0: top 2 = items 0, 1; one hit of two relevant.
    # Row 2: item 0 is no candidate; top 2 = items 1, 3; one hit of one relevant, at rank 2.
    np.testing.assert_allclose(m["precision"], [0.5, 0.5])
    np.testing.assert_allclose(m["recall"], [0.5, 1.0])
    np.testing.assert_allclose(m["f1"], [0.5, 2 * 0.5 * 1.0 / 1.5])
    np.testing.assert_allclose(m["ndcg"], [1.0 / (1.0 + 1.0 / np.log2(3)), 1.0 / np.log2(3)])
    np.testing.assert_allclose(m["hit_rate"], [1.0, 1.0])


def test_no_hit_gives_zero_f1_and_ties_follow_the_tiebreak():
    scores = np.zeros((1, 3))
    relevant = np.array([[False, False, True]])
    m = ranking_metrics(scores, relevant, 1)  # ties by column: item 0 first, no hit
    assert m["f1"].tolist() == [0.0] and m["hit_rate"].tolist() == [0.0]
    m = ranking_metrics(scores, relevant, 1, tiebreak=np.array([2, 1, 0]))  # item 2 first
    assert m["precision"].tolist() == [1.0] and m["ndcg"].tolist() == [1.0]
    with pytest.raises(ValueError, match="k=0 must be an integer >= 1"):
        ranking_metrics(scores, relevant, 0)


def test_every_baseline_ranks_held_out_movielens_ratings(movielens_data):
    rng = np.random.default_rng(0)
    item_vectors = rng.normal(size=(movielens_data.n_items, 16)).astype(np.float32)
    scorers = {name: (lambda train, n=name: baseline_scores(n, movielens_data, train,
                                                            item_vectors))
               for name in BASELINE_SCORERS}
    table = heldout_ranking(default_split(movielens_data), scorers, k=10)
    for name, row in table.items():
        assert row["users"] > 900, name
        for metric in ("precision", "recall", "f1", "ndcg", "hit_rate"):
            assert 0.0 <= row[metric] <= 1.0, (name, metric)
    assert table["collaborative_filtering"]["ndcg"] > table["popularity"]["ndcg"]
    assert table["popularity"]["ndcg"] > table["random"]["ndcg"]
    assert table["popularity"]["ndcg"] == pytest.approx(table["greedy_by_appeal"]["ndcg"])
    with pytest.raises(ValueError, match="unknown baseline 'oracle'"):
        baseline_scores("oracle", movielens_data, np.ones(movielens_data.n_ratings, bool),
                        item_vectors)


def test_learned_policy_scores_every_movie_whatever_chunk_shows_it(movielens_data):
    import envs
    from marlrec.algorithms.actor_critic import build_actor_critic
    from marlrec.evaluation.learned_behaviour import LearnedBehaviour
    from marlrec.evaluation.ranking import policy_scores, user_states

    data = movielens_data
    env = envs.make_env("interest_evolution", catalog="movielens-100k", num_sessions=2,
                        num_candidates=10, user_state="item_mean")
    space = env.observation_space("slate_policy_0")
    module = build_actor_critic(space, env.action_space("slate_policy_0"), {
        "slate_actor": "candidate_scoring", "fcnet_hiddens": [32], "fcnet_activation": "tanh",
        "scorer_hiddens": [16]})  # an untrained but real candidate-scoring module
    behaviour = LearnedBehaviour(module, space)
    train = heldout_split(data, 0.2, seed=0)
    scores = policy_scores(behaviour, env, data, train)
    assert scores.shape == (data.n_users, data.n_items) and np.isfinite(scores).all()
    # The last ten movies shown together, in reverse, to user 7: the same scores.
    items = np.arange(data.n_items - 1, data.n_items - 11, -1)[None]
    state = user_states(env, data, train)[7:8]
    obs_features = np.zeros((1, 10, 4), np.float32)
    from envs.catalog import movielens_catalog

    catalog = movielens_catalog(data, rating_mask=train)
    obs_features[..., 0] = catalog.appeal[items]
    obs_features[..., 1] = np.log1p(catalog.prior_popularity[items]) / np.log1p(
        catalog.prior_popularity.max() + 1.0)
    obs_features[..., 3] = env.item_vectors[items] @ state[0]
    logits = behaviour.action_dist_inputs({
        "user_state": env.to_observation_basis(state),
        "candidates": env.to_observation_basis(env.item_vectors[items]),
        "candidate_features": obs_features, "session": np.zeros((1, 2), np.float32)})
    np.testing.assert_allclose(logits[0, :10].numpy(), scores[7, items[0]], rtol=1e-4,
                               atol=1e-5)
    table = heldout_ranking(env.catalog.ratings,
                            {"learned": lambda tr: policy_scores(behaviour, env, data, tr)})
    assert 0.0 <= table["learned"]["ndcg"] <= 1.0


def test_the_ranking_scores_the_held_out_ratings_of_the_split_it_is_given(movielens_data):
    data = movielens_data
    split = RatingSplit(data, heldout_split(data, 0.1, seed=4), 0.1, 4)
    given = []
    table = heldout_ranking(split, {"popularity": lambda train: (
        given.append(train), baseline_scores("popularity", data, train, np.zeros((1, 1))))[1]})
    np.testing.assert_array_equal(given[0], split.train)  # the scorers see its training part
    users_with_held_out = np.unique(data.rating_user[split.heldout]).size
    assert table["popularity"]["users"] == users_with_held_out
    everything = RatingSplit(data, np.ones(data.n_ratings, bool), 0.0, 0)
    with pytest.raises(ValueError, match="no rating is held out"):
        heldout_ranking(everything, {"popularity": lambda train: None})


def test_a_text_deferred_policy_is_scored_with_the_encoded_state_text(movielens_data):
    """RLlib's connector puts ``unit(encode(text) - state_centre)`` into a ``text_deferred``
    observation: offline, its state must be that too, not the item mean the env runs on."""
    import envs
    from marlrec.evaluation.ranking import user_states

    data = movielens_data
    train = heldout_split(data, 0.2, seed=0)
    params = {"catalog": "movielens-100k", "num_sessions": 2, "num_candidates": 10}
    deferred = envs.make_env("interest_evolution", user_state="text_deferred", **params)
    text = envs.make_env("interest_evolution", user_state="text", **params)
    item_mean = envs.make_env("interest_evolution", user_state="item_mean", **params)
    state = user_states(deferred, data, train)
    np.testing.assert_allclose(state, user_states(text, data, train), atol=1e-6)
    assert not np.allclose(state, user_states(item_mean, data, train), atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(state, axis=1), 1.0, rtol=1e-5)
