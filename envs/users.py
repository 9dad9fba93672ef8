"""The user model: who the users are, how they choose from a slate, what consuming does.

A user has a profile text, a latent *interest* (a unit vector in the item-vector space,
see :mod:`envs.ecosystem` for how item vectors are made), a short history and a time
*budget*. Per step, with the slate ``s_1..s_S`` shown to them:

- **Choice** (conditional logit with a no-click option): item ``k`` has score
  ``appeal_weight * appeal_k + affinity_weight * <interest, v_k>``, "no click" has score
  ``no_click_score``; probabilities are the softmax of scores / ``choice_temperature``.
  This is the calibrated choice model that scripted users sample from
  (:class:`envs.behaviours.ChoiceModelUser`).
- **Consumption** of item ``i`` with affinity ``a = <interest, v_i>``: watch time
  (the engagement) ``item_length * sigmoid(quality_i + watch_affinity_weight * a)``;
  utility (the user's satisfaction, their reward) ``quality_i + a``.
- **Budget**: every step costs ``step_cost`` (browsing the slate); a consumption also
  costs its watch time and gives back ``quality_return * watch * quality`` (good items
  make the user want to stay, RecSim's alpha). The session ends when the budget is spent
  or the user leaves; a new user then takes the slot.
- **Interest drift** toward what is consumed:
  ``interest <- unit((1 - interest_drift) * interest + interest_drift * v_i)``.

RecSim's variants (``envs.recsim`` sets them, see docs/recsim_parity.md):

- ``choice_model="proportional"``: RecSim's multinomial-proportional choice, item ``k``
  chosen with probability proportional to ``score_k - min_normalizer`` and "no click" to
  ``no_click_score - min_normalizer`` (``choice_temperature`` is not used);
- ``watch_model="full_length"``: a consumption is watched for ``min(budget, item_length)``;
- ``step_cost_on_click=False``: only a step without a click costs ``step_cost``;
- ``interest_update="recsim"``: RecSim's stochastic update for one-hot item vectors: with
  ``x`` the interest in the consumed item's topic, ``x <- clip(x +/- interest_drift *
  (1 - |x|) * (1 - x), -1, 1)``, ``+`` with probability ``(x + 1) / 2``.

Appeal gets the click, quality earns the watch time and the longer session: a slate
policy that maximises clicks by appeal loses engagement per session to one that shows
quality (RecSim's interest-evolution lesson, Ie et al. 2019, arXiv:1909.04847).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from envs.catalog import Catalog
from envs.cold_start import PRIOR_HISTORY_LENGTH
from envs.encoding import unit_rows
from envs.movielens import MovieLens100k
from envs.numerics import exp, log, matmul


@dataclass(frozen=True)
class UserModel:
    """Parameters of the choice model and the session dynamics (see module docstring)."""

    appeal_weight: float = 1.0
    affinity_weight: float = 3.0
    no_click_score: float = 0.0
    choice_temperature: float = 1.0
    item_length: float = 4.0
    watch_affinity_weight: float = 1.0
    budget: float = 60.0
    step_cost: float = 0.5
    quality_return: float = 0.9 / 3.4
    interest_drift: float = 0.1
    history_length: int = 5
    choice_model: str = "logit"
    min_normalizer: float = -1.0
    watch_model: str = "quality_sigmoid"
    step_cost_on_click: bool = True
    interest_update: str = "unit_drift"
    intent_weight: float = 0.5  # how far a session's intent pulls its interest (envs.intents)

    def __post_init__(self) -> None:
        positive = ("choice_temperature", "item_length", "budget")
        non_negative = ("step_cost", "quality_return")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"user_model.{name}={getattr(self, name)!r} must be > 0")
        for name in non_negative:
            if not getattr(self, name) >= 0:
                raise ValueError(f"user_model.{name}={getattr(self, name)!r} must be >= 0")
        if not 0 <= self.intent_weight <= 1:
            raise ValueError(f"user_model.intent_weight={self.intent_weight!r} must be in "
                             "[0, 1]")
        if not 0 <= self.interest_drift <= 1:
            raise ValueError(f"user_model.interest_drift={self.interest_drift!r} must be in "
                             "[0, 1]")
        if not isinstance(self.history_length, int) or self.history_length < 1:
            raise ValueError(f"user_model.history_length={self.history_length!r} must be an "
                             "integer >= 1")
        for name, allowed in (("choice_model", CHOICE_MODELS), ("watch_model", WATCH_MODELS),
                              ("interest_update", INTEREST_UPDATES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"user_model.{name}={getattr(self, name)!r} is not one of "
                                 f"{allowed}")
        if not isinstance(self.step_cost_on_click, bool):
            raise ValueError(f"user_model.step_cost_on_click={self.step_cost_on_click!r} must "
                             "be true or false")


CHOICE_MODELS = ("logit", "proportional")
WATCH_MODELS = ("quality_sigmoid", "full_length")
INTEREST_UPDATES = ("unit_drift", "recsim")


def affinity(interest: np.ndarray, item_vectors: np.ndarray) -> np.ndarray:
    """``<interest_b, v_bk>`` for interests ``(B, d)`` and item vectors ``(B, K, d)``."""
    return np.einsum("bkd,bd->bk", item_vectors, interest)  # not BLAS: envs.numerics


def choice_scores(model: UserModel, appeal: np.ndarray, item_affinity: np.ndarray) -> np.ndarray:
    """Scores ``(B, S + 1)``, the last column "no click": logits of the conditional logit
    (divided by the temperature), or the raw scores of the proportional model."""
    scores = model.appeal_weight * appeal + model.affinity_weight * item_affinity
    no_click = np.full((scores.shape[0], 1), model.no_click_score, dtype=scores.dtype)
    scores = np.concatenate([scores, no_click], axis=1)
    return scores if model.choice_model == "proportional" else scores / model.choice_temperature


def choice_probabilities(model: UserModel, appeal: np.ndarray,
                         item_affinity: np.ndarray) -> np.ndarray:
    """``(B, S + 1)`` choice probabilities (rows sum to one): the softmax of the logits, or
    for the proportional model the scores minus ``min_normalizer`` (floored at 0),
    normalised."""
    scores = choice_scores(model, appeal, item_affinity)
    if model.choice_model == "proportional":
        mass = np.maximum(scores - model.min_normalizer, 0.0)
        total = mass.sum(axis=1, keepdims=True)
        uniform = np.full_like(mass, 1.0 / mass.shape[1])
        return np.divide(mass, total, out=uniform, where=total > 0)
    scores = scores - scores.max(axis=1, keepdims=True)
    expd = exp(scores)
    return expd / expd.sum(axis=1, keepdims=True)


def watch_time(model: UserModel, quality: np.ndarray, item_affinity: np.ndarray,
               budget: np.ndarray) -> np.ndarray:
    """Engagement of a consumption: ``item_length * sigmoid(quality + w * affinity)``, or
    with ``watch_model="full_length"`` RecSim's ``min(budget, item_length)``."""
    if model.watch_model == "full_length":
        return np.minimum(budget, model.item_length)
    x = quality + model.watch_affinity_weight * item_affinity
    return model.item_length / (1.0 + exp(-x))


