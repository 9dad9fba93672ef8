"""Scripted behaviours: plain ``obs -> action`` policies for every role.

Each behaviour is called on one agent's observation, ``behaviour(obs, rng) -> action``,
and on a batch of observations of agents of one role (arrays with a leading agent axis),
``behaviour.act_batch(obs_batch, rng) -> actions``; the single call is the batch call
on a batch of one. ``rng`` is a ``numpy.random.Generator``; deterministic behaviours
ignore it.

| role | behaviour | what it does |
|---|---|---|
| slate policy | :class:`RandomSlate` | ``slate_size`` distinct random candidates |
| slate policy | :class:`PopularitySlate` | most popular candidates (prior + clicks so far) |
| slate policy | :class:`GreedyByAppeal` | most appealing candidates: the click maximiser |
| slate policy | :class:`GreedyBySimilarity` | most similar to the user state (RecSim's |
|  |  | "myopic" agent when the state is the user's interest) |
| slate policy | :class:`GreedyByQuality` | highest hidden quality: an oracle, reads the env |
| user | :class:`ChoiceModelUser` | samples the user model's choice model |
| provider | :class:`StaticProvider` | never releases |
| provider | :class:`FollowTheTrend` | releases in the topic where demand most exceeds supply |
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from envs.observation import CANDIDATE_FEATURES, SLATE_FEATURES
from envs.providers import NO_RELEASE
from envs.users import UserModel, affinity, choice_probabilities, choice_scores


class Behaviour(Protocol):
    """A scripted policy for one role."""

    def act_batch(self, obs: Any, rng: np.random.Generator) -> np.ndarray: ...

    def __call__(self, obs: Any, rng: np.random.Generator | None = None) -> Any: ...


class ScriptedBehaviour:
    """Base class: the single-observation call is the batch call on a batch of one."""

    def act_batch(self, obs: Any, rng: np.random.Generator) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} must define act_batch")

    def __call__(self, obs: Any, rng: np.random.Generator | None = None) -> Any:
        rng = rng if rng is not None else np.random.default_rng()
        if isinstance(obs, dict):
            batch = {k: np.asarray(v)[None] for k, v in obs.items()}
        else:
            batch = np.asarray(obs)[None]
        return self.act_batch(batch, rng)[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _top_positions(scores: np.ndarray, slate_size: int) -> np.ndarray:
    """Positions of the ``slate_size`` highest scores per row, best first (ties: lowest)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :slate_size]


