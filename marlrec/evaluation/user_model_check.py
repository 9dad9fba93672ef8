"""Check the user model on real data: does it predict which movies a user goes on to rate?

Protocol (a standard random hold-out for top-k recommendation):

1. :func:`envs.movielens.heldout_split`: per MovieLens-100k user, a random ``holdout`` share (20%)
of their
   ratings is held out as the test set; at least one rating stays in train.
2. Everything the user model knows is built from the TRAIN ratings only: the catalog's
   appeal (standardised log(1 + number of train ratings)) and quality
   (:func:`envs.catalog.movielens_catalog` with ``rating_mask=train``) and the users'
   interests (:class:`envs.users.MovieLensUsers` with ``rating_mask=train``). Item vectors
   are the encoder's embeddings of the item texts, centred and re-normalised
   (:func:`envs.ecosystem.embed_catalog`); they do not depend on ratings. The environment
   is built the same way from its own split (:mod:`envs.presets`: ``holdout``,
   ``holdout_seed``, by default 0.2 and 0, the split this check draws with its defaults).
3. Per user, the candidates are all items NOT in the user's train ratings; the relevant
   items are the user's held-out items, with binary relevance (rated = relevant, whatever
   the stars: the question is which movies a user picks, which is what the choice model
   models). Each scorer ranks the candidates; ties are broken by one fixed random order
   of the items (drawn from ``seed``), the same for every scorer, so that no scorer gains
   from the order of item ids.
4. NDCG@k with the log2 discount: ``DCG = sum_{r<=k} rel_r / log2(r + 1)``, divided by the
   ideal DCG of ``min(k, |relevant|)`` relevant items at the top; averaged over the users
   with at least one held-out item.

Scorers (higher = ranked first):

- ``popularity``: number of train ratings of the item (the non-personalised baseline).
- ``affinity``: ``<interest_u, v_i>`` alone (the user model's personal term).
- ``user_model``: the scripted user's choice score
  ``appeal_weight * appeal_i + affinity_weight * <interest_u, v_i>``
  (:func:`envs.users.choice_scores` without the no-click column; a softmax over the
  candidates would not change the ranking).
- ``random``: uniform random scores (the floor).

Tuning anything (e.g. the rating pivot of the interests, or the weights) must use
:func:`validation_split`, a split carved out of the train ratings the same way, never the
test hold-out: pass ``validation=True`` to :func:`user_model_check`.

Pure numpy; ``encoder`` is any callable ``texts -> unit vectors``
(:class:`envs.encoding.TextEncoder`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.catalog import movielens_catalog
from envs.ecosystem import embed_catalog
from envs.encoding import TextEncoder
from envs.movielens import MovieLens100k, heldout_split, validation_split
from envs.users import MovieLensUsers, UserModel, movielens_interests

SCORERS = ("popularity", "affinity", "user_model", "random")
DEFAULT_USER_MODEL = UserModel()
"""The environment's default choice-model weights."""


def rated_matrix(data: MovieLens100k, rating_mask: np.ndarray) -> np.ndarray:
    """``(n_users, n_items)`` bool: the user has a rating of the item in ``rating_mask``."""
    out = np.zeros((data.n_users, data.n_items), bool)
    out[data.rating_user[rating_mask], data.rating_item[rating_mask]] = True
    return out