def budget_change(model: UserModel, clicked: np.ndarray, watch: np.ndarray,
                  quality: np.ndarray) -> np.ndarray:
    """Budget change of one step; ``watch`` and ``quality`` are ignored where not clicked."""
    consumed = np.where(clicked, -watch + model.quality_return * watch * quality, 0.0)
    if model.step_cost_on_click:
        return consumed - model.step_cost
    return consumed - np.where(clicked, 0.0, model.step_cost)


def recsim_interest_update(model: UserModel, interest: np.ndarray, consumed: np.ndarray,
                           rng: np.random.Generator) -> np.ndarray:
    """RecSim's interest evolution (``interest_update="recsim"``) for interests ``(B, d)``
    in [-1, 1] and one-hot consumed item vectors ``(B, d)``: only the consumed topic's
    interest ``x`` moves, by ``interest_drift * (1 - |x|) * (1 - x)``, toward 1 with
    probability ``(x + 1) / 2`` and away otherwise; then clipped to [-1, 1]."""
    x = np.einsum("bd,bd->b", interest, consumed)
    step = model.interest_drift * (1.0 - np.abs(x)) * (1.0 - x)
    sign = np.where(rng.random(x.shape) < (x + 1.0) / 2.0, 1.0, -1.0)
    moved = interest + (sign * step)[:, None] * consumed
    return np.clip(moved, -1.0, 1.0).astype(interest.dtype)


