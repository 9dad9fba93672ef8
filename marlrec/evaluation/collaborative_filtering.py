"""A collaborative-filtering slate policy: matrix factorisation (ALS) on MovieLens-100k.

:func:`train_als` fits ``implicit``'s alternating least squares (Hu, Koren and Volinsky
2008: implicit feedback with confidence ``1 + alpha * rating``) on the **training split**
of the ratings, so the held-out ratings stay unseen. :func:`movielens_cf_baseline` takes
that split from the env (``env.catalog.ratings``: per user, 80% at random by default, the
ratings the simulator itself was built from, :mod:`envs.presets`), so the baseline, the
simulator and the offline ranking (:mod:`marlrec.evaluation.ranking`) share one split.
:class:`CollaborativeFilteringSlate` shows each session's user the candidates with the
highest predicted preference ``u_user . v_item``.

It is a *privileged* baseline: the user's identity and the candidates' item ids are in no
observation, so it reads them from the env (``env.session_users``, ``env.candidate_items``)
through ``act_with_env``, which ``envs.rollout`` calls. It runs in evaluation rollouts,
not as a scripted role inside RLlib training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from envs.movielens import MovieLens100k, RatingSplit


@dataclass(frozen=True)
class ALSFactors:
    user: np.ndarray  # (users, factors), MovieLens user index order
    item: np.ndarray  # (items, factors), MovieLens item (= catalog) index order

    def scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted preference of ``users[b]`` for ``items[b, c]``: ``(B, C)``."""
        return np.einsum("bf,bcf->bc", self.user[users], self.item[items])


def train_als(data: MovieLens100k, train_mask: np.ndarray, factors: int = 32,
              iterations: int = 15, regularization: float = 0.05, alpha: float = 2.0,
              seed: int = 0) -> ALSFactors:
    """ALS factors from the ratings selected by ``train_mask``."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    mask = np.asarray(train_mask, bool)
    if mask.shape != data.rating_value.shape:
        raise ValueError(f"train_mask has shape {mask.shape}; expected "
                         f"{data.rating_value.shape} (one entry per rating)")
    confidence = 1.0 + alpha * data.rating_value[mask].astype(np.float32)
    matrix = sp.csr_matrix((confidence, (data.rating_user[mask], data.rating_item[mask])),
                           shape=(len(data.user_ids), len(data.item_ids)))
    with threadpool_limits(1, "blas"):  # implicit runs its own threads
        model = AlternatingLeastSquares(factors=factors, iterations=iterations,
                                        regularization=regularization, random_state=seed)
        model.fit(matrix, show_progress=False)
    return ALSFactors(np.asarray(model.user_factors), np.asarray(model.item_factors))


class CollaborativeFilteringSlate:
    """The ``slate_size`` candidates of highest ALS score for the session's user."""

    def __init__(self, factors: ALSFactors, slate_size: int) -> None:
        self.factors = factors
        self.slate_size = slate_size

    def act_with_env(self, env: Any, rows: np.ndarray, obs: Any,
                     rng: np.random.Generator) -> np.ndarray:
        users = env.session_users[rows]
        items = env.candidate_items[rows]
        if users.max(initial=0) >= len(self.factors.user) or items.max(
                initial=0) >= len(self.factors.item):
            raise ValueError("CollaborativeFilteringSlate needs the MovieLens-100k catalog and "
                             "users it was trained on (env catalog='movielens-100k')")
        scores = self.factors.scores(users, items)
        return np.argsort(-scores, axis=1, kind="stable")[:, : self.slate_size]

    def act_batch(self, obs: Any, rng: np.random.Generator) -> np.ndarray:
        raise RuntimeError("CollaborativeFilteringSlate reads the user's identity from the "
                           "env: run it through envs.rollout (act_with_env)")

    def __repr__(self) -> str:
        return f"CollaborativeFilteringSlate(slate_size={self.slate_size})"


def movielens_cf_baseline(ratings: Any, slate_size: int, seed: int = 0
                          ) -> CollaborativeFilteringSlate:
    """The baseline as evaluations use it: ALS (seeded by ``seed``) on the training ratings
    of the env's split.

    ``ratings`` is the env the baseline will act in (a MovieLens-100k
    :class:`envs.RecEcosystemEnv`, whose ``catalog.ratings`` is the split its simulator was
    built from) or that :class:`envs.movielens.RatingSplit`.
    """
    if not isinstance(ratings, RatingSplit):
        catalog = getattr(ratings, "catalog", None)
        ratings = getattr(catalog, "ratings", None)
        if ratings is None:
            raise ValueError("the collaborative-filtering baseline needs the MovieLens-100k "
                             "catalog's ratings (env catalog='movielens-100k'); catalog "
                             f"{getattr(catalog, 'name', None)!r} is not built from ratings")
    return CollaborativeFilteringSlate(train_als(ratings.data, ratings.train, seed=seed),
                                       slate_size)


def cf_baseline_for_env(env: Any, seed: int) -> CollaborativeFilteringSlate:
    """The registered evaluation baseline (:mod:`marlrec.evaluation.baselines`): ALS seeded
    by ``seed`` on ``env``'s own training split of the ratings (the held-out ones never)."""
    return movielens_cf_baseline(env, env.config.slate_size, seed=seed)
