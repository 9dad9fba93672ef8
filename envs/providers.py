"""Content providers: who owns the live items, what they release, when they leave.

At reset each provider has ``initial_live_fraction`` of its catalog items live; the rest
of the catalog is the unreleased back catalogue. Each step a provider acts with
``Discrete(num_topics + 1)``:

- ``0``: release nothing;
- ``k >= 1``: release one unreleased item of topic ``k - 1`` (drawn at random from the
  back catalogue, whoever owned it before; it becomes this provider's). To keep its
  number of live items constant the provider retires its oldest live item back to the
  back catalogue. A release costs ``release_cost`` of reward; asking for a topic whose
  back catalogue is empty releases nothing (counted as ``failed_releases``).

Its reward each step: ``exposure_weight * impressions / (sessions * slate_size) +
engagement / (sessions * item_length) - release_cost * released``: the share of slate
positions its items took plus the (normalised) watch time they earned.

Providers leave: with ``ema`` the exponential moving average (rate ``exposure_ema_rate``)
of a provider's share of impressions, a provider is *starving* in a step when
``ema < leave_threshold / num_active_providers`` (a fraction of its fair share). After
``patience`` starving steps in a row it leaves the platform: its agent terminates and its
live items are withdrawn. This makes long-term provider welfare measurable. A departure
that would leave fewer live items than a candidate list plus a user history need
(``num_candidates + history_length``) is postponed: the platform never runs dry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.catalog import Catalog

NO_RELEASE = 0


@dataclass(frozen=True)
class ProviderModel:
    """Parameters of provider dynamics (see module docstring)."""

    initial_live_fraction: float = 0.7
    release_cost: float = 0.05
    exposure_weight: float = 1.0
    exposure_ema_rate: float = 0.05
    leave_threshold: float = 0.2
    patience: int = 50

    def __post_init__(self) -> None:
        if not 0 < self.initial_live_fraction <= 1:
            raise ValueError("provider_model.initial_live_fraction="
                             f"{self.initial_live_fraction!r} must be in (0, 1]")
        if not 0 < self.exposure_ema_rate <= 1:
            raise ValueError(f"provider_model.exposure_ema_rate={self.exposure_ema_rate!r} "
                             "must be in (0, 1]")
        if not self.leave_threshold >= 0:
            raise ValueError(f"provider_model.leave_threshold={self.leave_threshold!r} must "
                             "be >= 0 (0 means providers never leave)")
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"provider_model.patience={self.patience!r} must be an integer "
                             ">= 1")


class ProviderMarket:
    """Mutable state of the provider side for one episode, vectorised over providers."""

    def __init__(self, catalog: Catalog, model: ProviderModel, min_live_items: int,
                 withheld: np.ndarray | None = None) -> None:
        self.catalog = catalog
        self.model = model
        self.min_live_items = min_live_items
        # items that are never live (cold items kept out of training, envs.cold_start)
        self.withheld = np.zeros(catalog.num_items, bool) if withheld is None else withheld
        self.num_providers = catalog.num_providers
        self.num_topics = catalog.num_topics

    def reset(self, rng: np.random.Generator) -> None:
        cat, n = self.catalog, self.catalog.num_items
        self.owner = cat.provider.copy()
        self.live = np.zeros(n, bool)
        for p in range(self.num_providers):
            items = np.flatnonzero((cat.provider == p) & ~self.withheld)
            k = int(np.ceil(self.model.initial_live_fraction * items.size))
            self.live[rng.choice(items, k, replace=False)] = True
        self.released_at = np.full(n, -1, np.int64)  # step of release; -1: live since reset
        self.ever_live = self.live.copy()
        self.active = np.array([np.any(self.live & (self.owner == p))
                                for p in range(self.num_providers)])
        self.initial_live = np.bincount(self.owner[self.live], minlength=self.num_providers)
        self.exposure_ema = np.where(self.active, 1.0 / max(1, self.active.sum()), 0.0)
        self.engagement_ema = self.exposure_ema.copy()
        self.demand_ema = np.full(self.num_topics, 1.0 / self.num_topics)
        self.starving_steps = np.zeros(self.num_providers, np.int64)
        self.failed_releases = 0
        self.releases = 0
        self.live_changed = True
        self.live_version = 0
        self._supply_cache: tuple[int, np.ndarray, np.ndarray] | None = None

    # -- per step -------------------------------------------------------------------------

    def release(self, actions: np.ndarray, step: int, rng: np.random.Generator) -> np.ndarray:
        """Applies release actions ``(P,)``; returns the number released per provider."""
        released = np.zeros(self.num_providers, np.int64)
        for p in np.flatnonzero((actions != NO_RELEASE) & self.active):
            topic = actions[p] - 1
            pool = np.flatnonzero(~self.live & ~self.withheld & (self.catalog.topic == topic))
            if pool.size == 0:
                self.failed_releases += 1
                continue
            new = rng.choice(pool)
            own_live = np.flatnonzero(self.live & (self.owner == p))
            if own_live.size:
                self.live[own_live[np.argmin(self.released_at[own_live])]] = False
            self.live[new] = True
            self.owner[new] = p
            self.released_at[new] = step
            self.ever_live[new] = True
            released[p] = 1
        if released.any():
            self.releases += int(released.sum())
            self.live_changed = True
            self.live_version += 1
        return released

    def record(self, impressions: np.ndarray, engagement: np.ndarray,
               consumed_topics: np.ndarray) -> np.ndarray:
        """Updates the moving averages from one step's impressions and engagement per
        provider, and the topic demand; returns the providers that leave now."""
        rate = self.model.exposure_ema_rate
        total_impressions, total_engagement = float(impressions.sum()), float(engagement.sum())
        share = impressions * (rate / max(1.0, total_impressions))
        eng_share = (engagement * (rate / total_engagement) if total_engagement > 0 else share)
        self.exposure_ema *= 1 - rate
        self.exposure_ema += share
        self.exposure_ema *= self.active
        self.engagement_ema *= 1 - rate
        self.engagement_ema += eng_share
        self.engagement_ema *= self.active
        if consumed_topics.size:
            self.demand_ema *= 1 - rate
            self.demand_ema += np.bincount(consumed_topics, minlength=self.num_topics) * (
                rate / consumed_topics.size)
        threshold = self.model.leave_threshold / max(1, int(self.active.sum()))
        starving = self.active & (self.exposure_ema < threshold)
        self.starving_steps += 1
        self.starving_steps *= starving
        if self.starving_steps.max() < self.model.patience:
            return np.empty(0, np.int64)
        leaving = self._affordable_departures(
            np.flatnonzero(self.starving_steps >= self.model.patience))
        if leaving.size:
            self.active[leaving] = False
            self.live[np.isin(self.owner, leaving)] = False
            self.live_changed = True
            self.live_version += 1
        return leaving

    def _affordable_departures(self, leaving: np.ndarray) -> np.ndarray:
        """The leaving providers, least exposed first, as long as the live catalog keeps
        ``min_live_items`` (enough to fill the candidate lists); the others stay."""
        if leaving.size == 0:
            return leaving
        live_owned = np.bincount(self.owner[self.live], minlength=self.num_providers)
        order = leaving[np.argsort(self.exposure_ema[leaving], kind="stable")]
        remaining = live_owned.sum() - np.cumsum(live_owned[order])
        return np.sort(order[remaining >= self.min_live_items])

    # -- views ----------------------------------------------------------------------------

    def observations(self) -> np.ndarray:
        """``(P, 4 + 3 * num_topics)`` float32 in [0, 1], see ``observation_size``."""
        supply, own = self._supply()
        t = self.num_topics
        out = np.empty((self.num_providers, self.observation_size()), np.float32)
        out[:, 0] = np.minimum(1.0, self.exposure_ema)
        out[:, 1] = np.minimum(1.0, self.engagement_ema)
        out[:, 2] = np.minimum(1.0, self.starving_steps / self.model.patience)
        out[:, 3] = own.sum(axis=1) > 0
        out[:, 4: 4 + t] = self.demand_ema
        out[:, 4 + t: 4 + 2 * t] = supply
        out[:, 4 + 2 * t:] = own
        return out

    def _supply(self) -> tuple[np.ndarray, np.ndarray]:
        """Live supply share per topic ``(T,)`` and each provider's own live items per
        topic ``(P, T)``; recomputed only when the live catalog changed."""
        if self._supply_cache is None or self._supply_cache[0] != self.live_version:
            live_topics = self.catalog.topic[self.live]
            supply = np.bincount(live_topics, minlength=self.num_topics)
            own = np.zeros((self.num_providers, self.num_topics))
            np.add.at(own, (self.owner[self.live], live_topics), 1.0)
            own /= np.maximum(1.0, own.sum(axis=1, keepdims=True))
            self._supply_cache = (self.live_version, supply / max(1, live_topics.size), own)
        return self._supply_cache[1], self._supply_cache[2]

    def observation_size(self) -> int:
        """Exposure EMA, engagement EMA, starving fraction of patience, has live items;
        then topic demand (EMA of consumption shares), live supply share per topic and
        this provider's own live items per topic (shares)."""
        return 4 + 3 * self.num_topics
