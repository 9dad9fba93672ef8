"""Cold start: new users who bring only a profile text, new items that bring only their text.

With ``EcosystemConfig.cold_start`` set, the env splits its users and items once, by
``ColdStart.seed``, into *warm* and *cold* (new) ones:

- a **warm user** is one the platform has seen before: each of their sessions starts with
  their past consumption as the session's history (the population's ``prior_history``, most
  recent first, new items left out; for MovieLens users their latest *training* ratings,
  never held-out ones, see :mod:`envs.presets`), so the slate policy's state
  (``item_mean``, ``text``) already says what they watched;
- a **cold user** arrives with their profile text only (an empty history);
- a **warm item** has its interactions before the simulation (``prior_popularity``) and its
  appeal visible in the slate policy's candidate features;
- a **cold item** has none of that: the platform sees popularity 0 and appeal 0 (the
  catalog's standardised mean: unknown) until it is clicked in this episode; its text is
  all there is. Users respond to its true appeal and quality as to any item's.

``include_cold`` says whether cold users arrive and cold items can be live. The cold-start
protocol trains with ``include_cold: false`` (cold users and items never appear in
training: nothing about them can be learned, as for users and items that arrive after a
model was trained) and evaluates with ``include_cold: true``, where ``user_share`` of the
arriving sessions are cold users (a session draws a user uniformly from the population)
and cold items are live and released like the others. The episode metrics then carry the
cold/warm split (:mod:`envs.metrics`). Without ``cold_start`` no user has a prior history:
every session starts from the profile alone.

A learned id-embedding policy (``user_state="id"``) sees ids from the platform's
vocabulary of warm users and items: id ``index + 1``; every cold user and cold item has
id 0, "unknown" (see :meth:`ColdSplit.observed_user_ids`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIOR_HISTORY_LENGTH = 20
"""How many past consumptions a population keeps per user (``UserPopulation.prior_history``)."""


@dataclass(frozen=True)
class ColdStart:
    """Which users and items are new, and whether they take part (see the module doc)."""

    user_share: float = 0.2
    item_share: float = 0.2
    include_cold: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("user_share", "item_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not 0.0 <= value < 1.0:
                raise ValueError(f"cold_start.{name}={value!r} must be a number in [0, 1)")
        if not isinstance(self.include_cold, bool):
            raise ValueError(f"cold_start.include_cold={self.include_cold!r} must be true or "
                             "false")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) \
                or self.seed < 0:
            raise ValueError(f"cold_start.seed={self.seed!r} must be an integer >= 0")


@dataclass(frozen=True, eq=False)
class ColdSplit:
    """The warm/cold split of one population and catalog."""

    cold_users: np.ndarray  # (num_users,) bool
    cold_items: np.ndarray  # (num_items,) bool

    @classmethod
    def draw(cls, config: ColdStart, num_users: int, num_items: int) -> ColdSplit:
        """``round(share * n)`` users and items chosen uniformly without replacement, each
        from its own random stream: changing ``user_share`` leaves the cold items alone."""
        user_rng, item_rng = (np.random.default_rng([config.seed, s]) for s in (0, 1))
        cold_users = np.zeros(num_users, bool)
        cold_users[user_rng.choice(num_users, int(round(config.user_share * num_users)),
                                   replace=False)] = True
        cold_items = np.zeros(num_items, bool)
        cold_items[item_rng.choice(num_items, int(round(config.item_share * num_items)),
                                   replace=False)] = True
        return cls(cold_users, cold_items)

    @classmethod
    def none(cls, num_users: int, num_items: int) -> ColdSplit:
        """Everyone warm (no ``cold_start``)."""
        return cls(np.zeros(num_users, bool), np.zeros(num_items, bool))

    def session_histories(self, prior_history: np.ndarray, length: int) -> np.ndarray:
        """``(num_users, length)`` histories a session starts with: a warm user's first
        ``length`` prior consumptions that are not cold items, most recent first, padded
        with -1; a cold user's are all -1."""
        out = np.full((prior_history.shape[0], length), -1, np.int64)
        for user in np.flatnonzero(~self.cold_users):
            past = prior_history[user]
            past = past[past >= 0]
            past = past[~self.cold_items[past]][:length]
            out[user, : past.size] = past
        return out

    def observed_user_ids(self, users: np.ndarray) -> np.ndarray:
        """The platform's ids of population indices ``users``: ``index + 1``, 0 if cold."""
        return np.where(self.cold_users[users], 0, users + 1)

    def observed_item_ids(self, items: np.ndarray) -> np.ndarray:
        """The platform's ids of catalog indices ``items``: ``index + 1``, 0 if cold."""
        return np.where(self.cold_items[items], 0, items + 1)
