"""``RecEcosystemEnv``: slate policies, users and providers as peer agents.

A PettingZoo ``ParallelEnv``. ``num_sessions`` user sessions run concurrently; slot ``j``
has a slate-policy agent ``slate_policy_{j}`` and a user agent ``user_{j}``; every
provider is an agent ``provider_{p}``. Every live agent gets an observation and acts
every step (PettingZoo's strict parallel contract).

Timing (the pipeline). At step ``t``:

1. ``user_j`` responds to the slate in its observation: the slate that ``slate_policy_j``
   chose at step ``t - 1`` (at reset, and for a user who has just arrived, the
   "cold-open" slate: the first ``slate_size`` candidates, i.e. the nearest ones when
   ``num_retrieved >= slate_size``). Consuming, skipping
   and leaving take effect now; ``slate_policy_j`` is rewarded now with that engagement,
   i.e. one step after its choice. ``env.slate_responses[j]`` says what the platform saw
   of that response (after privacy noise, if any): the slate position consumed,
   :data:`NO_CONSUMPTION` or, when the shown slate was a cold open rather than
   ``slate_policy_j``'s choice, :data:`NOT_CHOSEN`; value-based slate learners
   (SlateQ) pair it with the slate chosen at ``t - 1``.
2. ``slate_policy_j`` picks ``slate_size`` of the ``num_candidates`` candidates in its
   observation; that slate is shown to ``user_j`` at ``t + 1``. If the session ends at
   ``t`` the slate is discarded and the new user gets a cold-open slate.
3. ``provider_p`` releases (or not) an item; releases join the live catalog now and can
   be retrieved for step ``t + 1``. A provider that left at ``t`` has its items withdrawn
   from retrieval; a slate already committed at ``t`` is still shown once.
4. The env retrieves the candidates of step ``t + 1`` for every session.

Candidates: ``ceil(retrieval_share * num_candidates)`` live items nearest to the user state
(excluding the user's recent history), found in a ``retrieval_dim``-dimensional PCA
projection of the item vectors as an approximate-nearest-neighbour index would, ordered
nearest first; the rest are distinct random live items.

Item vectors: the encoder's embeddings of the item texts, centred on the catalog mean
and re-normalised (removes the direction that all texts of one catalog share, so that
affinities spread over [-1, 1]); computed once per (encoder, catalog) and cached.

The user state seen by the slate policy is ``"text"`` (the encoded text "profile +
recently consumed titles", re-encoded only when it changes), ``"item_mean"`` (the unit
mean of the recent history's item vectors; the profile's embedding while the history is
empty), centred like the item vectors, ``"interest"`` (the user's true current interest:
full observability, as in RecSim, whose observation is the user's interest vector; the
only state of catalogs with fixed item features), or ``"text_deferred"``: the env runs as with
``item_mean`` (retrieval and the observation use the item-mean state) and puts each
session's state text in ``infos["slate_policy_j"]["user_state_text"]`` every step, for an
encoder outside the env to put in the observation; in RLlib the env-to-module connector
``marlrec.encoder.rllib.EncodeUserStateTexts`` does so with one encoder call for all the
sub-envs of a runner. ``"id"``: the env runs as with ``item_mean``, but the slate policy
sees ids instead of anything derived from text: ``user_id`` and ``candidate_ids`` (the
platform's vocabulary, :meth:`envs.cold_start.ColdSplit.observed_user_ids`) replace
``user_state`` and ``candidates``, and the similarity feature is 0.

Observation width (``observation_dim``, :mod:`envs.observation`): the slate policy sees
the user state, the candidates and the intent as their coordinates on the catalog's first
``observation_dim`` principal axes (default 32, measured in ``docs/benchmarks.md``); ``0``
shows the full vectors. Dynamics, retrieval, features and the users' own observations stay
at full width.

Cold start (``cold_start``, :mod:`envs.cold_start`): warm users start each session with
their past consumption as its history, cold users with their profile only; cold items show
the platform no popularity or appeal; ``include_cold=False`` keeps cold users and items out
(for training); ``env.cold_split`` says who and what is cold.

Sessions: when a session ends (budget spent or the user left) a new user takes the slot,
unless ``session_ends_episode`` (one session slot only): then the episode ends with the
session and every agent terminates, RecSim's episode. Episode metrics are in every agent's
``infos["episode_metrics"]`` at the episode's last step.

Action rules: a slate-policy action is ``MultiDiscrete([num_candidates] * slate_size)``,
positions into the candidate list. Why positions and not scores: every RLlib algorithm
with a categorical head supports MultiDiscrete, and a slate of ``S`` indices is the
object the user sees. A position that repeats an earlier one is replaced by the
first (nearest) candidate not yet in the slate and counted in ``duplicate_slate_items``.
An action outside its space raises ``ValueError`` naming the agent, the action and the
space.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from envs.catalog import Catalog
from envs.cold_start import ColdSplit, ColdStart
from envs.encoding import (
    HashingTextEncoder,
    IncrementalStateTexts,
    TextEncoder,
    encode_checked,
    is_additive,
    unit_rows,
)
from envs.intents import INTENT_MODES, IntentVocabulary
from envs.item_features import ItemFeatureBuilder
from envs.metrics import EpisodeMetrics
from envs.numerics import FixedPoint, log1p, matmul
from envs.objectives import (
    SlateObjective,
    exposure_fairness_of_providers,
    objective_from_dict,
    slate_rewards,
)
from envs.observation import (
    CANDIDATE_FEATURES,
    FEATURE_BOUND,
    SLATE_FEATURES,
    observation_basis,
    principal_axes,
)
from envs.privacy import check_epsilon, privatise
from envs.providers import ProviderMarket, ProviderModel
from envs.users import (
    MovieLensUsers,
    SyntheticUsers,
    UserModel,
    UserPopulation,
    affinity,
    budget_change,
    choice_probabilities,
    drift_interest,
    recsim_interest_update,
    topic_centroids,
    watch_time,
)

NO_CONSUMPTION = -1
"""``slate_responses``: the shown slate's user consumed nothing (skipped or left)."""
NOT_CHOSEN = -2
"""``slate_responses``: the shown slate was a cold open, not the slot's chosen slate."""

ROLES = ("slate_policy", "user", "provider")
ROLE_ACTION_KINDS = {"slate_policy": "multi_discrete", "user": "discrete",
                     "provider": "discrete"}
"""The kind of action space of each role (what an algorithm must support to learn it)."""
USER_STATES = ("text", "item_mean", "text_deferred", "interest", "id")
__all__ = ["CANDIDATE_FEATURES", "FEATURE_BOUND", "ROLES", "SLATE_FEATURES", "USER_STATES",
           "EcosystemConfig", "RecEcosystemEnv", "embed_catalog"]