def drift_interest(model: UserModel, interest: np.ndarray, consumed: np.ndarray,
                   item_affinity: np.ndarray) -> np.ndarray:
    """Unit interests ``(B, d)`` moved toward the unit consumed item vectors ``(B, d)``,
    whose affinities ``<interest, v>`` are ``item_affinity`` ``(B,)``.

    The norm of ``(1 - r) * interest + r * v`` is
    ``sqrt((1 - r)^2 + r^2 + 2 r (1 - r) <interest, v>)``: no reduction over ``d`` needed.
    """
    rate = model.interest_drift
    squared = (1.0 - rate) ** 2 + rate**2 + 2 * rate * (1.0 - rate) * item_affinity
    moved = (1.0 - rate) * interest + rate * consumed
    if np.any(squared < 1e-6):  # nearly opposite vectors: rounding matters, measure instead
        return unit_rows(moved)
    moved /= np.sqrt(squared)[:, None].astype(np.float32)
    return np.clip(moved, -1.0, 1.0, out=moved)


# ----------------------------------------------------------------------------- populations


@dataclass(frozen=True, eq=False)
class UserPopulation:
    """The users that sessions draw from: profile texts and initial interests."""

    name: str
    profiles: tuple[str, ...]
    interest: np.ndarray  # (num_users, d) unit vectors in item-vector space
    prior_history: np.ndarray | None = None
    """(num_users, PRIOR_HISTORY_LENGTH) int64 catalog indices of what each user consumed
    before the simulation, most recent first, -1 padded; what a warm user's sessions start
    with under ``cold_start`` (:mod:`envs.cold_start`). ``None``: no past is known."""
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Attribute -> each user's group (MovieLens: ``age`` band, ``gender``, ``occupation``;
    synthetic personas: ``primary_topic``): what the report breaks metrics down by."""

    @property
    def num_users(self) -> int:
        return len(self.profiles)


PRIOR_CHOICE_SHARPNESS = 5.0


@dataclass(frozen=True)
class SyntheticUsers:
    """Personas who each like two topics (a primary one weighted 0.7, a secondary 0.3).

    Their prior history: ``PRIOR_HISTORY_LENGTH`` distinct items drawn with probabilities
    ``softmax(PRIOR_CHOICE_SHARPNESS * <interest, v_i>)`` (what they chose before)."""

    num_users: int = 1000
    seed: int = 0

    def build(self, catalog: Catalog, item_vectors: np.ndarray) -> UserPopulation:
        if not isinstance(self.num_users, int) or self.num_users < 1:
            raise ValueError(f"num_users={self.num_users!r} must be an integer >= 1")
        rng = np.random.default_rng(self.seed)
        centroids = topic_centroids(catalog, item_vectors)
        present = np.flatnonzero(np.linalg.norm(centroids, axis=1) > 0)
        pairs = np.stack([rng.choice(present, 2, replace=present.size < 2)
                          for _ in range(self.num_users)])
        noise = rng.normal(0, 0.3 / np.sqrt(item_vectors.shape[1]),
                           (self.num_users, item_vectors.shape[1]))
        interest = unit_rows(0.7 * centroids[pairs[:, 0]] + 0.3 * centroids[pairs[:, 1]]
                             + noise)
        names = catalog.topic_names
        profiles = tuple(f"A viewer who enjoys {names[a]} and sometimes {names[b]}."
                         for a, b in pairs)
        return UserPopulation(f"synthetic-{self.num_users}-seed{self.seed}", profiles, interest,
                              sampled_prior_history(interest, item_vectors, rng),
                              {"primary_topic": tuple(names[a] for a in pairs[:, 0])})


@dataclass(frozen=True, eq=False)
class MovieLensUsers:
    """MovieLens-100k users: demographics as the profile, interests from their ratings.

    ``rating_mask`` selects the ratings the users are built from (all when ``None``):
    :func:`envs.presets.make_env` passes its training split, so that held-out ratings shape
    neither interests nor prior histories. A user's interest is
    ``unit(sum_i (r_ui - RATING_PIVOT) * v_i)`` over the movies they rated; their prior
    history (what a warm user's sessions start with under ``cold_start``) is their latest
    rated movies. With ``RATING_PIVOT = 0`` every rated movie pulls, in proportion to its
    stars: having rated a movie means having chosen to watch it, the signal the choice model
    needs (chosen on a validation split, see docs/user_model.md). A user with no usable
    ratings gets the unit mean of the catalog's vectors.
    """

    data: MovieLens100k
    rating_mask: np.ndarray | None = None

    RATING_PIVOT = 0.0

    def build(self, catalog: Catalog, item_vectors: np.ndarray) -> UserPopulation:
        data = self.data
        mask = (np.ones(len(data.rating_value), bool) if self.rating_mask is None
                else self.rating_mask)
        interest = movielens_interests(data, item_vectors, mask, self.RATING_PIVOT)
        profiles = tuple(
            f"A {age}-year-old {'man' if gender == 'M' else 'woman'} who works as "
            f"{'an' if occ[:1] in 'aeiou' else 'a'} {occ}."
            for age, gender, occ in zip(data.user_age, data.user_gender, data.user_occupation,
                                        strict=True)
        )
        groups = {"age": tuple(age_band(int(a)) for a in data.user_age),
                  "gender": tuple(data.user_gender), "occupation": tuple(data.user_occupation)}
        return UserPopulation("movielens-100k-users", profiles, interest,
                              movielens_prior_history(data, mask), groups)


AGE_BANDS = ((18, "under 18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"),
             (56, "50-55"), (200, "56+"))
"""MovieLens' own age bands (those of MovieLens-1M's ``users.dat``): upper bound, label."""


def age_band(age: int) -> str:
    """The :data:`AGE_BANDS` label of an age in years."""
    return next(label for upper, label in AGE_BANDS if age < upper)


def latest_ratings(data: MovieLens100k, rating_mask: np.ndarray, per_user: int) -> np.ndarray:
    """Indices of each user's last ``per_user`` ratings within ``rating_mask``, by user,
    most recent first within a user (ties in rating order)."""
    idx = np.flatnonzero(rating_mask)
    order = idx[np.lexsort((-data.rating_time[idx], data.rating_user[idx]))]
    users = data.rating_user[order]
    rank = np.arange(order.size) - np.searchsorted(users, users)  # position within the user
    return order[rank < per_user]


def movielens_prior_history(data: MovieLens100k, rating_mask: np.ndarray) -> np.ndarray:
    """``(n_users, PRIOR_HISTORY_LENGTH)``: each user's rated movies, latest first, -1
    padded."""
    latest = latest_ratings(data, rating_mask, PRIOR_HISTORY_LENGTH)
    users = data.rating_user[latest]
    rank = np.arange(latest.size) - np.searchsorted(users, users)
    prior = np.full((data.n_users, PRIOR_HISTORY_LENGTH), -1, np.int64)
    prior[users, rank] = data.rating_item[latest]
    return prior


def sampled_prior_history(interest: np.ndarray, item_vectors: np.ndarray,
                          rng: np.random.Generator, chunk: int = 256) -> np.ndarray:
    """``(num_users, PRIOR_HISTORY_LENGTH)`` distinct items per user drawn without
    replacement from ``softmax(PRIOR_CHOICE_SHARPNESS * <interest, v_i>)`` (Gumbel top-k,
    ``chunk`` users at a time), in draw order; -1 padded when the catalog is smaller."""
    num_users, num_items = interest.shape[0], item_vectors.shape[0]
    length = min(PRIOR_HISTORY_LENGTH, num_items)
    prior = np.full((num_users, PRIOR_HISTORY_LENGTH), -1, np.int64)
    for start in range(0, num_users, chunk):
        rows = slice(start, min(start + chunk, num_users))
        logits = PRIOR_CHOICE_SHARPNESS * matmul(interest[rows], item_vectors.T)
        keys = logits - log(-log(rng.uniform(1e-12, 1.0, logits.shape)))
        prior[rows, :length] = np.argsort(-keys, axis=1, kind="stable")[:, :length]
    return prior


def movielens_interests(data: MovieLens100k, item_vectors: np.ndarray, rating_mask: np.ndarray,
                        pivot: float) -> np.ndarray:
    """Rating-weighted sums of rated item vectors, one unit vector per user."""
    users, items = data.rating_user[rating_mask], data.rating_item[rating_mask]
    weights = (data.rating_value[rating_mask] - pivot).astype(np.float32)
    interest = np.zeros((len(data.user_ids), item_vectors.shape[1]), np.float32)
    np.add.at(interest, users, weights[:, None] * item_vectors[items])
    empty = np.linalg.norm(interest, axis=1) < 1e-9
    interest[empty] = item_vectors.mean(axis=0)
    return unit_rows(interest)


def topic_centroids(catalog: Catalog, item_vectors: np.ndarray) -> np.ndarray:
    """Unit mean item vector of each topic ``(num_topics, d)``; zero for empty topics."""
    sums = np.zeros((catalog.num_topics, item_vectors.shape[1]), np.float32)
    np.add.at(sums, catalog.topic, item_vectors)
    return unit_rows(sums)
