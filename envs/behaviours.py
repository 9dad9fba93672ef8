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
| slate policy | :class:`MostDiverse` | greedy maximal intra-list diversity |
| user | :class:`ChoiceModelUser` | samples the user model's choice model |
| provider | :class:`StaticProvider` | never releases |
| provider | :class:`FollowTheTrend` | releases in the topic where demand most exceeds supply |

**The registry.** :data:`BEHAVIOURS` maps each behaviour's name (unique across roles) to a
:class:`BehaviourInfo`: its role, how to build it for an env, the env values it reads,
whether it is *privileged* (reads state that its role's observation does not carry, such as
hidden item quality) and a one-line description. Everything else is derived from it: the
names each role offers (:data:`ROLE_BEHAVIOURS`, what experiment specs accept), the slate
baselines (:data:`SLATE_BASELINES`), :func:`role_behaviour` and
:func:`scripted_behaviours`. A new behaviour is one class and one registry line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from envs.ecosystem import ROLES, RecEcosystemEnv
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


class MostDiverse(ScriptedBehaviour):
    """The most diverse slate, built greedily (maximal marginal diversity): first the most
    appealing candidate (the anchor: the slate starts where a click is likeliest), then,
    slot by slot, the candidate whose mean cosine distance ``1 - cos`` to the items already
    in the slate is largest. Distances are those of the candidates' item vectors in the
    observation (``candidates``, in the observation basis); ties go to the lowest
    candidate position. A zero vector counts as distance 1 from everything. Needs the
    ``candidates`` key: not with ``user_state="id"``."""

    def __init__(self, slate_size: int) -> None:
        self.slate_size = slate_size

    def act_batch(self, obs: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        if "candidates" not in obs:
            raise ValueError("MostDiverse needs the candidates' item vectors (observation key "
                             "'candidates'), which user_state='id' does not show")
        vectors = np.asarray(obs["candidates"], np.float64)  # (B, C, k)
        norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
        unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        distance = 1.0 - np.einsum("bck,bek->bce", unit, unit)  # (B, C, C)
        appeal = obs["candidate_features"][..., CANDIDATE_FEATURES.index("appeal")]
        rows = np.arange(appeal.shape[0])
        slate = np.empty((appeal.shape[0], self.slate_size), np.int64)
        slate[:, 0] = np.argmax(appeal, axis=1)  # argmax: the first of tied maxima
        taken = np.zeros(appeal.shape, bool)
        # the sum of distances to the slate so far: at every slot it ranks the candidates
        # as the mean does (same divisor), without rounding ties apart
        total = np.zeros(appeal.shape)
        for slot in range(1, self.slate_size):
            taken[rows, slate[:, slot - 1]] = True
            total += distance[rows, slate[:, slot - 1]]
            slate[:, slot] = np.argmax(np.where(taken, -np.inf, total), axis=1)
        return slate

    def __repr__(self) -> str:
        return f"MostDiverse(slate_size={self.slate_size})"


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


@dataclass(frozen=True)
class BehaviourInfo:
    """One scripted behaviour in :data:`BEHAVIOURS`."""

    name: str
    """What specs, the CLI and :func:`role_behaviour` call it; unique across roles."""
    role: str
    """The role it acts for: one of :data:`envs.ecosystem.ROLES`."""
    cls: type
    """The class that implements it."""
    build: Callable[[RecEcosystemEnv], Behaviour]
    """Builds it for an env (reading the values in ``parameters``)."""
    parameters: tuple[str, ...]
    """The env values it is built from or reads while acting (``config.<field>``,
    ``catalog.<field>``)."""
    privileged: bool
    """Whether it reads state that its role's observation does not carry (the env itself,
    hidden item quality): an upper reference rather than a baseline a platform could run."""
    description: str
    refused_user_states: tuple[str, ...] = ()
    """``user_state`` settings whose observations lack what it reads (the spec refuses
    them before anything runs)."""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"behaviour {self.name!r}: role={self.role!r} is not one of "
                             f"{list(ROLES)}")


def _registry(*infos: BehaviourInfo) -> dict[str, BehaviourInfo]:
    registry: dict[str, BehaviourInfo] = {}
    for info in infos:
        if info.name in registry:
            raise ValueError(f"behaviour name {info.name!r} is registered twice (roles "
                             f"{registry[info.name].role!r} and {info.role!r}); names are "
                             "unique across roles")
        registry[info.name] = info
    return registry


