"""The user model check on held-out MovieLens ratings (marlrec.evaluation.user_model_check)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from envs.encoding import HashingTextEncoder
from envs.movielens import DataFileError, MovieLens100k, load_movielens_100k, movielens_dir
from marlrec.evaluation.user_model_check import (
    heldout_split,
    ndcg_at_k,
    user_model_check,
    validation_split,
)

# ----------------------------------------------------------------------------- NDCG


def _log2_gain(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


SCORES = np.array([[4.0, 3.0, 2.0, 1.0],
                   [4.0, 3.0, 2.0, 1.0],
                   [1.0, 1.0, 1.0, 1.0],
                   [4.0, 3.0, 2.0, 1.0]])
RELEVANT = np.array([[0, 1, 0, 1],
                     [1, 1, 0, 1],
                     [0, 0, 1, 0],
                     [0, 0, 0, 0]], bool)
CANDIDATES = np.array([[1, 1, 1, 1],
                       [0, 1, 1, 1],  # item 0 was rated in train: neither ranked nor counted
                       [1, 1, 1, 1],
                       [1, 1, 1, 1]], bool)


def test_ndcg_hand_computed() -> None:
    got = ndcg_at_k(SCORES, RELEVANT, 2, CANDIDATES, tiebreak=np.array([3, 2, 0, 1]))
    # row 0: ranking 0, 1 -> one hit at rank 2; ideal: hits at ranks 1 and 2
    assert got[0] == pytest.approx(_log2_gain(2) / (1 + _log2_gain(2)), abs=1e-12)
    assert got[0] == pytest.approx(0.386852807, abs=1e-9)
    # row 1: ranking 1, 2 -> hit at rank 1; two relevant candidates (item 0 is excluded)
    assert got[1] == pytest.approx(1 / (1 + _log2_gain(2)), abs=1e-12)
    assert got[1] == pytest.approx(0.613147193, abs=1e-9)
    # row 2: all scores tie; the tiebreak ranks item 2 first -> perfect
    assert got[2] == 1.0
    # row 3: nothing relevant -> undefined
    assert np.isnan(got[3])


def test_ndcg_ties_default_to_column_order_and_k_beyond_candidates() -> None:
    # without a tiebreak, ties go by column index: items 0, 1 come first, no hit
    assert ndcg_at_k(SCORES[2:3], RELEVANT[2:3], 2)[0] == 0.0
    # k = 4, row 0: hits at ranks 2 and 4
    want = (_log2_gain(2) + _log2_gain(4)) / (1 + _log2_gain(2))
    assert ndcg_at_k(SCORES[:1], RELEVANT[:1], 4)[0] == pytest.approx(want, abs=1e-12)
    assert want == pytest.approx(0.6509209298, abs=1e-9)
    # k = 10 > 3 candidates, row 1: hits at ranks 1 and 3, ideal over min(10, 2) hits
    got = ndcg_at_k(SCORES[1:2], RELEVANT[1:2], 10, CANDIDATES[1:2])[0]
    assert got == pytest.approx((1 + _log2_gain(3)) / (1 + _log2_gain(2)), abs=1e-12)


def test_ndcg_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="k=0"):
        ndcg_at_k(SCORES, RELEVANT, 0)
    with pytest.raises(ValueError, match="shape"):
        ndcg_at_k(SCORES, RELEVANT[:2], 2)


# ----------------------------------------------------------------------------- split


def _tiny_data(ratings_per_user: list[int], n_items: int = 40, seed: int = 0) -> MovieLens100k:
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u, n in enumerate(ratings_per_user):
        users += [u] * n
        items += list(rng.choice(n_items, n, replace=False))
    n_users, n = len(ratings_per_user), len(users)
    return MovieLens100k(
        user_ids=np.arange(1, n_users + 1), item_ids=np.arange(1, n_items + 1),
        rating_user=np.array(users, np.int32), rating_item=np.array(items, np.int32),
        rating_value=rng.integers(1, 6, n).astype(np.float32),
        rating_time=np.arange(n, dtype=np.int64),
        titles=[f"Movie {i}" for i in range(n_items)], years=np.full(n_items, 1995, np.int32),
        genres=[("Drama",)] * n_items, user_age=np.full(n_users, 30, np.int32),
        user_gender=["F"] * n_users, user_occupation=["other"] * n_users,
        user_zip=["00000"] * n_users, source_format="grouplens",
    )


def test_split_holds_out_a_fifth_and_keeps_one_per_user() -> None:
    counts = [1, 2, 3, 5, 10, 20, 37]
    data = _tiny_data(counts)
    train = heldout_split(data, 0.2, seed=0)
    kept = np.bincount(data.rating_user[train], minlength=len(counts))
    held = np.bincount(data.rating_user[~train], minlength=len(counts))
    assert kept.min() >= 1
    assert held.tolist() == [0, 0, 1, 1, 2, 4, 7]  # round(0.2 n), at most n - 1
    assert kept.tolist() == [c - h for c, h in zip(counts, held, strict=True)]


def test_split_is_reproducible_and_seeded() -> None:
    data = _tiny_data([30] * 20)
    a, b = heldout_split(data, 0.2, seed=3), heldout_split(data, 0.2, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, heldout_split(data, 0.2, seed=4))


def test_validation_split_is_carved_from_train() -> None:
    data = _tiny_data([30] * 20)
    train = heldout_split(data, 0.2, seed=0)
    fit = validation_split(data, train, 0.2, seed=0)
    assert not (fit & ~train).any()  # nothing outside train
    per_user_train = np.bincount(data.rating_user[train])
    per_user_val = np.bincount(data.rating_user[train & ~fit])
    np.testing.assert_array_equal(per_user_val, np.floor(0.2 * per_user_train + 0.5))


def test_split_rejects_bad_holdout() -> None:
    with pytest.raises(ValueError, match="holdout"):
        heldout_split(_tiny_data([5]), 1.0)


# ----------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def data() -> MovieLens100k:
    try:
        return load_movielens_100k(movielens_dir())
    except DataFileError as e:
        pytest.skip(f"MovieLens-100k is not fetched ({e}); run `marlrec data fetch "
                    "movielens-100k` (or `make fetch-data`) to run the real-data check")


@pytest.fixture(scope="module")
def minilm():
    """The packaged all-MiniLM-L6-v2, loaded once for this module."""
    from marlrec.encoder import TransformersTextEncoder

    return TransformersTextEncoder()


def test_real_split_keeps_every_user(data: MovieLens100k) -> None:
    train = heldout_split(data)
    counts = np.bincount(data.rating_user, minlength=data.n_users)
    kept = np.bincount(data.rating_user[train], minlength=data.n_users)
    assert kept.min() >= 1
    np.testing.assert_array_equal(counts - kept, np.floor(0.2 * counts + 0.5))


def test_no_leakage_of_held_out_stars(data: MovieLens100k) -> None:
    """Held-out ratings count only as "rated": their stars never reach the model; in
    validation mode neither do the test ratings."""
    encoder = HashingTextEncoder(64)
    train = heldout_split(data)
    fit = validation_split(data, train)
    stars = np.array(data.rating_value)

    def flipped(keep: np.ndarray) -> MovieLens100k:
        return replace(data, rating_value=np.where(keep, stars, 6.0 - stars).astype(np.float32))

    # test mode: flip the stars of the test ratings
    assert (user_model_check(data, encoder)["ndcg"]
            == user_model_check(flipped(train), encoder)["ndcg"])
    # validation mode: flip the stars of the validation and the test ratings
    assert (user_model_check(data, encoder, validation=True)["ndcg"]
            == user_model_check(flipped(fit), encoder, validation=True)["ndcg"])
    # and the stars the model does see matter (the check above is not vacuous)
    assert (user_model_check(data, encoder)["ndcg"]["affinity"]
            != user_model_check(flipped(~train), encoder)["ndcg"]["affinity"])


@pytest.mark.slow
def test_user_model_beats_popularity_with_minilm(data: MovieLens100k, minilm) -> None:
    result = user_model_check(data, minilm, k=10, holdout=0.2, seed=0)
    ndcg = result["ndcg"]
    assert result["users"] == data.n_users
    # popularity does not depend on the encoder: the value in docs/user_model.md
    assert ndcg["popularity"] == pytest.approx(0.2253, abs=5e-4)
    assert ndcg["random"] < ndcg["popularity"]
    assert ndcg["user_model"] > ndcg["popularity"]
    diff = result["user_model_minus_popularity"]
    assert diff["mean"] > 3 * diff["stderr"], diff  # not a coin flip over users
