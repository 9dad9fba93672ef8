"""Episode metrics of the recommender ecosystem, emitted in ``infos`` at episode end.

:class:`EpisodeMetrics` accumulates what an episode did (slates, impressions per item and
provider, clicks, watch time, sessions, ...); at the end it takes an :class:`EpisodeRecord`
of it and every registered :class:`Metric` computes its value from that record.
:data:`METRICS` is the registry: each metric's name, short label, direction (higher or
lower is better), whether it can be ``evaluation.metric`` (select checkpoints and be an
experiment's headline), description, range and computation. The env emits exactly the
registered keys (the cold-start ones only with ``cold_start``); readers (the report, the
results tables, the spec's choices of ``evaluation.metric``) take labels and directions
from here (``docs/registries.md`` tabulates it: :mod:`marlrec.report.registry_tables`).

Session means (engagement, length, utility) are over sessions that *ended* in the
episode; when none ended they are over the sessions still running at the horizon.

With ``cold_start`` (:mod:`envs.cold_start`) the episode also carries the split by new
(cold) and known (warm) users and items (:data:`COLD_START_METRICS`); NaN where the
episode had none of that kind (a training env without cold users and items).

Adding a metric is one definition and one line of the registry::

    @metric("long_tail_share", label="long-tail share", higher_is_better=True,
            selectable=True, value_range="[0, 1]")
    def long_tail_share(r: EpisodeRecord) -> float:
        \"\"\"Share of slate impressions that went to long-tail items ...\"\"\"
        ...

    METRICS = registry(..., long_tail_share)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.numerics import log

# ----------------------------------------------------------------------------- the record


@dataclass(frozen=True, eq=False)
class EpisodeRecord:
    """What one episode accumulated: everything a :class:`Metric` computes from.

    Counts are over the whole episode. The ``session_*`` arrays have one entry per session
    that the session means are over: the sessions that ended, or, where none ended, the
    sessions still running at the horizon."""

    slates: int  # slates shown (one per session slot and step)
    impressions: int  # slate positions shown (slates x slate size)
    clicks: int
    engagement_total: float  # watch time summed over every session
    item_impressions: np.ndarray  # (n,) int64: slate positions that showed each item
    item_clicks: np.ndarray  # (n,) int64: clicks on each item
    provider_impressions: np.ndarray  # (P,) impressions of each provider's items
    prior_popularity: np.ndarray  # (n,) each item's interactions before the simulation
    ever_live: np.ndarray  # (n,) bool: items live at some point of the episode
    active_providers: int  # providers still on the platform at the end
    diversity_sum: float  # sum over slates of the slate's mean pairwise ``1 - cos``
    novelty_sum: float  # sum over impressions of ``-log2 p(i)`` (see :data:`novelty`)
    duplicates: int  # slate positions that repeated an item and were replaced
    sessions_ended: int  # sessions that ended (budget spent or the user left)
    sessions_running: int  # sessions running at the horizon
    session_engagement: np.ndarray  # (sessions,) float64 watch time of each session
    session_utility: np.ndarray  # (sessions,) float64 utility of each session
    session_length: np.ndarray  # (sessions,) int64 steps of each session
    session_cold: np.ndarray  # (sessions,) bool: the session's user was cold (new)
    user_slates: np.ndarray  # (2,) int64 slates shown to warm [0] and cold [1] users
    user_clicks: np.ndarray  # (2,) int64 their clicks
    cold_items: np.ndarray | None  # (n,) bool cold items, None without ``cold_start``


# ----------------------------------------------------------------------------- metrics


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One episode metric: what it is called, how to read it, how it is computed.

    ``higher_is_better`` is the direction every "better" judgement reads (the probability
    of improvement, a best policy); ``selectable`` says it can be ``evaluation.metric``:
    the metric that picks each run's best checkpoint (maximised, so only a higher-is-better
    metric that every episode has) and the experiment's headline. ``cold_start`` metrics
    are emitted only with ``cold_start``. ``diagnostic`` marks a count that describes the
    episode rather than scores it (its direction is nominal)."""

    name: str
    label: str  # short column label of tables ("engagement /session")
    higher_is_better: bool
    selectable: bool = False
    description: str
    value_range: str
    compute: Callable[[EpisodeRecord], float]
    cold_start: bool = False
    diagnostic: bool = False

    def __post_init__(self) -> None:
        if self.selectable and not self.higher_is_better:
            raise ValueError(f"metric {self.name!r}: checkpoint selection maximises "
                             "evaluation.metric, so a selectable metric is higher-is-better")
        if self.selectable and (self.cold_start or self.diagnostic):
            raise ValueError(f"metric {self.name!r}: a cold-start or diagnostic metric is "
                             "not selectable")

    @property
    def direction(self) -> str:
        """``"higher"`` or ``"lower"``: which is better."""
        return "higher" if self.higher_is_better else "lower"