class _SlateByFeature(ScriptedBehaviour):
    feature: str = ""

    def __init__(self, slate_size: int) -> None:
        self.slate_size = slate_size

    def act_batch(self, obs: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        features = obs["candidate_features"]
        column = CANDIDATE_FEATURES.index(self.feature) if self.feature in CANDIDATE_FEATURES \
            else len(CANDIDATE_FEATURES)
        if column >= features.shape[-1]:
            raise ValueError(f"{type(self).__name__} needs the {self.feature!r} candidate "
                             "feature: build the env with reveal_quality=True")
        return _top_positions(features[..., column], self.slate_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(slate_size={self.slate_size})"


class RandomSlate(ScriptedBehaviour):
    """``slate_size`` distinct candidates uniformly at random."""

    def __init__(self, slate_size: int) -> None:
        self.slate_size = slate_size

    def act_batch(self, obs: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        b, c = obs["candidate_features"].shape[:2]
        return _top_positions(rng.random((b, c)), self.slate_size)

    def __repr__(self) -> str:
        return f"RandomSlate(slate_size={self.slate_size})"


class PopularitySlate(_SlateByFeature):
    """The most popular candidates (prior interactions plus clicks this episode)."""

    feature = "popularity"


class GreedyByAppeal(_SlateByFeature):
    """The most appealing candidates: the myopic click maximiser."""

    feature = "appeal"


class GreedyBySimilarity(_SlateByFeature):
    """The candidates most similar to the user state (``<state, candidate>``): a
    content-based recommender; with ``user_state="interest"`` the highest click affinity,
    RecSim's myopic agent. When the observation carries the session's encoded intent
    (env ``intent="on"``) it adds ``<intent, candidate>``."""

    feature = "similarity"

    def act_batch(self, obs: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        if "intent" not in obs:
            return super().act_batch(obs, rng)
        similarity = obs["candidate_features"][..., CANDIDATE_FEATURES.index("similarity")]
        stated = np.einsum("bcd,bd->bc", obs["candidates"], obs["intent"])
        return _top_positions(similarity + stated, self.slate_size)


class GreedyByQuality(_SlateByFeature):
    """The candidates of highest hidden quality: an oracle (an upper reference). In a
    rollout it reads the quality from the env (``act_with_env``); on observations it needs
    ``reveal_quality=True``."""

    feature = "quality"

    def act_with_env(self, env: Any, rows: np.ndarray, obs: Any,
                     rng: np.random.Generator) -> np.ndarray:
        quality = env.catalog.quality[env.candidate_items[rows]]
        return _top_positions(quality, self.slate_size)


class ChoiceModelUser(ScriptedBehaviour):
    """Samples the choice model of :mod:`envs.users` (the calibrated conditional logit, or
    RecSim's multinomial proportional model).

    Never leaves voluntarily: sessions end when the budget is spent.
    """

    def __init__(self, model: UserModel) -> None:
        self.model = model

    def probabilities(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        appeal = obs["slate_features"][..., SLATE_FEATURES.index("appeal")]
        return choice_probabilities(self.model, appeal, affinity(obs["interest"], obs["slate"]))

    def act_batch(self, obs: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        if self.model.choice_model == "proportional":  # inverse-CDF draw per row
            cumulative = np.cumsum(self.probabilities(obs), axis=1)
            u = rng.random((cumulative.shape[0], 1)) * cumulative[:, -1:]
            return np.minimum((cumulative <= u).sum(axis=1), cumulative.shape[1] - 1)
        # Gumbel-max: argmax(scores + Gumbel noise) is a draw from softmax(scores).
        appeal = obs["slate_features"][..., SLATE_FEATURES.index("appeal")]
        scores = choice_scores(self.model, appeal, affinity(obs["interest"], obs["slate"]))
        return np.argmax(scores + rng.gumbel(size=scores.shape), axis=1)

    def __repr__(self) -> str:
        return "ChoiceModelUser()"


class StaticProvider(ScriptedBehaviour):
    """Never releases anything new."""

    def act_batch(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.full(obs.shape[0], NO_RELEASE, np.int64)


class FollowTheTrend(ScriptedBehaviour):
    """Releases in the topic whose demand share most exceeds its supply share, when that
    gap is above ``min_gap``; otherwise releases nothing."""

    def __init__(self, num_topics: int, min_gap: float = 0.02) -> None:
        self.num_topics = num_topics
        self.min_gap = min_gap

    def act_batch(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        t = self.num_topics
        demand, supply = obs[:, 4: 4 + t], obs[:, 4 + t: 4 + 2 * t]
        gap = demand - supply
        best = np.argmax(gap, axis=1)
        release = gap[np.arange(obs.shape[0]), best] > self.min_gap
        return np.where(release, best + 1, NO_RELEASE).astype(np.int64)

    def __repr__(self) -> str:
        return f"FollowTheTrend(num_topics={self.num_topics}, min_gap={self.min_gap})"


class RandomAction(ScriptedBehaviour):
    """Samples the agent's action space: a reference point for any role."""

    def __init__(self, space: Any) -> None:
        self.space = space

    def act_batch(self, obs: Any, rng: np.random.Generator) -> np.ndarray:
        n = len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)
        if hasattr(self.space, "nvec"):
            return rng.integers(0, self.space.nvec, (n, *self.space.nvec.shape))
        return rng.integers(0, self.space.n, n)

    def __repr__(self) -> str:
        return f"RandomAction({self.space})"


SLATE_BASELINES = {
    "random": RandomSlate,
    "popularity": PopularitySlate,
    "greedy_by_appeal": GreedyByAppeal,
    "greedy_by_similarity": GreedyBySimilarity,
    "greedy_by_quality": GreedyByQuality,
}
"""Scripted slate policies by name; each takes ``slate_size``."""