BEHAVIOURS: dict[str, BehaviourInfo] = _registry(
    BehaviourInfo("random", "slate_policy", RandomSlate,
                  lambda env: RandomSlate(env.config.slate_size), ("config.slate_size",),
                  False, "slate_size distinct candidates uniformly at random"),
    BehaviourInfo("popularity", "slate_policy", PopularitySlate,
                  lambda env: PopularitySlate(env.config.slate_size), ("config.slate_size",),
                  False, "the most popular candidates (prior interactions + clicks so far)"),
    BehaviourInfo("greedy_by_appeal", "slate_policy", GreedyByAppeal,
                  lambda env: GreedyByAppeal(env.config.slate_size), ("config.slate_size",),
                  False, "the most appealing candidates: the myopic click maximiser"),
    BehaviourInfo("greedy_by_similarity", "slate_policy", GreedyBySimilarity,
                  lambda env: GreedyBySimilarity(env.config.slate_size),
                  ("config.slate_size",), False,
                  "the candidates most similar to the user state (+ the stated intent)"),
    BehaviourInfo("greedy_by_quality", "slate_policy", GreedyByQuality,
                  lambda env: GreedyByQuality(env.config.slate_size),
                  ("config.slate_size", "catalog.quality"), True,
                  "the candidates of highest hidden quality: an oracle, reads the env"),
    BehaviourInfo("most_diverse", "slate_policy", MostDiverse,
                  lambda env: MostDiverse(env.config.slate_size), ("config.slate_size",),
                  False, "greedy maximal intra-list diversity from the most appealing item",
                  refused_user_states=("id",)),
    BehaviourInfo("choice_model", "user", ChoiceModelUser,
                  lambda env: ChoiceModelUser(env.config.user_model), ("config.user_model",),
                  False, "samples the user model's choice model (its own interest and slate)"),
    BehaviourInfo("static", "provider", StaticProvider, lambda env: StaticProvider(), (),
                  False, "never releases anything new"),
    BehaviourInfo("follow_the_trend", "provider", FollowTheTrend,
                  lambda env: FollowTheTrend(env.catalog.num_topics), ("catalog.num_topics",),
                  False, "releases in the topic whose demand share most exceeds its supply"),
)
"""Every scripted behaviour by name (see the module docstring)."""

ROLE_BEHAVIOURS: dict[str, tuple[str, ...]] = {
    role: tuple(name for name, info in BEHAVIOURS.items() if info.role == role)
    for role in ROLES
}
"""The scripted behaviours each role offers, by name (:func:`role_behaviour`)."""

SLATE_BASELINES: dict[str, type] = {
    name: BEHAVIOURS[name].cls for name in ROLE_BEHAVIOURS["slate_policy"]
}
"""Scripted slate policies by name; each class takes ``slate_size``."""

DEFAULT_BEHAVIOURS: dict[str, str] = {"slate_policy": "greedy_by_appeal", "user": "choice_model",
                                      "provider": "static"}
"""What :func:`scripted_behaviours` picks for each role unless told otherwise."""


def role_behaviour(env: RecEcosystemEnv, role: str, name: str) -> Behaviour:
    """The scripted behaviour ``name`` of ``role`` for ``env``."""
    if role not in ROLE_BEHAVIOURS:
        raise ValueError(f"role={role!r} is not one of {list(ROLE_BEHAVIOURS)}")
    if name not in ROLE_BEHAVIOURS[role]:
        raise ValueError(f"{role} behaviour {name!r} is not one of {list(ROLE_BEHAVIOURS[role])}")
    return BEHAVIOURS[name].build(env)


def scripted_behaviours(env: RecEcosystemEnv, slate_policy: str = "greedy_by_appeal",
                        provider: str = "static") -> dict[str, Behaviour]:
    """Default scripted behaviours for every role of ``env``: the calibrated choice model
    for users, ``slate_policy`` (a name from ``ROLE_BEHAVIOURS["slate_policy"]``) and a
    provider behaviour (a name from ``ROLE_BEHAVIOURS["provider"]``)."""
    chosen = {**DEFAULT_BEHAVIOURS, "slate_policy": slate_policy, "provider": provider}
    for role in ("slate_policy", "provider"):
        if chosen[role] not in ROLE_BEHAVIOURS[role]:
            raise ValueError(f"{role}={chosen[role]!r}; allowed: "
                             f"{sorted(ROLE_BEHAVIOURS[role])}")
    return {role: BEHAVIOURS[name].build(env) for role, name in chosen.items()}