def metric(name: str, *, label: str, higher_is_better: bool, value_range: str,
           selectable: bool = False, cold_start: bool = False, diagnostic: bool = False
           ) -> Callable[[Callable[[EpisodeRecord], float]], Metric]:
    """Decorates a ``compute(record) -> float`` into the :class:`Metric` ``name``; the first
    paragraph of its docstring is the description (the rest, details for the reader of the
    code)."""
    def define(compute: Callable[[EpisodeRecord], float]) -> Metric:
        description = " ".join((compute.__doc__ or "").strip().split("\n\n")[0].split())
        return Metric(name=name, label=label, higher_is_better=higher_is_better,
                      selectable=selectable, description=description,
                      value_range=value_range, compute=compute, cold_start=cold_start,
                      diagnostic=diagnostic)
    return define


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 equal, -> 1 concentrated)."""
    return float(gini_rows(np.asarray(values, dtype=np.float64)[None])[0])


def gini_rows(values: np.ndarray) -> np.ndarray:
    """:func:`gini` of each row of ``(m, n)`` non-negative values (0 for an all-zero row)."""
    x = np.sort(np.asarray(values, dtype=np.float64), axis=1)
    m, n = x.shape
    if n == 0:
        return np.zeros(m)
    totals = x.sum(axis=1)
    weighted = (x * (2 * np.arange(1, n + 1) - n - 1)).sum(axis=-1)  # not BLAS: envs.numerics
    return np.where(totals > 0, weighted / (n * np.where(totals > 0, totals, 1.0)), 0.0)


def slate_diversity(slate_vectors: np.ndarray) -> np.ndarray:
    """``(B,)`` mean pairwise ``1 - cos`` of each slate's unit item vectors ``(B, S, d)``
    (0 for one-item slates): the slate's intra-list diversity."""
    b, s, _ = slate_vectors.shape
    if s < 2:
        return np.zeros(b, np.float32)
    pair_sum = np.zeros(b, np.float32)
    for i in range(s):
        for j in range(i + 1, s):
            pair_sum += np.einsum("bd,bd->b", slate_vectors[:, i], slate_vectors[:, j])
    return 1.0 - pair_sum / (s * (s - 1) / 2)