def ranking_inputs(scores: np.ndarray, relevant: np.ndarray, k: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``scores`` as float64 and ``relevant`` as bool ``(n_users, n_items)`` arrays; raises
    ``ValueError`` for a cut-off ``k`` below 1 or mismatched shapes."""
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k={k!r} must be an integer >= 1")
    scores = np.asarray(scores, np.float64)
    relevant = np.asarray(relevant, bool)
    if scores.ndim != 2 or relevant.shape != scores.shape:
        raise ValueError(f"relevant has shape {relevant.shape}, scores {scores.shape}; both "
                         "must be (n_users, n_items)")
    return scores, relevant


def ndcg_at_k(scores: np.ndarray, relevant: np.ndarray, k: int,
              candidates: np.ndarray | None = None,
              tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Per-row NDCG@k of ranking the candidate columns by ``scores`` (descending).

    Args:
        scores: ``(n_users, n_items)`` float; higher ranks first.
        relevant: ``(n_users, n_items)`` bool, binary relevance.
        k: cut-off, >= 1.
        candidates: ``(n_users, n_items)`` bool, the items that may be ranked (all when
            ``None``); relevant items outside the candidates are ignored.
        tiebreak: ``(n_items,)`` ranks; among equal scores the smaller tiebreak ranks
            first. ``None`` breaks ties by column index.

    Returns:
        ``(n_users,)`` float64: ``DCG@k / IDCG@k`` with gains ``1 / log2(rank + 1)`` and
        ``IDCG@k`` that of ``min(k, |relevant|)`` hits; NaN for rows with no relevant
        candidate.
    """
    hits, relevant = top_k_hits(scores, relevant, k, candidates, tiebreak)
    return ndcg_from_hits(hits, relevant.sum(axis=1), k)


def top_k_hits(scores: np.ndarray, relevant: np.ndarray, k: int,
               candidates: np.ndarray | None = None, tiebreak: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Whether each of the top ``k`` candidates by ``scores`` is relevant ``(n_users, k)``,
    and the relevance restricted to the candidates; arguments as :func:`ndcg_at_k`."""
    scores, relevant = ranking_inputs(scores, relevant, k)
    if candidates is not None:
        candidates = np.asarray(candidates, bool)
        if candidates.shape != scores.shape:
            raise ValueError(f"candidates has shape {candidates.shape}, scores {scores.shape}")
        relevant = relevant & candidates
        scores = np.where(candidates, scores, -np.inf)
    n_items = scores.shape[1]
    tie = np.arange(n_items) if tiebreak is None else np.asarray(tiebreak)
    order = np.lexsort((np.broadcast_to(tie, scores.shape), -scores), axis=1)[:, :k]
    hits = np.take_along_axis(relevant, order, axis=1)
    if candidates is not None:
        hits &= np.take_along_axis(candidates, order, axis=1)
    return hits, relevant


def ndcg_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k of ranked hits ``(n_users, k)`` with ``n_relevant`` relevant items per user
    (NaN where there are none)."""
    discount = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = hits @ discount
    n_rel = np.minimum(n_relevant, k)
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])[n_rel]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, dcg / ideal, np.nan)


@dataclass(frozen=True, eq=False)
class CheckInputs:
    """What the scorers see, all built from the ratings in ``train`` only."""

    train: np.ndarray  # (n_ratings,) bool: the ratings the model may use
    target: np.ndarray  # (n_ratings,) bool: the held-out ratings to find
    popularity: np.ndarray  # (n_items,) train rating counts
    appeal: np.ndarray  # (n_items,) the catalog's appeal from train ratings
    affinity: np.ndarray  # (n_users, n_items) <interest_u, v_i>


def check_inputs(data: MovieLens100k, item_vectors: np.ndarray, train: np.ndarray,
                 target: np.ndarray, rating_pivot: float | None = None) -> CheckInputs:
    """Catalog appeal and user interests from the ``train`` ratings, and the affinities.

    ``rating_pivot=None`` builds interests exactly as the environment does
    (:class:`envs.users.MovieLensUsers`, ``RATING_PIVOT``); a number uses that pivot
    instead (for investigations on a validation split).
    """
    catalog = movielens_catalog(data, rating_mask=train)
    if rating_pivot is None:
        interest = MovieLensUsers(data, rating_mask=train).build(catalog, item_vectors).interest
    else:
        interest = movielens_interests(data, item_vectors, train, rating_pivot)
    return CheckInputs(
        train=train,
        target=target,
        popularity=catalog.prior_popularity.astype(np.float64),
        appeal=catalog.appeal.astype(np.float64),
        affinity=(interest @ item_vectors.T).astype(np.float64),
    )


