"""Catalogs, the lexical encoder and the user model's formulas on hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs.catalog import QUALITY_PRIOR_RATINGS, movielens_studios, synthetic_catalog
from envs.users import UserModel, budget_change, choice_probabilities, drift_interest, watch_time


def test_synthetic_catalog_separates_appeal_from_quality():
    cat = synthetic_catalog(num_items=2000, num_topics=20, num_providers=10, seed=0)
    clickbait = np.array([t < 14 for t in range(20)])[cat.topic]
    assert cat.appeal[clickbait].mean() > cat.appeal[~clickbait].mean() + 1.0
    assert cat.quality[clickbait].mean() < cat.quality[~clickbait].mean() - 2.0
    assert np.corrcoef(cat.appeal, cat.quality)[0, 1] < -0.5
    assert cat.quality.min() >= -3 and cat.quality.max() <= 3
    assert set(np.unique(cat.provider)) == set(range(10))
    assert "clickbait" not in cat.texts[0]  # texts read as content, not labels


def test_synthetic_catalog_is_reproducible_by_seed():
    a, b = synthetic_catalog(seed=3), synthetic_catalog(seed=3)
    assert a.texts == b.texts and a.fingerprint() == b.fingerprint()
    np.testing.assert_array_equal(a.quality, b.quality)
    assert synthetic_catalog(seed=4).fingerprint() != a.fingerprint()


def test_synthetic_catalog_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_items=1 must be an integer >= 2"):
        synthetic_catalog(num_items=1)


def test_movielens_quality_is_bayesian_smoothed_mean_rating(movielens_data):
    data = movielens_data
    item = 0  # Toy Story
    ratings = data.rating_value[data.rating_item == item]
    global_mean = data.rating_value.mean()
    expected = (ratings.sum() + QUALITY_PRIOR_RATINGS * global_mean) / (
        ratings.size + QUALITY_PRIOR_RATINGS)
    from envs.catalog import movielens_quality

    assert movielens_quality(data)[item] == pytest.approx(expected)
    cat = envs.movielens_catalog(data)
    assert cat.num_items == 1682
    assert cat.texts[0] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    # popular titles are appealing; quality and appeal are related but not the same thing
    assert 0.2 < np.corrcoef(cat.appeal, cat.quality)[0, 1] < 0.8


def test_movielens_studios_are_reproducible_genre_era_buckets(movielens_data):
    studio, names = movielens_studios(movielens_data, 20)
    again, _ = movielens_studios(movielens_data, 20)
    np.testing.assert_array_equal(studio, again)
    assert len(names) == 20 and names[-1] == "independent studios"
    assert names[0].startswith("studio: Drama / 1990s")  # the largest bucket
    sizes = np.bincount(studio, minlength=20)
    assert np.all(np.diff(sizes[:19]) <= 0)  # own studios sorted by size
    toy_story = 0
    assert names[studio[toy_story]] == "studio: Animation / 1990s" or studio[toy_story] == 19
    with pytest.raises(ValueError, match="num_providers=1"):
        movielens_studios(movielens_data, 1)


def test_hashing_encoder_unit_vectors_and_lexical_similarity():
    enc = envs.HashingTextEncoder(64)
    v = enc(["space opera with starships", "starships in a space battle", "lemon cake recipe",
             "", "!!!"])
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-6)
    assert v[0] @ v[1] > v[0] @ v[2]
    np.testing.assert_array_equal(v[3], v[4])  # no words: the empty-text vector
    np.testing.assert_array_equal(enc(["space opera"]), enc(["space opera"]))
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        enc(["ok", 3])


def test_budget_change_matches_hand_computation():
    m = UserModel(step_cost=0.5, quality_return=0.25)
    clicked = np.array([True, False])
    watch = np.array([2.0, 3.0])
    quality = np.array([2.0, 1.0])
    # clicked: -0.5 - 2 + 0.25 * 2 * 2 = -1.5; skipped: only the step cost
    np.testing.assert_allclose(budget_change(m, clicked, watch, quality), [-1.5, -0.5])


def test_watch_time_and_choice_formulas():
    m = UserModel(item_length=4.0, watch_affinity_weight=1.0, appeal_weight=1.0,
                  affinity_weight=2.0, no_click_score=0.5, choice_temperature=2.0)
    budget = np.array([60.0])
    np.testing.assert_allclose(watch_time(m, np.array([0.0]), np.array([0.0]), budget), [2.0])
    np.testing.assert_allclose(watch_time(m, np.array([1.0]), np.array([0.5]), budget),
                               [4.0 / (1 + np.exp(-1.5))])
    p = choice_probabilities(m, np.array([[1.0, 0.0]]), np.array([[0.5, -0.5]]))
    logits = np.array([1.0 + 1.0, 0.0 - 1.0, 0.5]) / 2.0
    np.testing.assert_allclose(p[0], np.exp(logits) / np.exp(logits).sum())


def test_interest_drift_is_a_normalised_convex_step():
    m = UserModel(interest_drift=0.5)
    out = drift_interest(m, np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([0.0]))
    np.testing.assert_allclose(out, [[np.sqrt(0.5), np.sqrt(0.5)]], rtol=1e-6)


def test_user_model_rejects_bad_values():
    with pytest.raises(ValueError, match="user_model.interest_drift=2 must be in"):
        UserModel(interest_drift=2)
    with pytest.raises(ValueError, match="user_model.history_length=0"):
        UserModel(history_length=0)


def test_movielens_users_profiles_and_interests(movielens_data):
    cat = envs.movielens_catalog(movielens_data)
    env = envs.make_env("interest_evolution", catalog="movielens-100k", num_sessions=2)
    pop = env.population
    assert pop.num_users == 943
    assert pop.profiles[0] == "A 24-year-old man who works as a technician."
    np.testing.assert_allclose(np.linalg.norm(pop.interest, axis=1), 1.0, rtol=1e-5)
    # users who loved a movie have interests closer to it than users who hated it
    item = 49  # Star Wars
    v = env.item_vectors[item]
    on_item = movielens_data.rating_item == item
    loved = movielens_data.rating_user[on_item & (movielens_data.rating_value == 5)]
    hated = movielens_data.rating_user[on_item & (movielens_data.rating_value <= 2)]
    assert (pop.interest[loved] @ v).mean() > (pop.interest[hated] @ v).mean()
    assert cat.titles[item] == "Star Wars"


def test_interest_drift_toward_an_opposite_item_stays_finite():
    m = UserModel(interest_drift=0.5)
    interest = np.array([[1.0, 0.0, 0.0]], np.float32)
    out = drift_interest(m, interest, -interest, np.array([-1.0000001]))
    assert np.isfinite(out).all()