@dataclass(frozen=True)
class EcosystemConfig:
    """Sizes and dynamics of one ecosystem; the catalog and users are passed separately."""

    num_sessions: int = 8
    num_candidates: int = 10
    slate_size: int = 2
    horizon: int = 100
    retrieval_share: float = 0.5
    retrieval_dim: int = 32
    observation_dim: int = 32
    user_state: str = "text"
    reveal_quality: bool = False
    reveal_exposure: bool = False
    session_ends_episode: bool = False
    item_attributes: bool = False
    intent: str = "off"
    cold_start: ColdStart | None = None
    user_model: UserModel = field(default_factory=UserModel)
    provider_model: ProviderModel = field(default_factory=ProviderModel)
    objective: SlateObjective = field(default_factory=SlateObjective)
    privacy_epsilon: float | None = None  # LDP of user feedback per user step (envs.privacy)

    def __post_init__(self) -> None:
        for name, low in (("num_sessions", 1), ("num_candidates", 2), ("slate_size", 1),
                          ("horizon", 1), ("retrieval_dim", 0), ("observation_dim", 0)):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}={value!r} must be an integer >= {low}")
        if self.slate_size > self.num_candidates:
            raise ValueError(f"slate_size={self.slate_size} must be <= num_candidates="
                             f"{self.num_candidates}")
        if not 0.0 <= self.retrieval_share <= 1.0:
            raise ValueError(f"retrieval_share={self.retrieval_share!r} must be in [0, 1]")
        if self.user_state not in USER_STATES:
            raise ValueError(f"user_state={self.user_state!r} is not one of {USER_STATES}")
        if isinstance(self.intent, bool):  # YAML reads a bare on / off as true / false
            object.__setattr__(self, "intent", "on" if self.intent else "off")
        if self.intent not in INTENT_MODES:
            raise ValueError(f"intent={self.intent!r} is not one of {INTENT_MODES}")
        if not isinstance(self.reveal_exposure, bool):
            raise ValueError(f"reveal_exposure={self.reveal_exposure!r} must be true or false")
        if not isinstance(self.item_attributes, bool):
            raise ValueError(f"item_attributes={self.item_attributes!r} must be true or false")
        if not isinstance(self.session_ends_episode, bool):
            raise ValueError(f"session_ends_episode={self.session_ends_episode!r} must be true "
                             "or false")
        if self.session_ends_episode and self.num_sessions != 1:
            raise ValueError(f"session_ends_episode=True needs num_sessions=1, got "
                             f"num_sessions={self.num_sessions}")
        if isinstance(self.cold_start, dict):
            object.__setattr__(self, "cold_start", cold_start_from_dict(self.cold_start))
        if self.cold_start is not None and not isinstance(self.cold_start, ColdStart):
            raise ValueError(f"cold_start must be a ColdStart, a dict of its fields or None, "
                             f"got {type(self.cold_start).__name__}")
        check_epsilon(self.privacy_epsilon)
        if isinstance(self.objective, dict):
            object.__setattr__(self, "objective", objective_from_dict(self.objective))
        for name, cls in (("user_model", UserModel), ("provider_model", ProviderModel),
                          ("objective", SlateObjective)):
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"{name} must be a {cls.__name__}, got "
                                 f"{type(getattr(self, name)).__name__}")

    @property
    def num_retrieved(self) -> int:
        return int(np.ceil(self.retrieval_share * self.num_candidates))

    def with_overrides(self, **overrides: Any) -> EcosystemConfig:
        """A copy with fields replaced; ``user_model`` / ``provider_model`` / ``objective``
        may be dicts of their fields (replacing those given). Unknown names raise
        ``ValueError`` listing the allowed ones."""
        allowed = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise ValueError(f"unknown ecosystem parameter(s) {unknown}; allowed: "
                             f"{sorted(allowed)}")
        for name in ("user_model", "provider_model", "objective"):
            if isinstance(overrides.get(name), dict):
                sub = getattr(self, name)
                sub_allowed = {f.name for f in fields(sub)}
                bad = sorted(set(overrides[name]) - sub_allowed)
                if bad:
                    raise ValueError(f"unknown {name} parameter(s) {bad}; allowed: "
                                     f"{sorted(sub_allowed)}")
                overrides[name] = replace(sub, **overrides[name])
        return replace(self, **overrides)


def resolve_repeats(positions: np.ndarray, num_candidates: int) -> tuple[np.ndarray, int]:
    """Slate positions ``(B, S)`` as the env shows them: a position that repeats an earlier
    one of its slate is replaced by the first (nearest) candidate not yet in the slate;
    returns them and the number replaced."""
    b, s = positions.shape
    rows = np.arange(b)
    used = np.zeros((b, num_candidates), bool)
    chosen = positions.copy()
    replaced = 0
    for k in range(s):
        pos = chosen[:, k]
        dup = used[rows, pos]
        if dup.any():
            pos[dup] = np.argmax(~used[dup], axis=1)
            replaced += int(dup.sum())
        used[rows, pos] = True
    return chosen, replaced


def candidate_feature_names(config: EcosystemConfig) -> tuple[str, ...]:
    """Columns of the slate policy's ``candidate_features``: :data:`CANDIDATE_FEATURES`, then
    ``quality`` with ``reveal_quality``, then ``exposure_fairness`` with ``reveal_exposure``
    (the exposure-fairness term one impression of the candidate's provider would earn now:
    :func:`envs.objectives.exposure_fairness_of_providers`)."""
    return (*CANDIDATE_FEATURES, *("quality",) * config.reveal_quality,
            *("exposure_fairness",) * config.reveal_exposure)


def candidate_feature_count(config: EcosystemConfig) -> int:
    """The number of :func:`candidate_feature_names`."""
    return len(candidate_feature_names(config))


def cold_start_from_dict(raw: dict[str, Any]) -> ColdStart:
    """A :class:`ColdStart` from a dict of its fields; unknown names raise ``ValueError``."""
    allowed = sorted(f.name for f in fields(ColdStart))
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ValueError(f"unknown cold_start parameter(s) {unknown}; allowed: {allowed}")
    return ColdStart(**raw)


# ----------------------------------------------------------------------------- embeddings

_DEFAULT_ENCODER = HashingTextEncoder(64)
_VECTOR_CACHE: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _cached(encoder: TextEncoder, key: str, compute: Any) -> Any:
    try:
        per_encoder = _VECTOR_CACHE.setdefault(encoder, {})
    except TypeError:  # an encoder that cannot be weakly referenced is not cached
        return compute()
    if key not in per_encoder:
        per_encoder[key] = compute()
    return per_encoder[key]


@dataclass(frozen=True, eq=False)
class ItemVectors:
    """Centred unit item vectors, their centre, their principal axes and the PCA basis of
    the retrieval index (the first ``retrieval_dim`` axes)."""

    vectors: np.ndarray  # (n, d)
    centre: np.ndarray  # (d,)
    retrieval_basis: np.ndarray  # (d, r), orthonormal columns
    axes: np.ndarray  # (d, a), the first principal axes by explained variance
    index: np.ndarray  # (n, r), the vectors' retrieval coordinates


