"""The observation layout: which keys each role observes, their feature columns and widths,
and the flat vector a learner reads.

Every reader of an observation takes its layout from here: the env builds observations with
it, the scripted behaviours read feature columns by these names, the RLlib env wrapper and
the learned-policy adapter flatten with :func:`flatten_batch`, the actor-critic slices the
flat vector with :func:`flat_layout`, the offline ranking builds observations of its own
with the same keys, and the text-state connector writes into the slices named here.

Slate-policy observation (``Dict``; the flat vector lays the keys out in sorted order, each
raveled row-major, as RLlib's ``FlattenObservations`` and ``gymnasium.spaces.flatten`` do):

| key | shape | what |
|---|---|---|
| ``candidate_attributes`` | ``(C, A)`` | item attributes (env ``item_attributes=True``) |
| ``candidate_features`` | ``(C, F)`` | :data:`CANDIDATE_FEATURES` (+ quality, exposure: revealed) |
| ``candidate_ids`` | ``(C,)`` | ids instead of ``candidates`` (``user_state="id"``) |
| ``candidates`` | ``(C, k)`` | the candidates' item vectors, in the observation basis |
| ``intent`` | ``(k,)`` | the encoded session intent (``intent="on"``) |
| ``session`` | ``(2,)`` | steps so far / horizon, clicks per step |
| ``user_id`` | ``(1,)`` | id instead of ``user_state`` (``user_state="id"``) |
| ``user_state`` | ``(k,)`` | the user state, in the observation basis |

``k`` is the env's ``observation_dim``: the embedding width the policies see. ``0`` (or a
width at least the item vectors') shows the full vectors; a smaller ``k`` shows their
coordinates on the catalog's first ``k`` principal axes (:func:`principal_axes`), computed
once per catalog. Features (``similarity`` included) are always computed at full width.

User observation: ``interest`` ``(d,)``, ``slate`` ``(S, d)``, ``slate_features``
``(S, len(SLATE_FEATURES))``, ``budget`` ``(1,)``, at the full width ``d`` (the choice
model reads them). Provider observation: a ``Box`` (``envs.providers``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.numerics import FixedPoint, matmul, top_eigenvectors

FEATURE_BOUND = 5.0
CANDIDATE_FEATURES = ("appeal", "popularity", "observed_satisfaction", "similarity")
"""Columns of ``candidate_features`` (``quality`` follows when the env reveals it, then
``exposure_fairness`` with ``reveal_exposure``: ``envs.ecosystem.candidate_feature_count``)."""
SLATE_FEATURES = ("appeal", "popularity")
"""Columns of the user's ``slate_features``."""
EMBEDDING_KEYS = ("user_state", "candidates", "intent")
"""Slate-policy keys holding item-space vectors: shown in the observation basis."""


def principal_axes(vectors: np.ndarray, count: int) -> np.ndarray:
    """``(d, min(count, n, d))``: the first principal axes of centred item vectors
    ``(n, d)`` (unit columns by explained variance, each with its largest entry positive);
    the first ``k`` columns are the observation basis of width ``k`` and the first
    ``retrieval_dim`` the retrieval index's.

    The same bits on every CPU (:mod:`envs.numerics`): the exact Gram matrix, then Jacobi
    rotations, directly for up to 96 dimensions and otherwise on the subspace 24 block power
    iterations find (on MovieLens' MiniLM vectors the first 32 axes this gives capture all
    of the exact axes' variance to 5 digits, each within a cosine of 0.9998 of LAPACK's).
    """
    vectors = np.asarray(vectors, np.float32)
    count = min(count, *vectors.shape)
    if count == 0:
        return np.zeros((vectors.shape[1], 0), np.float32)
    gram = matmul(vectors.T, FixedPoint(vectors, axis=0))
    _, axes = top_eigenvectors(gram, count)
    return np.ascontiguousarray(axes.astype(np.float32))


def observation_basis(axes: np.ndarray, observation_dim: int) -> np.ndarray | None:
    """The ``(d, k)`` projection of a width, or ``None`` for the full vectors (``axes``
    holds at least ``k + 1`` axes unless ``k`` is as wide as the vectors' span)."""
    if observation_dim == 0 or observation_dim >= axes.shape[1]:
        return None
    return np.ascontiguousarray(axes[:, :observation_dim])


def flat_layout(space: gym.Space) -> dict[str, slice]:
    """Where each top-level key of a Dict observation lies in the flat vector (keys in
    sorted order, each Box raveled row-major); ``{"": slice}`` for a Box."""
    if not isinstance(space, gym.spaces.Dict):
        return {"": slice(0, gym.spaces.flatdim(space))}
    layout, start = {}, 0
    for key in sorted(space.spaces):
        size = gym.spaces.flatdim(space.spaces[key])
        layout[key] = slice(start, start + size)
        start += size
    return layout


def flat_space(space: gym.Space) -> gym.spaces.Box:
    """The ``Box`` of the flat vectors of ``space`` (bounds kept)."""
    return gym.spaces.flatten_space(space)


def flatten_batch(batch: Any, space: gym.Space, extra: np.ndarray | None = None) -> np.ndarray:
    """``(B, flatdim)`` float32 rows from a role-batched observation (a dict of arrays with a
    leading batch axis, or an array for a Box space), laid out as :func:`flat_layout`
    says; ``extra`` ``(B, e)`` columns (e.g. the global state) are appended."""
    if isinstance(space, gym.spaces.Dict):
        first = batch[next(iter(space.spaces))]
        rows = np.asarray(first).shape[0]
        parts = [np.asarray(batch[key], np.float32).reshape(rows, -1)
                 for key in sorted(space.spaces)]
    else:
        parts = [np.asarray(batch, np.float32).reshape(len(batch), -1)]
    if extra is not None:
        parts.append(np.asarray(extra, np.float32))
    return np.concatenate(parts, axis=1)