def _mean_or_zero(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else 0.0


def _ratio(a: float, b: float) -> float:
    """``a / b``, NaN where ``b`` is 0 (no slate, impression of that kind)."""
    return float(a / b) if b > 0 else float("nan")


@metric("engagement_total", label="engagement (total)", higher_is_better=True,
        value_range=">= 0")
def engagement_total(r: EpisodeRecord) -> float:
    """Watch time summed over all sessions of the episode."""
    return r.engagement_total


@metric("engagement_per_session", label="engagement /session", higher_is_better=True,
        selectable=True, value_range=">= 0")
def engagement_per_session(r: EpisodeRecord) -> float:
    """Mean watch time of a session."""
    return _mean_or_zero(r.session_engagement)


@metric("ctr", label="CTR", higher_is_better=True, selectable=True, value_range="[0, 1]")
def ctr(r: EpisodeRecord) -> float:
    """Click-through rate: clicks / slates shown."""
    return r.clicks / max(1, r.slates)


@metric("session_length", label="session length", higher_is_better=True, selectable=True,
        value_range=">= 1")
def session_length(r: EpisodeRecord) -> float:
    """Mean steps of a session."""
    return _mean_or_zero(r.session_length)


@metric("user_utility", label="utility /session", higher_is_better=True, selectable=True,
        value_range="real")
def user_utility(r: EpisodeRecord) -> float:
    """Mean utility (quality + affinity of the consumed items) of a session."""
    return _mean_or_zero(r.session_utility)


@metric("catalog_coverage", label="coverage", higher_is_better=True, selectable=True,
        value_range="[0, 1]")
def catalog_coverage(r: EpisodeRecord) -> float:
    """Distinct items shown / items live at some point of the episode."""
    return float((r.item_impressions > 0).sum() / max(1, r.ever_live.sum()))


@metric("intra_list_diversity", label="diversity (ILD)", higher_is_better=True,
        selectable=True, value_range="[0, 2]")
def intra_list_diversity(r: EpisodeRecord) -> float:
    """Mean over slates of the mean pairwise ``1 - cos`` of the slate's item vectors."""
    return r.diversity_sum / max(1, r.slates)


@metric("novelty", label="novelty", higher_is_better=True, selectable=True,
        value_range=">= 0")
def novelty(r: EpisodeRecord) -> float:
    """Mean self-information ``-log2 p(i)`` of the items shown, ``p(i)`` the item's share of
    the prior popularity (add-one smoothed)."""
    return r.novelty_sum / max(1, r.impressions)


@metric("provider_exposure_gini", label="exposure Gini", higher_is_better=False,
        value_range="[0, 1]")
def provider_exposure_gini(r: EpisodeRecord) -> float:
    """Gini coefficient of impressions across all providers (0: equal exposure)."""
    return gini(r.provider_impressions)


@metric("active_providers", label="active providers", higher_is_better=True,
        selectable=True, value_range="0..P")
def active_providers(r: EpisodeRecord) -> float:
    """Providers still on the platform at the end of the episode."""
    return float(r.active_providers)


@metric("duplicate_slate_items", label="duplicate slate items", higher_is_better=False,
        value_range=">= 0")
def duplicate_slate_items(r: EpisodeRecord) -> float:
    """Slate positions that repeated an item of the slate and were replaced."""
    return float(r.duplicates)


@metric("sessions", label="sessions", higher_is_better=True, diagnostic=True,
        value_range=">= 0")
def sessions(r: EpisodeRecord) -> float:
    """Sessions seen in the episode: ended or still running at the horizon."""
    return float(r.sessions_ended + r.sessions_running)


@metric("sessions_completed", label="sessions ended", higher_is_better=True,
        diagnostic=True, value_range=">= 0")
def sessions_completed(r: EpisodeRecord) -> float:
    """Sessions that ended in the episode (budget spent or the user left)."""
    return float(r.sessions_ended)


HEAD_SHARE = 0.2
"""The short head's share of the prior interactions (:func:`long_tail_share`)."""


@metric("long_tail_share", label="long-tail share", higher_is_better=True, selectable=True,
        value_range="[0, 1]")
def long_tail_share(r: EpisodeRecord) -> float:
    """Share of slate impressions that went to long-tail items: the items outside the short
    head, the most popular items that together hold 20% of the prior interactions.

    The head of Abdollahpouri et al.'s popularity groups ("The Unfairness of Popularity Bias
    in Recommendation", 2019: the head is the most popular items that together take 20% of
    the ratings), with their mid and tail groups together as the long tail, by
    prior popularity (``prior_popularity``, the interactions before the simulation, as
    :class:`EpisodeMetrics` received it): items ordered by it, the short head is the most
    popular ones that together account for ``HEAD_SHARE`` of all prior interactions. An
    item is in the head when the items strictly more popular than it hold less than that
    share, so tied items fall on the same side, whatever their order. Every other item is
    long tail: all of them where no item has a prior interaction (the RecSim catalog)."""
    prior = np.asarray(r.prior_popularity, np.float64)
    values, inverse = np.unique(prior, return_inverse=True)
    mass = np.bincount(inverse, weights=prior, minlength=values.size)
    above = np.cumsum(mass[::-1])[::-1] - mass  # interactions of strictly more popular items
    tail = above[inverse] >= HEAD_SHARE * prior.sum()
    return float(r.item_impressions[tail].sum() / max(1, r.impressions))


def _cold_session_mean(r: EpisodeRecord, cold: bool) -> float:
    mask = r.session_cold == cold
    return float(r.session_engagement[mask].mean()) if mask.any() else float("nan")


def _item_ctr(r: EpisodeRecord, cold: bool) -> float:
    kind = r.cold_items == cold
    return _ratio(r.item_clicks[kind].sum(), r.item_impressions[kind].sum())


@metric("engagement_per_session_warm_users", label="engagement /session, warm users",
        higher_is_better=True, cold_start=True, value_range=">= 0")
def engagement_per_session_warm_users(r: EpisodeRecord) -> float:
    """Mean watch time of a session of a warm (known) user."""
    return _cold_session_mean(r, False)


@metric("engagement_per_session_cold_users", label="engagement /session, cold users",
        higher_is_better=True, cold_start=True, value_range=">= 0")
def engagement_per_session_cold_users(r: EpisodeRecord) -> float:
    """Mean watch time of a session of a cold (new) user."""
    return _cold_session_mean(r, True)


@metric("ctr_warm_users", label="CTR, warm users", higher_is_better=True, cold_start=True,
        value_range="[0, 1]")
def ctr_warm_users(r: EpisodeRecord) -> float:
    """Clicks / slates shown, over warm users' sessions."""
    return _ratio(r.user_clicks[0], r.user_slates[0])


@metric("item_ctr_warm", label="item CTR, warm items", higher_is_better=True,
        cold_start=True, value_range="[0, 1]")
def item_ctr_warm(r: EpisodeRecord) -> float:
    """Clicks on warm items / their impressions."""
    return _item_ctr(r, False)


@metric("ctr_cold_users", label="CTR, cold users", higher_is_better=True, cold_start=True,
        value_range="[0, 1]")
def ctr_cold_users(r: EpisodeRecord) -> float:
    """Clicks / slates shown, over cold users' sessions."""
    return _ratio(r.user_clicks[1], r.user_slates[1])


@metric("item_ctr_cold", label="item CTR, cold items", higher_is_better=True,
        cold_start=True, value_range="[0, 1]")
def item_ctr_cold(r: EpisodeRecord) -> float:
    """Clicks on cold items / their impressions."""
    return _item_ctr(r, True)


@metric("cold_item_impression_share", label="cold-item share", higher_is_better=True,
        cold_start=True, value_range="[0, 1]")
def cold_item_impression_share(r: EpisodeRecord) -> float:
    """Impressions of cold items / all impressions: how much exposure new items get."""
    return _ratio(r.item_impressions[r.cold_items].sum(), r.impressions)


def registry(*metrics: Metric) -> dict[str, Metric]:
    """``{name: metric}`` in the order given (the order the env emits them); a name twice
    is an error."""
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ValueError(f"metric names registered twice: "
                         f"{sorted({n for n in names if names.count(n) > 1})}")
    return {m.name: m for m in metrics}


METRICS: dict[str, Metric] = registry(
    engagement_total, engagement_per_session, ctr, session_length, user_utility,
    catalog_coverage, intra_list_diversity, novelty, provider_exposure_gini,
    active_providers, duplicate_slate_items, sessions, sessions_completed,
    long_tail_share,
    engagement_per_session_warm_users, engagement_per_session_cold_users,
    ctr_warm_users, item_ctr_warm, ctr_cold_users, item_ctr_cold,
    cold_item_impression_share,
)
"""Every episode metric by name, in the order the env emits them."""

COLD_START_METRICS = (
    "engagement_per_session_warm_users", "engagement_per_session_cold_users",
    "ctr_warm_users", "ctr_cold_users", "item_ctr_warm", "item_ctr_cold",
    "cold_item_impression_share",
)
"""The cold/warm split's keys, present only with ``cold_start`` (the report's column
order; :data:`METRICS` marks the same ones ``cold_start``)."""

SELECTABLE_METRICS = tuple(name for name, m in METRICS.items() if m.selectable)
"""The metrics that can be ``evaluation.metric``."""


def label(name: str) -> str:
    """The short label of metric ``name``; an unregistered name reads as its words."""
    return METRICS[name].label if name in METRICS else name.replace("_", " ")


# ----------------------------------------------------------------------------- accumulator


class EpisodeMetrics:
    """Accumulates one episode, vectorised over session slots; :meth:`summary` computes
    every registered metric from its :meth:`record`."""

    def __init__(self, num_sessions: int, num_items: int, num_providers: int,
                 prior_popularity: np.ndarray, cold_items: np.ndarray | None = None,
                 user_groups: dict[str, tuple[str, ...]] | None = None) -> None:
        p = (prior_popularity + 1.0) / (prior_popularity.sum() + prior_popularity.size)
        # attribute -> (its group labels, each user's group index)
        self.user_groups = {attr: np.unique(np.asarray(labels), return_inverse=True)
                            for attr, labels in (user_groups or {}).items()}
        self.self_information = -log(p) / math.log(2.0)
        self.prior_popularity = prior_popularity
        self.num_sessions = num_sessions
        self.num_items = num_items
        self.num_providers = num_providers
        self.cold_items = cold_items  # (n,) bool, or None: no cold-start split
        self.reset()

    def reset(self) -> None:
        b = self.num_sessions
        self.session_engagement = np.zeros(b)
        self.session_utility = np.zeros(b)
        self.session_steps = np.zeros(b, np.int64)
        self.session_clicks = np.zeros(b, np.int64)
        self.session_cold = np.zeros(b, np.int64)  # 0 warm, 1 cold user
        self.session_user = np.full(b, -1, np.int64)  # the user of each slot's session
        self.ended_users: list[int] = []
        self.ended_clicks: list[int] = []
        self.ended_engagement: list[float] = []
        self.ended_utility: list[float] = []
        self.ended_steps: list[int] = []
        self.ended_cold: list[int] = []
        self.slates = 0
        self.clicks = 0
        self.engagement_total = 0.0
        self.item_impressions = np.zeros(self.num_items, np.int64)
        self.item_clicks = np.zeros(self.num_items, np.int64)
        self.provider_impressions = np.zeros(self.num_providers)
        self.diversity_sum = 0.0
        self.novelty_sum = 0.0
        self.impressions = 0
        self.duplicates = 0
        self.user_slates = np.zeros(2, np.int64)  # by kind of user, 0 warm, 1 cold
        self.user_clicks = np.zeros(2, np.int64)

    def start_sessions(self, slots: np.ndarray, cold: np.ndarray,
                       users: np.ndarray | None = None) -> None:
        """Marks the sessions starting in ``slots`` as cold (new) users or not, and records
        their ``users`` (indices into the population; for :meth:`group_stats`)."""
        self.session_cold[slots] = cold
        if users is not None:
            self.session_user[slots] = users

    def record_slates(self, slates: np.ndarray, slate_vectors: np.ndarray,
                      provider_impressions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slates ``(B, S)`` shown this step, their item vectors ``(B, S, d)`` and the
        impressions per provider they make; returns each slate's diversity (its ILD) and
        novelty (mean self-information of its items), ``(B,)`` each."""
        b, _ = slates.shape
        self.slates += b
        self.impressions += slates.size
        self.item_impressions += np.bincount(slates.ravel(), minlength=self.num_items)
        self.provider_impressions += provider_impressions
        information = self.self_information[slates]
        self.novelty_sum += float(information.sum())
        diversity = slate_diversity(slate_vectors)
        self.diversity_sum += float(diversity.sum())
        return diversity, information.mean(axis=1)

    def record_responses(self, clicked: np.ndarray, engagement: np.ndarray,
                         utility: np.ndarray, items: np.ndarray) -> None:
        """Each slot's response: clicked or not, its engagement and utility, and ``items``,
        the item clicked (any slate item where not clicked)."""
        self.user_slates += np.bincount(self.session_cold, minlength=2)
        self.user_clicks += np.bincount(self.session_cold[clicked], minlength=2)
        self.item_clicks += np.bincount(items[clicked], minlength=self.num_items)
        self.clicks += int(clicked.sum())
        self.engagement_total += float(engagement.sum())
        self.session_engagement += engagement
        self.session_utility += utility
        self.session_steps += 1
        self.session_clicks += clicked

    def end_sessions(self, ended: np.ndarray) -> None:
        """Closes the sessions of the slots in ``ended`` (indices) and zeroes them."""
        self.ended_engagement.extend(self.session_engagement[ended].tolist())
        self.ended_utility.extend(self.session_utility[ended].tolist())
        self.ended_steps.extend(self.session_steps[ended].tolist())
        self.ended_cold.extend(self.session_cold[ended].tolist())
        self.ended_users.extend(self.session_user[ended].tolist())
        self.ended_clicks.extend(self.session_clicks[ended].tolist())
        for acc in (self.session_engagement, self.session_utility, self.session_steps,
                    self.session_clicks):
            acc[ended] = 0

    def record(self, ever_live: np.ndarray, active_providers: int) -> EpisodeRecord:
        """The episode so far, as the metrics read it (copies: later steps leave it be)."""
        running = self.session_steps > 0
        if self.ended_steps:
            eng, util = np.array(self.ended_engagement), np.array(self.ended_utility)
            steps, cold = np.array(self.ended_steps), np.array(self.ended_cold, bool)
        else:
            eng, util = self.session_engagement[running], self.session_utility[running]
            steps, cold = self.session_steps[running], self.session_cold[running] > 0
        return EpisodeRecord(
            slates=self.slates, impressions=self.impressions, clicks=self.clicks,
            engagement_total=self.engagement_total,
            item_impressions=self.item_impressions.copy(),
            item_clicks=self.item_clicks.copy(),
            provider_impressions=self.provider_impressions.copy(),
            prior_popularity=self.prior_popularity, ever_live=np.array(ever_live),
            active_providers=int(active_providers), diversity_sum=self.diversity_sum,
            novelty_sum=self.novelty_sum, duplicates=self.duplicates,
            sessions_ended=len(self.ended_steps), sessions_running=int(running.sum()),
            session_engagement=eng, session_utility=util, session_length=steps,
            session_cold=cold, user_slates=self.user_slates.copy(),
            user_clicks=self.user_clicks.copy(), cold_items=self.cold_items)

    def group_stats(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per user attribute and group: ``sessions``, their ``engagement``, ``utility``,
        ``steps`` and ``clicks`` (sums), over the sessions the session means are over (those
        that ended; where none ended, those running). Groups without a session are left out;
        sums over episodes give any group's per-session means and CTR."""
        running = self.session_steps > 0
        if self.ended_steps:
            users = np.array(self.ended_users)
            values = {"engagement": np.array(self.ended_engagement),
                      "utility": np.array(self.ended_utility),
                      "steps": np.array(self.ended_steps, np.float64),
                      "clicks": np.array(self.ended_clicks, np.float64)}
        else:
            users = self.session_user[running]
            values = {"engagement": self.session_engagement[running],
                      "utility": self.session_utility[running],
                      "steps": self.session_steps[running].astype(np.float64),
                      "clicks": self.session_clicks[running].astype(np.float64)}
        out: dict[str, dict[str, dict[str, float]]] = {}
        for attr, (labels, codes) in self.user_groups.items():
            group = codes[users] if users.size else np.zeros(0, np.int64)
            sessions = np.bincount(group, minlength=labels.size)
            sums = {k: np.bincount(group, weights=v, minlength=labels.size)
                    for k, v in values.items()}
            out[attr] = {str(labels[g]): {"sessions": float(sessions[g]),
                                          **{k: float(v[g]) for k, v in sums.items()}}
                         for g in np.flatnonzero(sessions)}
        return out

    def summary(self, ever_live: np.ndarray, active_providers: int) -> dict[str, float]:
        """Every registered metric of the episode so far (the cold-start ones only with a
        cold-start split), in the registry's order."""
        record = self.record(ever_live, active_providers)
        return {name: m.compute(record) for name, m in METRICS.items()
                if self.cold_items is not None or not m.cold_start}