def embed_catalog(catalog: Catalog, encoder: TextEncoder, retrieval_dim: int,
                  observation_dim: int = 0) -> ItemVectors:
    """Item vectors of ``catalog`` under ``encoder`` (cached per encoder and catalog); a
    catalog with fixed ``features`` uses them as they are (centre zero) and ignores the
    encoder. ``axes`` holds the principal axes the retrieval index and an observation of
    width ``observation_dim`` need, and one more."""

    def compute() -> ItemVectors:
        if catalog.features is not None:
            vectors = np.asarray(catalog.features, np.float32)
            centre = np.zeros(vectors.shape[1], np.float32)
        else:
            raw = _encode_shared(encoder, f"items:{catalog.fingerprint()}", catalog.texts,
                                 "item texts")
            centre = raw.mean(axis=0)
            vectors = unit_rows(raw - centre)
        d = vectors.shape[1]
        axes = principal_axes(vectors, num_axes)
        if retrieval_dim == 0 or retrieval_dim >= d:
            basis = np.eye(d, dtype=np.float32)
        else:
            basis = np.ascontiguousarray(axes[:, :retrieval_dim])
        index = matmul(vectors, basis).astype(np.float32)
        items = ItemVectors(vectors, centre.astype(np.float32), basis, axes, index)
        for array in (items.vectors, items.centre, items.retrieval_basis, items.axes,
                      items.index):
            array.setflags(write=False)  # shared by every env of this encoder and catalog
        return items

    # one axis more than a width needs: observation_basis tells a full-width one by it
    num_axes = max(retrieval_dim, observation_dim) + 1
    return _cached(encoder, f"items:{catalog.fingerprint()}:{retrieval_dim}:{num_axes}",
                   compute)


def _digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha1()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _encode_shared(encoder: TextEncoder, key: str, texts: Sequence[str], what: str) -> np.ndarray:
    """Embeddings of a fixed text collection (a catalog, a user population). An encoder
    with ``encode_catalog(key, texts)`` (the Ray pool's client) computes them once per
    experiment and shares them through the object store; others just encode."""
    shared = getattr(encoder, "encode_catalog", None)
    if shared is None:
        return encode_checked(encoder, texts, what)
    return encode_checked(lambda _: shared(key, list(texts)), texts, what)


def _text_centre(encoder: TextEncoder, catalog: Catalog) -> np.ndarray:
    """The mean of ``encoder``'s vectors of the catalog's item texts: a state encoder other
    than the item encoder centres user texts by it, as the items are centred by theirs."""
    key = f"items:{catalog.fingerprint()}"
    centre = _encode_shared(encoder, key, catalog.texts, "item texts").mean(axis=0)
    centre.setflags(write=False)
    return centre


def _encode_centred(encoder: TextEncoder, texts: list[str], centre: np.ndarray) -> np.ndarray:
    return unit_rows(encode_checked(encoder, texts, "user state texts") - centre)


_RECENT_PREFIX, _RECENT_SEPARATOR, _RECENT_END = " Recently watched: ", "; ", "."


def user_state_text(profile: str, recent_titles: Sequence[str]) -> str:
    """The text a ``"text"`` user state encodes: the profile, then the recently consumed
    titles, most recent first."""
    if not recent_titles:
        return profile
    return f"{profile}{_RECENT_PREFIX}{_RECENT_SEPARATOR.join(recent_titles)}{_RECENT_END}"


