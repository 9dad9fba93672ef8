"""Encoded user-state texts in flat slate-policy observations (``user_state="text_deferred"``).

An ecosystem built with ``user_state="text_deferred"`` runs its dynamics on the item-mean
state and leaves each session's state text (profile + recent titles) for an encoder outside
the env. :class:`TextStateObservations` is that encoder step, in **one** place: it encodes
the texts, centres them like the item vectors (``unit(encode(text) - state_centre)``) and
writes them into the ``user_state`` slice of flat observations (in the env's observation
basis), and recomputes the ``similarity`` candidate feature at full width from the
candidates' item vectors. Training calls it from the env-to-module connector
(:class:`marlrec.encoder.rllib.EncodeUserStateTexts`, one call for all sub-envs of a
runner); evaluation calls it from :class:`marlrec.evaluation.learned_behaviour.LearnedBehaviour`,
with
the same encoder object the training envs used (the pool's client when there is a pool), so
a policy is evaluated on the observations it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from envs.encoding import unit_rows
from envs.numerics import FixedPoint, matmul
from envs.observation import CANDIDATE_FEATURES, FEATURE_BOUND, flat_layout

_SIMILARITY = CANDIDATE_FEATURES.index("similarity")


class TextStateObservations:
    """Writes encoded state texts into flat slate-policy observations of ``ecosystem``."""

    def __init__(self, ecosystem: Any) -> None:
        if ecosystem.config.user_state != "text_deferred":
            raise ValueError(f"user_state={ecosystem.config.user_state!r}: encoded state texts "
                             "are written only for user_state='text_deferred'")
        self.encoder = ecosystem.state_encoder
        self.centre = np.asarray(ecosystem.state_centre, np.float32)
        self.item_vectors = ecosystem.item_vectors
        self.basis = (None if ecosystem.observation_basis is None
                      else FixedPoint(ecosystem.observation_basis, axis=0))
        space = ecosystem.observation_space("slate_policy_0")
        layout = flat_layout(space)
        self.state_slice = layout["user_state"]
        features = layout["candidate_features"]
        width = space["candidate_features"].shape[1]
        self.similarity = np.arange(features.start, features.stop)[_SIMILARITY::width]

    def write(self, flat: np.ndarray, texts: Sequence[str], candidates: np.ndarray) -> None:
        """Puts the encoded ``texts`` (one per row) into ``flat`` ``(rows, width)`` in place;
        ``candidates`` ``(rows, C)`` are the rows' candidates' catalog indices."""
        if len(texts) == 0:
            return
        states = unit_rows(self.encoder(list(texts)) - self.centre)
        similarity = np.einsum("bcd,bd->bc", self.item_vectors[candidates], states)
        flat[:, self.state_slice] = states if self.basis is None else matmul(states, self.basis)
        flat[:, self.similarity] = np.clip(similarity, -FEATURE_BOUND, FEATURE_BOUND)
