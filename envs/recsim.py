"""RecSim's interest_evolution environment expressed in our ecosystem (the
``recsim_interest_evolution`` preset).

Reference: google-research/recsim 0.2.4, ``recsim/environments/interest_evolution.py``
(``UtilityModelVideoSampler``, ``UtilityModelUserSampler``, ``IEvUserModel``) and
``recsim/choice_model.py`` (``MultinomialProportionalChoiceModel``); Ie et al. 2019,
arXiv:1909.04847. What RecSim does and how it maps here (docs/recsim_parity.md has the
table and the measured parity):

- **Documents**: 20 topic clusters; a document's features are the one-hot of its cluster
  (the item vectors, :attr:`envs.catalog.Catalog.features`); hidden quality
  ``N(cluster mean, 0.1)``, cluster means ``linspace(-3, 0, 14)`` ("trashy") then
  ``linspace(0, 3, 6)`` ("nutritious"); length 4. RecSim samples ``num_candidates`` fresh
  documents every step; here the candidates are ``num_candidates`` distinct random items
  of a catalog of ``num_items`` (default 20,000) documents drawn once from the same
  distribution (``retrieval_share=0``: no nearest-neighbour retrieval).
- **Users**: interests uniform in [-1, 1]^20, fresh per session (here: drawn from a
  population of ``num_users``, default 10,000, drawn once); time budget 200. The slate
  policy observes the user's interests, as RecSim's observation does
  (``user_state="interest"``).
- **Choice**: multinomial proportional on ``<interest, features>`` (the interest in the
  document's cluster) with no-click mass 1 and ``min_normalizer`` -1.
- **Response and budget**: a click watches ``min(budget, 4)``; the budget falls by the
  watch time and rises by ``0.9 / 3.4 * watch * quality``; a step without a click costs
  0.5; the session ends when the budget is spent. Reward: the clicked watch time.
- **Interest evolution**: RecSim's stochastic update of the clicked cluster's interest
  (:func:`envs.users.recsim_interest_update`), drawn from the env's seeded generator
  (RecSim draws the sign from numpy's unseeded global generator).
- **Episode**: one user session (``num_sessions=1``, ``session_ends_episode=True``);
  ``horizon`` (1,000) only guards against a session that never ends.

Deviations, by construction of our env: the slate chosen at step ``t`` is shown at
``t + 1``, so each session opens with one slate of the first two (random) candidates;
one provider owns every document and never releases or leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.catalog import Catalog
from envs.users import UserModel, UserPopulation

NUM_CLUSTERS = 20
TRASHY_CLUSTERS = 14
QUALITY_STD = 0.1
VIDEO_LENGTH = 4.0
TIME_BUDGET = 200.0


def cluster_quality_means(num_clusters: int = NUM_CLUSTERS) -> np.ndarray:
    """RecSim's cluster means: ``linspace(-3, 0, 70%)`` then ``linspace(0, 3, 30%)``."""
    trashy = np.linspace(-3.0, 0.0, int(num_clusters * 0.7))
    nutritious = np.linspace(0.0, 3.0, int(num_clusters * 0.3))
    return np.concatenate([trashy, nutritious])


def recsim_catalog(num_items: int = 20_000, seed: int = 0) -> Catalog:
    """``num_items`` interest-evolution documents: uniform cluster, one-hot features,
    quality ``N(cluster mean, 0.1)``; no appeal or prior popularity (RecSim has none)."""
    if not isinstance(num_items, int) or num_items < 2:
        raise ValueError(f"recsim catalog: num_items={num_items!r} must be an integer >= 2")
    rng = np.random.default_rng(seed)
    means = cluster_quality_means()
    cluster = rng.integers(0, NUM_CLUSTERS, num_items).astype(np.int32)
    quality = rng.normal(means[cluster], QUALITY_STD).astype(np.float32)
    features = np.zeros((num_items, NUM_CLUSTERS), np.float32)
    features[np.arange(num_items), cluster] = 1.0
    names = tuple(f"cluster {c} ({'trashy' if c < TRASHY_CLUSTERS else 'nutritious'})"
                  for c in range(NUM_CLUSTERS))
    titles = tuple(f"video {i} of {names[c]}" for i, c in enumerate(cluster))
    return Catalog(
        name=f"recsim-interest-evolution-{num_items}-seed{seed}",
        titles=titles,
        texts=titles,
        topic=cluster,
        topic_names=names,
        quality=quality,
        appeal=np.zeros(num_items, np.float32),
        prior_popularity=np.zeros(num_items, np.float32),
        provider=np.zeros(num_items, np.int32),
        provider_names=("RecSim document sampler",),
        features=features,
    )


@dataclass(frozen=True)
class RecSimUsers:
    """``num_users`` users with interests uniform in [-1, 1]^d, drawn once."""

    num_users: int = 10_000
    seed: int = 0

    def build(self, catalog: Catalog, item_vectors: np.ndarray) -> UserPopulation:
        if not isinstance(self.num_users, int) or self.num_users < 1:
            raise ValueError(f"num_users={self.num_users!r} must be an integer >= 1")
        rng = np.random.default_rng([self.seed, 1])
        interest = rng.uniform(-1.0, 1.0, (self.num_users, item_vectors.shape[1]))
        profiles = tuple(f"RecSim user {i}" for i in range(self.num_users))
        return UserPopulation(f"recsim-users-{self.num_users}-seed{self.seed}", profiles,
                              interest.astype(np.float32))


RECSIM_USER_MODEL = UserModel(
    appeal_weight=0.0,
    affinity_weight=1.0,
    no_click_score=1.0,
    choice_model="proportional",
    min_normalizer=-1.0,
    item_length=VIDEO_LENGTH,
    watch_model="full_length",
    budget=TIME_BUDGET,
    step_cost=0.5,
    step_cost_on_click=False,
    quality_return=0.9 / 3.4,
    interest_update="recsim",
    interest_drift=0.3,
)

ECOSYSTEM_DEFAULTS: dict[str, Any] = {
    "num_sessions": 1,
    "session_ends_episode": True,
    "horizon": 1000,
    "retrieval_share": 0.0,
    "user_state": "interest",
    "user_model": RECSIM_USER_MODEL,
    "provider_model": {"initial_live_fraction": 1.0, "leave_threshold": 0.0},
}
"""EcosystemConfig fields of the preset (overridable like any preset's)."""