def scorer_scores(inputs: CheckInputs, name: str, model: UserModel = DEFAULT_USER_MODEL,
                  seed: int = 0) -> np.ndarray:
    """``(n_users, n_items)`` scores of scorer ``name`` (one of :data:`SCORERS`)."""
    shape = inputs.affinity.shape
    if name == "popularity":
        return np.broadcast_to(inputs.popularity, shape)
    if name == "affinity":
        return inputs.affinity
    if name == "user_model":
        return model.appeal_weight * inputs.appeal + model.affinity_weight * inputs.affinity
    if name == "random":
        return np.random.default_rng(seed + 17).random(shape)
    raise ValueError(f"unknown scorer {name!r}; allowed: {SCORERS}")


def evaluate(data: MovieLens100k, inputs: CheckInputs, k: int = 10, seed: int = 0,
             model: UserModel = DEFAULT_USER_MODEL,
             scorers: tuple[str, ...] = SCORERS) -> dict[str, np.ndarray]:
    """Per-user NDCG@k of each scorer over the users with >= 1 target rating."""
    candidates = ~rated_matrix(data, inputs.train)
    relevant = rated_matrix(data, inputs.target)
    users = relevant.any(axis=1)
    tiebreak = np.random.default_rng(seed).permutation(data.n_items)
    return {
        name: ndcg_at_k(scorer_scores(inputs, name, model, seed)[users], relevant[users], k,
                        candidates[users], tiebreak)
        for name in scorers
    }


def summarise(per_user: dict[str, np.ndarray]) -> dict[str, object]:
    """Means, standard errors and the paired user_model - popularity difference."""
    n = len(next(iter(per_user.values())))
    out: dict[str, object] = {
        "users": n,
        "ndcg": {name: float(v.mean()) for name, v in per_user.items()},
        "stderr": {name: float(v.std(ddof=1) / np.sqrt(n)) for name, v in per_user.items()},
    }
    if "user_model" in per_user and "popularity" in per_user:
        diff = per_user["user_model"] - per_user["popularity"]
        out["user_model_minus_popularity"] = {
            "mean": float(diff.mean()),
            "stderr": float(diff.std(ddof=1) / np.sqrt(n)),
            "users_better": int((diff > 0).sum()),
            "users_worse": int((diff < 0).sum()),
        }
    return out


def user_model_check(data: MovieLens100k, encoder: TextEncoder, k: int = 10,
                     holdout: float = 0.2, seed: int = 0, model: UserModel = DEFAULT_USER_MODEL,
                     rating_pivot: float | None = None,
                     validation: bool = False) -> dict[str, object]:
    """NDCG@k of popularity, affinity, the user model's choice score and random (see the
    module docstring for the protocol).

    ``validation=True`` evaluates on a validation split carved out of the train ratings
    (train' = train minus validation; the test hold-out is not looked at): use it, never
    the test numbers, to choose ``model`` weights or ``rating_pivot``.

    Returns a dict: ``ndcg`` (scorer -> mean NDCG@k), ``stderr`` (scorer -> standard error
    over users), ``user_model_minus_popularity`` (paired difference), ``users`` (number of
    users evaluated), and the settings ``k``, ``holdout``, ``seed``, ``split``,
    ``rating_pivot``, ``appeal_weight``, ``affinity_weight``.
    """
    train = heldout_split(data, holdout, seed)
    if validation:
        fit = validation_split(data, train, holdout, seed)
        target = train & ~fit
    else:
        fit, target = train, ~train
    vectors = embed_catalog(movielens_catalog(data), encoder, 0).vectors
    inputs = check_inputs(data, vectors, fit, target, rating_pivot)
    result = summarise(evaluate(data, inputs, k, seed, model))
    result.update(
        k=k, holdout=holdout, seed=seed, split="validation" if validation else "test",
        rating_pivot=MovieLensUsers.RATING_PIVOT if rating_pivot is None else rating_pivot,
        appeal_weight=model.appeal_weight, affinity_weight=model.affinity_weight,
    )
    return result