def show_ids_instead_of_text(slate: dict[str, np.ndarray], split: ColdSplit,
                             users: np.ndarray, candidates: np.ndarray) -> None:
    """``user_state="id"``: the slate observation's ``user_id`` ``(rows, 1)`` and
    ``candidate_ids`` ``(rows, C)`` (index + 1, 0 for a cold user or item) replace its
    ``user_state`` and ``candidates`` in place."""
    del slate["user_state"], slate["candidates"]
    slate["user_id"] = split.observed_user_ids(users)[:, None].astype(np.float32)
    slate["candidate_ids"] = split.observed_item_ids(candidates).astype(np.float32)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest scores per row, largest first; overwrites
    ``scores``; ties go to the lowest column on every CPU. Repeated argmax is 3x faster than
    sorting for small k."""
    if k > 16:  # stable: argpartition and the default sort order ties per CPU
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rows = np.arange(scores.shape[0])
    out = np.empty((scores.shape[0], k), np.int64)
    for i in range(k):
        out[:, i] = best = scores.argmax(axis=1)
        scores[rows, best] = -np.inf
    return out


# ----------------------------------------------------------------------------- the env


class RecEcosystemEnv(ParallelEnv):
    """The recommender ecosystem; see the module docstring for the timing and rules."""

    metadata = {"name": "rec_ecosystem_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        catalog: Catalog,
        users: SyntheticUsers | MovieLensUsers | UserPopulation,
        config: EcosystemConfig | None = None,
        encoder: TextEncoder | None = None,
        learned_roles: frozenset[str] = frozenset(ROLES),
        preset: str = "custom",
        render_mode: str | None = None,
        state_encoder: TextEncoder | None = None,
    ) -> None:
        self.config = cfg = config or EcosystemConfig()
        self.catalog = catalog
        self.encoder = encoder if encoder is not None else _DEFAULT_ENCODER
        # The platform's encoder of user texts (profiles, state texts); the item vectors,
        # and with them the simulated users' tastes, stay the encoder's.
        self.state_encoder = state_encoder if state_encoder is not None else self.encoder
        self.learned_roles = frozenset(learned_roles)
        unknown_roles = sorted(self.learned_roles - set(ROLES))
        if unknown_roles:
            raise ValueError(f"learned_roles {unknown_roles} are not roles; allowed: {ROLES}")
        self.preset = preset
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r} is not one of [None, 'ansi']")
        self.render_mode = render_mode

        items = embed_catalog(catalog, self.encoder, cfg.retrieval_dim, cfg.observation_dim)
        self.item_vectors = items.vectors
        self._centre = items.centre  # user-text embeddings are centred like the items
        if self.state_encoder is not self.encoder:
            self._centre = _cached(self.state_encoder, f"centre:{catalog.fingerprint()}",
                                   lambda: _text_centre(self.state_encoder, catalog))
            if self._centre.shape != items.centre.shape:
                raise ValueError(
                    f"state_encoder {type(self.state_encoder).__name__} makes "
                    f"{self._centre.shape[0]}-d vectors, the item encoder "
                    f"{type(self.encoder).__name__} {items.centre.shape[0]}-d: user states and "
                    "items must share one space")
        self._retrieval_basis = FixedPoint(items.retrieval_basis, axis=0)
        self._item_index = items.index
        self.embedding_dim = items.vectors.shape[1]
        # The width the policies see (envs.observation): the item vectors' coordinates on
        # the catalog's first observation_dim principal axes, or the vectors themselves.
        self.observation_basis = observation_basis(items.axes, cfg.observation_dim)
        self._observation_basis = (None if self.observation_basis is None
                                   else FixedPoint(self.observation_basis, axis=0))
        self._observed_item_vectors = self.to_observation_basis(items.vectors)
        self.observation_width = self._observed_item_vectors.shape[1]
        if isinstance(users, UserPopulation):
            self.population = users
        else:
            self.population = users.build(catalog, self.item_vectors)
        if self.population.interest.shape[1] != self.embedding_dim:
            raise ValueError(f"user interests have dimension {self.population.interest.shape[1]}"
                             f", item vectors {self.embedding_dim}")
        self._setup_cold_start(cfg.cold_start)
        if catalog.features is not None and cfg.intent != "off":
            raise ValueError(f"intent={cfg.intent!r} needs a text catalog; catalog "
                             f"{catalog.name!r} has fixed item features")
        self.intents: IntentVocabulary | None = None
        if cfg.intent != "off":
            self.intents = IntentVocabulary(catalog, topic_centroids(catalog, self.item_vectors))
            key = f"intents:{_digest(self.intents.texts)}:{catalog.fingerprint()}"
            self._intent_vectors = _cached(self.state_encoder, key, lambda: unit_rows(
                _encode_shared(self.state_encoder, key, self.intents.texts, "intent texts")
                - self._centre))
        if catalog.features is not None and cfg.user_state != "interest":
            raise ValueError(f"user_state={cfg.user_state!r} needs text embeddings, but catalog "
                             f"{catalog.name!r} has fixed item features: use "
                             "user_state='interest'")
        if cfg.user_state != "interest":  # the state starts from the profile's embedding
            profiles_key = (f"profiles:{_digest(self.population.profiles)}:"
                            f"{catalog.fingerprint()}")
            self._profile_vectors = _cached(self.state_encoder, profiles_key, lambda: unit_rows(
                _encode_shared(self.state_encoder, profiles_key, self.population.profiles,
                               "user profiles") - self._centre))
            self._profile_index = self._project(self._profile_vectors)
        # An additive encoder (the static one, in-process or served by the pool) composes
        # each text state from its profile's and titles' piece sums, each encoded once.
        self._text_states: IncrementalStateTexts | None = None
        if cfg.user_state == "text" and is_additive(self.state_encoder):
            self._text_states = _cached(
                self.state_encoder, f"state-pieces:{profiles_key}",
                lambda: IncrementalStateTexts(self.state_encoder, self.population.profiles,
                                              catalog.titles, _RECENT_PREFIX,
                                              _RECENT_SEPARATOR, _RECENT_END))

        needed = cfg.num_candidates + cfg.user_model.history_length
        available = catalog.provider[~self._withheld]
        live_at_reset = sum(int(np.ceil(cfg.provider_model.initial_live_fraction * c))
                            for c in np.bincount(available) if c)
        if live_at_reset < needed:
            raise ValueError(
                f"catalog {catalog.name!r} has {live_at_reset} live items at reset; "
                f"num_candidates + user_model.history_length = {needed} are needed")

        b, c, s, d = cfg.num_sessions, cfg.num_candidates, cfg.slate_size, self.embedding_dim
        k = self.observation_width
        self.possible_agents = (
            [f"slate_policy_{j}" for j in range(b)]
            + [f"user_{j}" for j in range(b)]
            + [f"provider_{p}" for p in range(catalog.num_providers)]
        )
        self.agents: list[str] = []
        self.market = ProviderMarket(catalog, cfg.provider_model, min_live_items=needed,
                                     withheld=self._withheld)
        n_features = candidate_feature_count(cfg)
        unit = {"low": -1.0, "high": 1.0, "dtype": np.float32}
        bounded = {"low": -FEATURE_BOUND, "high": FEATURE_BOUND, "dtype": np.float32}
        slate_keys: dict[str, spaces.Space] = {
            "user_state": spaces.Box(shape=(k,), **unit),
            "candidates": spaces.Box(shape=(c, k), **unit),
            "candidate_features": spaces.Box(shape=(c, n_features), **bounded),
            "session": spaces.Box(0.0, 1.0, (2,), np.float32),
        }
        if cfg.user_state == "id":  # ids from the platform's vocabulary, 0: unknown (new)
            del slate_keys["user_state"], slate_keys["candidates"]
            slate_keys["user_id"] = spaces.Box(0.0, self.population.num_users, (1,), np.float32)
            slate_keys["candidate_ids"] = spaces.Box(0.0, catalog.num_items, (c,), np.float32)
        # The attribute columns' popularity is the observed one: a cold item shows none.
        self.item_features = (ItemFeatureBuilder(replace(
            catalog, prior_popularity=self._observed_prior_popularity))
            if cfg.item_attributes else None)
        if self.item_features is not None:
            slate_keys["candidate_attributes"] = spaces.Box(
                0.0, 1.0, (c, self.item_features.size), np.float32)
        if cfg.intent == "on":
            slate_keys["intent"] = spaces.Box(shape=(k,), **unit)
        slate_obs = spaces.Dict(slate_keys)
        user_obs = spaces.Dict({
            "interest": spaces.Box(shape=(d,), **unit),
            "slate": spaces.Box(shape=(s, d), **unit),
            "slate_features": spaces.Box(shape=(s, len(SLATE_FEATURES)), **bounded),
            "budget": spaces.Box(0.0, 1.0, (1,), np.float32),
        })
        provider_obs = spaces.Box(0.0, 1.0, (self.market.observation_size(),), np.float32)
        self._obs_spaces: dict[str, spaces.Space] = {}
        self._act_spaces: dict[str, spaces.Space] = {}
        for agent in self.possible_agents:
            role = self.role_of(agent)
            # Observation spaces are shared per role; action spaces are one object per agent,
            # so seeding one agent's action sampling leaves the others alone.
            self._obs_spaces[agent] = {"slate_policy": slate_obs, "user": user_obs,
                                       "provider": provider_obs}[role]
            self._act_spaces[agent] = {
                "slate_policy": lambda: spaces.MultiDiscrete([c] * s),
                "user": lambda: spaces.Discrete(s + 2),
                "provider": lambda: spaces.Discrete(catalog.num_topics + 1),
            }[role]()
        p = catalog.num_providers
        self.state_space = spaces.Box(
            low=np.concatenate([np.full(b * k, -1.0), np.zeros(b + 4 * p + catalog.num_topics)]
                               ).astype(np.float32),
            high=np.ones(b * k + b + 4 * p + catalog.num_topics, np.float32), dtype=np.float32)
        self._rng = np.random.default_rng()
        self._privacy_rng = np.random.default_rng()
        quality = self.catalog.quality
        self._utility_bounds = (float(quality.min()) - 1.0, float(quality.max()) + 1.0)
        self._popularity_scale = float(log1p(catalog.prior_popularity.max() + 1.0))
        self.metrics = EpisodeMetrics(
            b, catalog.num_items, catalog.num_providers, catalog.prior_popularity,
            cold_items=None if cfg.cold_start is None else self.cold_split.cold_items,
            user_groups=self.population.groups)

    # -- PettingZoo API -----------------------------------------------------------------

    @staticmethod
    def role_of(agent: str) -> str:
        """``"slate_policy"``, ``"user"`` or ``"provider"`` for an agent id."""
        return agent.rsplit("_", 1)[0]

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    @property
    def num_sessions(self) -> int:
        return self.config.num_sessions

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            # the privacy noise's own stream: the same users and responses at every epsilon
            self._privacy_rng = np.random.default_rng((seed, 0x4C4450))
        cfg, b = self.config, self.config.num_sessions
        self.t = 0
        self._session_over = False
        self.market.reset(self._rng)
        self.metrics.reset()
        n = self.catalog.num_items
        self._item_clicks = np.zeros(n, np.float32)
        self._item_utility = np.zeros(n, np.float32)
        # Per-item observation features, updated where clicks happen: popularity (log prior
        # interactions + clicks, scaled) and observed satisfaction (running mean utility of
        # the item's consumptions, with one pseudo-consumption of utility 0: what a platform
        # learns from logged feedback).
        self._item_popularity = (log1p(self._observed_prior_popularity)
                                 / self._popularity_scale).astype(np.float32)
        self._item_satisfaction = np.zeros(n, np.float32)
        self._history = np.full((b, cfg.user_model.history_length), -1, np.int64)
        self._history_sum = np.zeros((b, self.embedding_dim), np.float32)
        # The user state in the retrieval index's space, up to a positive scale per row
        # (enough for nearest-first ranking); item_mean keeps it as a running sum.
        self._state_index = np.zeros((b, self._retrieval_basis.shape[1]), np.float32)
        self._history_index_sum = np.zeros_like(self._state_index)
        self._user = np.zeros(b, np.int64)
        self._interest = np.zeros((b, self.embedding_dim), np.float32)
        self._budget = np.zeros(b)
        self._seen_clicks = np.zeros(b, np.int64)  # the session's clicks the platform saw
        self._intent = np.zeros(b, np.int64)  # index into self.intents.texts
        self._state = np.zeros((b, self.embedding_dim), np.float32)
        self._retrieved = np.zeros((b, cfg.num_retrieved), np.int64)
        self._refresh_live()
        everyone = np.arange(b)
        self._start_sessions(everyone)
        self._retrieve(everyone)
        self._shown = self._candidates[:, : cfg.slate_size].copy()
        self._shown_was_chosen = np.zeros(b, bool)  # cold-open slates at reset
        self.slate_responses = np.full(b, NOT_CHOSEN, np.int64)
        self.agents = list(self.possible_agents)
        obs = self._observations()
        return obs, self.add_state_texts({agent: {} for agent in self.agents})

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        slate, user, provider = self._actions_to_arrays(actions)
        agents_before = self.agents
        rewards, ended, leaving = self.step_arrays(slate, user, provider)
        obs = self._observations(agents_before)
        reward = dict(zip(self._slate_agents, rewards["slate_policy"].tolist(), strict=True))
        reward.update(zip(self._user_agents, rewards["user"].tolist(), strict=True))
        prov = rewards["provider"].tolist()
        reward.update({a: prov[int(a.rsplit("_", 1)[1])] for a in agents_before
                       if a.startswith("provider_")})
        truncated = self.truncated
        left = set() if truncated else set(agents_before) - set(self.agents)
        terminations = {a: a in left for a in agents_before}
        truncations = dict.fromkeys(agents_before, truncated)
        infos: dict[str, dict] = {a: {} for a in agents_before}
        if not self.agents:
            summary = self.episode_metrics()
            for a in agents_before:
                infos[a]["episode_metrics"] = dict(summary)
        return obs, reward, terminations, truncations, self.add_state_texts(infos)

    @property
    def truncated(self) -> bool:
        """Whether the episode reached its horizon (rather than ending with its session)."""
        return self.t >= self.config.horizon and not self._session_over

    def render(self, *_: Any) -> str | None:
        """An ``"ansi"`` text view of the sessions (extra arguments, as RLlib's PettingZoo
        wrapper passes, are ignored)."""
        if self.render_mode != "ansi":
            return None
        lines = [f"t={self.t} live items={int(self.market.live.sum())} "
                 f"active providers={int(self.market.active.sum())}"]
        for j in range(self.config.num_sessions):
            titles = "; ".join(self.catalog.titles[i] for i in self._shown[j])
            lines.append(f"session {j}: budget {self._budget[j]:.1f} | slate: {titles}")
        return "\n".join(lines)

    def close(self) -> None:
        pass

    # -- vectorised core ----------------------------------------------------------------

    @property
    def _slate_agents(self) -> list[str]:
        return self.possible_agents[: self.config.num_sessions]

    @property
    def _user_agents(self) -> list[str]:
        b = self.config.num_sessions
        return self.possible_agents[b: 2 * b]

    def step_arrays(self, slate_actions: np.ndarray, user_actions: np.ndarray,
                    provider_actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray,
                                                           np.ndarray]:
        """One step from role-batched actions: slates ``(B, S)``, user choices ``(B,)``,
        provider releases ``(P,)`` (every entry must be in range; those of providers that
        left are ignored).

        Returns rewards per role (arrays over slots / providers), the slots whose session
        ended and the providers that left (``agents`` is updated as by :meth:`step`).
        Observations are read with :meth:`role_observations`. This is the fast path of
        :func:`envs.rollout.rollout`.
        """
        cfg, um = self.config, self.config.user_model
        b, s = cfg.num_sessions, cfg.slate_size
        if not self.agents:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        self._check_arrays(slate_actions, user_actions, provider_actions)
        rows = np.arange(b)
        shown = self._shown

        # 1. users respond to the slate shown now (chosen at t - 1)
        clicked = user_actions < s
        leave = user_actions == s + 1
        item = shown[rows, np.minimum(user_actions, s - 1)]
        item_vec = self.item_vectors[item]
        aff = np.einsum("bd,bd->b", self._interest, item_vec)
        quality = self.catalog.quality[item]
        watch = np.where(clicked, watch_time(um, quality, aff, self._budget), 0.0)
        utility = np.where(clicked, quality + aff, 0.0)
        self._budget += budget_change(um, clicked, watch, quality)
        consumed = np.flatnonzero(clicked)
        eaten, eaten_vec = item[consumed], item_vec[consumed]
        if consumed.size:  # the users' true consumption moves their interests
            if um.interest_update == "recsim":
                self._interest[consumed] = recsim_interest_update(
                    um, self._interest[consumed], eaten_vec, self._rng)
            else:
                self._interest[consumed] = drift_interest(
                    um, self._interest[consumed], eaten_vec, aff[consumed])
        # the platform's view of the responses: the true ones, or their private reports
        seen_clicked, seen_item, seen_watch, seen_utility = clicked, item, watch, utility
        if cfg.privacy_epsilon is not None:
            reports = privatise(np.where(clicked, user_actions, s), watch, utility,
                                cfg.privacy_epsilon, s, um.item_length,
                                self._utility_bounds, self._privacy_rng)
            seen_clicked = reports.choice < s
            seen_item = shown[rows, np.minimum(reports.choice, s - 1)]
            seen_watch, seen_utility = reports.watch, reports.utility
        seen_choice = user_actions if cfg.privacy_epsilon is None else reports.choice
        self.slate_responses = np.where(seen_clicked, seen_choice, NO_CONSUMPTION)
        self.slate_responses[~self._shown_was_chosen] = NOT_CHOSEN
        noted = np.flatnonzero(seen_clicked)  # consumptions the platform records
        noted_items = seen_item[noted]
        if noted.size:
            noted_vec = self.item_vectors[noted_items]
            dropped = self._history[noted, -1]
            self._history[noted, 1:] = self._history[noted, :-1]
            self._history[noted, 0] = noted_items
            self._history_sum[noted] += noted_vec
            self._history_index_sum[noted] += self._item_index[noted_items]
            full = dropped >= 0
            self._history_sum[noted[full]] -= self.item_vectors[dropped[full]]
            self._history_index_sum[noted[full]] -= self._item_index[dropped[full]]
        self._seen_clicks += seen_clicked
        n, p_count = self.catalog.num_items, self.catalog.num_providers
        impressions = np.bincount(self.market.owner[shown].ravel(), minlength=p_count)
        diversity, novelty = self.metrics.record_slates(shown, self.item_vectors[shown],
                                                        impressions)
        self.metrics.record_responses(clicked, watch, utility, item)
        slate_reward = slate_rewards(
            cfg.objective, watch=seen_watch, clicked=seen_clicked, utility=seen_utility,
            diversity=diversity, novelty=novelty, slate_owners=self.market.owner[shown],
            provider_impressions=self.metrics.provider_impressions - impressions)
        self._item_clicks += np.bincount(noted_items, minlength=n)
        self._item_utility += np.bincount(noted_items, weights=seen_utility[noted],
                                          minlength=n)
        self._item_popularity[noted_items] = log1p(
            self._observed_prior_popularity[noted_items] + self._item_clicks[noted_items]
        ) / self._popularity_scale
        self._item_satisfaction[noted_items] = self._item_utility[noted_items] / (
            self._item_clicks[noted_items] + 1.0)
        engagement = np.bincount(self.market.owner[eaten], weights=watch[consumed],
                                 minlength=p_count)

        # 2. the slates chosen now are shown at t + 1
        next_shown = self._slates_from_positions(slate_actions)

        # 3. providers release and may leave
        released = self.market.release(provider_actions, self.t, self._rng)
        leaving = self.market.record(impressions, engagement, self.catalog.topic[eaten])
        pm = cfg.provider_model
        provider_reward = (pm.exposure_weight * impressions / (b * s)
                           + engagement / (b * um.item_length) - pm.release_cost * released)

        # 4. sessions that ended are taken by new users (or end the episode)
        is_ended = (self._budget <= 0) | leave
        ended = np.flatnonzero(is_ended)
        if ended.size:
            self.metrics.end_sessions(ended)
            self._seen_clicks[ended] = 0
            if cfg.session_ends_episode:
                self._session_over = True
                self.t += 1
                self.agents = []
                rewards = {"slate_policy": slate_reward, "user": utility,
                           "provider": provider_reward}
                return rewards, ended, leaving
            self._start_sessions(ended)
        self._update_states(np.flatnonzero(seen_clicked & ~is_ended))
        if self.market.live_changed:
            self._refresh_live()
            self._retrieve(rows)
        else:
            self._retrieve(np.flatnonzero(seen_clicked | is_ended))
        next_shown[ended] = self._candidates[ended, :s]
        self._shown = next_shown
        self._shown_was_chosen = ~is_ended
        self.t += 1
        if self.t >= cfg.horizon:
            self.agents = []
        elif leaving.size or self.t == 1:
            # Providers that left, and at the first step those that own no item at all
            # (possible with many providers and few items): their agents terminate.
            gone = {f"provider_{p}" for p in np.flatnonzero(~self.market.active)}
            self.agents = [a for a in self.agents if a not in gone]
        rewards = {"slate_policy": slate_reward, "user": utility,
                   "provider": provider_reward}
        return rewards, ended, leaving

    def role_observations(self) -> dict[str, Any]:
        """Observations of every slot / provider, batched by role (fresh arrays)."""
        cfg = self.config
        cand = self._candidates
        similarity = affinity(self._state, self.item_vectors[cand])
        features = np.empty((*cand.shape, candidate_feature_count(cfg)), np.float32)
        features[..., 0] = self._observed_appeal[cand]
        features[..., 1] = self._item_popularity[cand]
        features[..., 2] = self._item_satisfaction[cand]
        features[..., 3] = 0.0 if cfg.user_state == "id" else similarity
        if cfg.reveal_quality:
            features[..., 4] = self.catalog.quality[cand]
        if cfg.reveal_exposure:  # the last column
            features[..., -1] = exposure_fairness_of_providers(
                self.metrics.provider_impressions, cfg.slate_size)[self.market.owner[cand]]
        b, s = cfg.num_sessions, cfg.slate_size
        steps = self.metrics.session_steps
        session = np.empty((b, 2), np.float32)
        session[:, 0] = np.minimum(1.0, steps / cfg.horizon)
        session[:, 1] = self._seen_clicks / np.maximum(1, steps)  # the platform's view
        shown = self._shown
        slate_features = np.empty((b, s, len(SLATE_FEATURES)), np.float32)
        slate_features[..., 0] = self.catalog.appeal[shown]
        slate_features[..., 1] = self._item_popularity[shown]
        budget = np.empty((b, 1), np.float32)
        budget[:, 0] = np.clip(self._budget / cfg.user_model.budget, 0.0, 1.0)
        slate = {
            "user_state": self.to_observation_basis(self._state),
            "candidates": self._observed_item_vectors[cand],
            "candidate_features": np.clip(features, -FEATURE_BOUND, FEATURE_BOUND,
                                          out=features),
            "session": session,
        }
        if cfg.user_state == "id":
            show_ids_instead_of_text(slate, self.cold_split, self._user, cand)
        if self.item_features is not None:
            slate["candidate_attributes"] = self.item_features.build(cand, self.market.owner)
        if cfg.intent == "on":
            slate["intent"] = self.to_observation_basis(self._intent_vectors[self._intent])
        return {
            "slate_policy": slate,
            "user": {
                "interest": self._interest.copy(),
                "slate": self.item_vectors[shown],
                "slate_features": slate_features,
                "budget": budget,
            },
            "provider": self.market.observations(),
        }

    def episode_metrics(self) -> dict[str, float]:
        """The metrics of the episode so far (see :mod:`envs.metrics`)."""
        return self.metrics.summary(self.market.ever_live, int(self.market.active.sum()))

    def expected_engagement(self, slates: np.ndarray) -> np.ndarray:
        """``(B,)`` the expected watch time if the slates ``(B, S)`` (item indices) were shown
        now to the sessions' users, under the scripted choice model (the users' true
        interests and budgets): ``sum_k P(consume k) x watch time of k``. What an off-policy
        estimate of a slate policy's value is checked against
        (:mod:`marlrec.offline`)."""
        um = self.config.user_model
        vectors = self.item_vectors[slates]
        item_affinity = np.einsum("bd,bsd->bs", self._interest, vectors)
        p = choice_probabilities(um, self.catalog.appeal[slates], item_affinity)
        watch = watch_time(um, self.catalog.quality[slates], item_affinity,
                           self._budget[:, None])
        return (p[:, : slates.shape[1]] * watch).sum(axis=1)

    def group_stats(self) -> dict[str, dict[str, dict[str, float]]]:
        """The episode's sessions so far by user group (:meth:`EpisodeMetrics.group_stats`;
        the groups are the population's, ``env.population.groups``)."""
        return self.metrics.group_stats()

    def state(self) -> np.ndarray:
        """Global state for centralised critics: user interests, budgets, provider
        summaries and topic demand, flattened."""
        budget = np.clip(self._budget / self.config.user_model.budget, 0.0, 1.0)
        interest = self.to_observation_basis(self._interest)
        return np.concatenate([interest.ravel(), budget, self.market.observations()[:, :4]
                               .ravel(), self.market.demand_ema]).astype(np.float32)

    def to_observation_basis(self, vectors: np.ndarray) -> np.ndarray:
        """Item-space vectors ``(..., d)`` as the policies see them (a fresh array)."""
        if self._observation_basis is None:
            return np.array(vectors, np.float32)
        return matmul(vectors, self._observation_basis).astype(np.float32)

    @property
    def session_users(self) -> np.ndarray:
        """Population index ``(B,)`` of the user in each session slot (for MovieLens users:
        the MovieLens user index). Privileged: not part of any observation."""
        return self._user.copy()

    @property
    def session_intents(self) -> list[str]:
        """The intent text of each session slot (``intent`` not ``"off"``)."""
        if self.intents is None:
            raise ValueError("this env has intent='off': sessions carry no intent")
        return [self.intents.texts[i] for i in self._intent]

    @property
    def candidate_items(self) -> np.ndarray:
        """Catalog indices ``(B, C)`` of the candidates in the current observations."""
        return self._candidates.copy()

    @property
    def profile_vectors(self) -> np.ndarray:
        """``(num_users, d)`` the users' encoded profiles: an ``item_mean`` session's state
        before it has a history (not built for ``user_state="interest"``)."""
        return self._profile_vectors

    @property
    def shown_items(self) -> np.ndarray:
        """Catalog indices ``(B, S)`` of the slates the users see now."""
        return self._shown.copy()

    # -- internals ----------------------------------------------------------------------

    def _setup_cold_start(self, cold_start: ColdStart | None) -> None:
        """The warm/cold split (:mod:`envs.cold_start`): who arrives, what can be live,
        what the platform has seen of each item, what histories sessions start with."""
        catalog, population = self.catalog, self.population
        n_users, n_items = population.num_users, catalog.num_items
        self._observed_prior_popularity = catalog.prior_popularity.astype(np.float32)
        self._observed_appeal = catalog.appeal
        self._session_users = np.arange(n_users)
        self._session_history: np.ndarray | None = None
        self._withheld = np.zeros(n_items, bool)
        if cold_start is None:
            self.cold_split = ColdSplit.none(n_users, n_items)
            return
        if population.prior_history is None:
            raise ValueError(f"cold_start needs users with a prior history (synthetic or "
                             f"MovieLens users); population {population.name!r} has none")
        self.cold_split = split = ColdSplit.draw(cold_start, n_users, n_items)
        self._observed_prior_popularity = np.where(split.cold_items, 0.0,
                                                   self._observed_prior_popularity)
        self._observed_appeal = np.where(split.cold_items, 0.0, catalog.appeal).astype(
            np.float32)
        self._session_history = split.session_histories(population.prior_history,
                                                        self.config.user_model.history_length)
        if not cold_start.include_cold:
            self._session_users = np.flatnonzero(~split.cold_users)
            self._withheld = split.cold_items
            if self._session_users.size == 0:
                raise ValueError(f"cold_start.user_share={cold_start.user_share} leaves no warm "
                                 f"user of {n_users} to train with (include_cold=False)")

    def _observations(self, agents: list[str] | None = None) -> dict[str, Any]:
        batch = self.role_observations()
        b = self.config.num_sessions
        sp, us = batch["slate_policy"], batch["user"]
        obs: dict[str, Any] = {}
        for j in range(b):
            obs[f"slate_policy_{j}"] = {k: v[j] for k, v in sp.items()}
            obs[f"user_{j}"] = {k: v[j] for k, v in us.items()}
        prov = batch["provider"]
        wanted = self.agents if agents is None else agents
        for a in wanted[2 * b:]:
            obs[a] = prov[int(a.rsplit("_", 1)[1])]
        return obs

    def _start_sessions(self, slots: np.ndarray) -> None:
        um = self.config.user_model
        users = self._session_users[self._rng.integers(0, self._session_users.size, slots.size)]
        self._user[slots] = users
        self.metrics.start_sessions(slots, self.cold_split.cold_users[users], users)
        self._interest[slots] = self.population.interest[users]
        if self.intents is not None:  # the session's intent pulls its interest
            self._intent[slots] = intent = self.intents.draw(self._interest[slots], self._rng)
            self._interest[slots] = unit_rows(
                (1.0 - um.intent_weight) * self._interest[slots]
                + um.intent_weight * self.intents.centroid_of(intent))
        self._budget[slots] = um.budget
        self._seen_clicks[slots] = 0
        self._history[slots] = -1
        self._history_sum[slots] = 0.0
        self._history_index_sum[slots] = 0.0
        known = np.zeros(slots.size, bool)  # sessions that start with a history
        if self._session_history is not None:  # warm users bring their past (cold_start)
            past = self._session_history[users]
            self._history[slots] = past
            valid = (past >= 0)[..., None]
            self._history_sum[slots] = (self.item_vectors[past] * valid).sum(axis=1)
            self._history_index_sum[slots] = (self._item_index[past] * valid).sum(axis=1)
            known = valid[:, 0, 0]
        if self.config.user_state == "interest":
            self._state[slots] = self._interest[slots]
            self._state_index[slots] = self._project(self._state[slots])
        elif self.config.user_state != "text":
            self._state[slots] = self._profile_vectors[users]
            self._state_index[slots] = self._profile_index[users]
            self._update_states(slots[known])
        else:
            self._state[slots] = self._state_from_text(slots)
            self._state_index[slots] = self._project(self._state[slots])

    def _project(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors' retrieval coordinates (CPU-independent: :mod:`envs.numerics`)."""
        return matmul(vectors, self._retrieval_basis).astype(np.float32)

    def _update_states(self, slots: np.ndarray) -> None:
        if slots.size == 0:
            return
        if self.config.user_state == "interest":
            self._state[slots] = self._interest[slots]
            self._state_index[slots] = self._project(self._state[slots])
            return
        if self.config.user_state == "text":
            self._state[slots] = self._state_from_text(slots)
            self._state_index[slots] = self._project(self._state[slots])
            return
        self._state[slots] = unit_rows(self._history_sum[slots])
        self._state_index[slots] = self._history_index_sum[slots]

    @property
    def state_centre(self) -> np.ndarray:
        """The catalog's mean text embedding: user-state embeddings are
        ``unit(encode(text) - state_centre)``, like the item vectors."""
        return self._centre

    def add_state_texts(self, infos: dict[str, dict]) -> dict[str, dict]:
        """``user_state="text_deferred"``: puts each session's state text and candidates in
        ``infos["slate_policy_j"]`` (which must all be there); otherwise leaves ``infos``."""
        if self.config.user_state == "text_deferred":
            texts = self.state_texts(np.arange(self.config.num_sessions))
            for j, text in enumerate(texts):
                # the candidates' catalog indices: an encoder outside the env recomputes
                # the similarity feature at full width from them
                infos[f"slate_policy_{j}"].update(user_state_text=text,
                                                  candidate_items=self._candidates[j].copy())
        return infos

    def state_texts(self, slots: np.ndarray) -> list[str]:
        """The user-state texts of slots: profile plus recently consumed titles."""
        return [user_state_text(self.population.profiles[self._user[j]],
                                [self.catalog.titles[i] for i in self._history[j] if i >= 0])
                for j in slots]

    def _state_from_text(self, slots: np.ndarray) -> np.ndarray:
        if self._text_states is not None:
            return unit_rows(self._text_states.encode(self._user[slots], self._history[slots])
                             - self._centre)
        return _encode_centred(self.state_encoder, self.state_texts(slots), self._centre)

    def _refresh_live(self) -> None:
        live = self.market.live
        self._live_items = np.flatnonzero(live)
        self._live_order = self._rng.permutation(self._live_items)
        self._live_index = FixedPoint(self._item_index[self._live_items].T, axis=0)
        self._live_position = np.full(live.size + 1, -1, np.int64)  # index -1: no item
        self._live_position[self._live_items] = np.arange(self._live_items.size)
        self._order_position = np.empty(live.size, np.int64)  # item -> index in _live_order
        self._order_position[self._live_order] = np.arange(self._live_order.size)
        self.market.live_changed = False

    def _retrieve(self, slots: np.ndarray) -> None:
        """Recomputes the nearest candidates of ``slots``; draws random ones for all."""
        cfg = self.config
        r, c = cfg.num_retrieved, cfg.num_candidates
        if r and slots.size:
            scores = matmul(self._state_index[slots], self._live_index)
            recent = self._live_position[self._history[slots]]  # -1: empty or not live
            hr, hc = np.nonzero(recent >= 0)
            scores[hr, recent[hr, hc]] = -np.inf
            self._retrieved[slots] = self._live_items[top_k(scores, r)]
        b, n_random = cfg.num_sessions, c - r
        live_order, n_live = self._live_order, self._live_order.size
        # The random candidates: the first n_random items of a window of the shuffled live
        # order, starting at a random place, that are not retrieved ones (a window of
        # n_random + r positions always holds enough).
        start = self._rng.integers(0, n_live, b)
        window = (start[:, None] + np.arange(n_random)) % n_live
        if r and n_random:
            retrieved_at = self._order_position[self._retrieved]
            # ((position - start) mod n_live) < n_random: a retrieved item is in the window
            hits = ((retrieved_at - start[:, None]) % n_live < n_random).any(axis=1)
            for j in np.flatnonzero(hits):  # rare: lengthen the window past the clashes
                longer = (start[j] + np.arange(n_random + r)) % n_live
                free = (longer[:, None] != retrieved_at[j][None, :]).all(axis=1)
                window[j] = longer[free][:n_random]
        random_items = live_order[window]
        self._candidates = np.concatenate([self._retrieved, random_items], axis=1)

    def _slates_from_positions(self, positions: np.ndarray) -> np.ndarray:
        """Candidate positions ``(B, S)`` to items, replacing repeats (see module doc)."""
        chosen, duplicates = resolve_repeats(positions, self.config.num_candidates)
        self.metrics.duplicates += duplicates
        return self._candidates[np.arange(len(chosen))[:, None], chosen]

    def _check_arrays(self, slate: np.ndarray, user: np.ndarray, provider: np.ndarray) -> None:
        cfg = self.config
        b, s, c = cfg.num_sessions, cfg.slate_size, cfg.num_candidates
        checks = (
            ("slate_policy", slate, (b, s), c),
            ("user", user, (b,), s + 2),
            ("provider", provider, (self.catalog.num_providers,), self.catalog.num_topics + 1),
        )
        for role, arr, shape, high in checks:
            ok_type = isinstance(arr, np.ndarray) and arr.dtype.kind in "iu"
            if ok_type and arr.shape == shape and arr.min() >= 0 and arr.max() < high:
                continue
            if ok_type and arr.shape == shape:
                bad = (arr < 0) | (arr >= high)
                if not bad.any():
                    continue
                index = np.argwhere(bad)[0][0]
            else:
                index = None
            raise self._action_error(role, arr, index, shape)

    def _action_error(self, role: str, arr: Any, index: int | None,
                      shape: tuple[int, ...]) -> ValueError:
        if index is None:
            got = getattr(arr, "dtype", type(arr).__name__)
            return ValueError(f"{role} actions must be an integer array of shape {shape}, got "
                              f"{getattr(arr, 'shape', None)} of {got}")
        agent = f"{role}_{index}"
        return ValueError(f"invalid action {arr[index].tolist()!r} for agent {agent!r}: not in "
                          f"{self.action_space(agent)}")

    def _actions_to_arrays(self, actions: dict[str, Any]) -> tuple[np.ndarray, ...]:
        missing = [a for a in self.agents if a not in actions]
        extra = [a for a in actions if a not in self.agents]
        if missing or extra:
            raise ValueError(f"actions must be given for exactly the live agents; missing "
                             f"{missing[:5]}{'...' if len(missing) > 5 else ''}, not live "
                             f"or unknown {extra[:5]}")
        b, s = self.config.num_sessions, self.config.slate_size
        slate = np.stack([self.agent_action(actions, a, (s,)) for a in self._slate_agents])
        user = np.array([self.agent_action(actions, a, ()) for a in self._user_agents])
        provider = np.zeros(self.catalog.num_providers, np.int64)
        for a in self.agents[2 * b:]:
            provider[int(a.rsplit("_", 1)[1])] = self.agent_action(actions, a, ())
        return slate, user, provider

    def agent_action(self, actions: dict[str, Any], agent: str,
                      shape: tuple[int, ...]) -> np.ndarray:
        value = np.asarray(actions[agent])
        if value.shape != shape or value.dtype.kind not in "iu":
            raise ValueError(f"invalid action {actions[agent]!r} for agent {agent!r}: not in "
                             f"{self.action_space(agent)}")
        return value.astype(np.int64)

