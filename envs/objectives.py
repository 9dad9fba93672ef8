"""The platform's objective: what the slate policy is rewarded for.

``slate_policy_j``'s reward at step ``t`` answers the slate shown to user ``j`` at ``t``
(the one it chose at ``t - 1``) and is a weighted sum of per-slate terms
(``EcosystemConfig.objective``, a :class:`SlateObjective`; in a spec
``env.params.objective: {engagement: 1, exposure_fairness: 2}``):

============================  =================================================================
term                          value for the slate shown to user ``j`` at ``t``
============================  =================================================================
``engagement``                the user's watch time (0 without a click)
``clicks``                    1 if the user consumed an item of the slate, else 0
``utility``                   the user's utility (quality + affinity of the consumed item; 0)
``exposure_fairness``         the decrease of the providers' exposure Gini the slate makes
``diversity``                 mean pairwise ``1 - cos`` of the slate's item vectors (its ILD)
``novelty``                   mean self-information ``-log2 p(i)`` of the slate's items
============================  =================================================================

The default (``engagement`` 1, every other weight 0) is the reward of every earlier
marlrec version, exactly: the env returns the watch time array itself.

Exposure fairness. ``c`` are the impressions of the ``P`` providers so far in the episode
(before this step), ``C = sum c``, and ``G`` the Gini coefficient of impressions across
providers (the ``provider_exposure_gini`` metric is ``G`` of the episode's final
impressions). Slot ``j``'s term is ``-(C / S) (G(c + k_<=j) - G(c + k_<j))``: the decrease
of the exposure Gini that its slate's ``S`` impressions make, the step's slates counted in
slot order (``k_<=j``: impressions of the slates of slots ``0..j``). The factor ``C / S``
keeps the term on one scale through the episode (a slate is a ``S / C`` share of the
exposure so far; for large ``C`` the term is ``-C/S dG . k_j``, about the mean over the
slate's items of ``G(c) - (1/P) sum_q sign(c_p - c_q)``, in ``[G - 1, G + 1]``): it rewards
showing providers whose exposure ranks below the others' and penalises showing the most
exposed. It is 0 at the first step (no exposure yet: the Gini is scale-free and the
first, cold-open slates set it). Exactly, over an episode, ``sum_{t >= 1} (S / C_t)
sum_j term_{j,t} = G(after step 0) - G(final)``: the decrease of the exposure Gini from
the cold-open slates to the end (``tests/envs/test_objectives.py``). ``novelty``'s ``p(i)``
is the item's add-one-smoothed share of the prior popularity, as in the ``novelty``
metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from envs.metrics import gini_rows

OBJECTIVE_TERMS = ("engagement", "clicks", "utility", "exposure_fairness", "diversity",
                   "novelty")


@dataclass(frozen=True)
class SlateObjective:
    """Weights of the slate policy's reward terms (module docstring); any real weights,
    negative ones penalise their term."""

    engagement: float = 1.0
    clicks: float = 0.0
    utility: float = 0.0
    exposure_fairness: float = 0.0
    diversity: float = 0.0
    novelty: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value):
                raise ValueError(f"objective.{f.name}={value!r} must be a finite number "
                                 f"(a weight of the slate policy's reward)")
            object.__setattr__(self, f.name, float(value))

    @property
    def weights(self) -> dict[str, float]:
        """The non-zero weights by term, in :data:`OBJECTIVE_TERMS` order."""
        return {t: getattr(self, t) for t in OBJECTIVE_TERMS if getattr(self, t) != 0.0}

    @property
    def is_engagement_only(self) -> bool:
        """The default objective: the reward is the watch time itself."""
        return self.weights == {"engagement": 1.0}

    def describe(self) -> str:
        """``"1 engagement + 2 exposure_fairness"``: the reward as a formula."""
        terms = [f"{w:g} {t}" for t, w in self.weights.items()]
        return " + ".join(terms).replace("+ -", "- ") if terms else "0"


def objective_from_dict(raw: dict) -> SlateObjective:
    """A :class:`SlateObjective` from a dict of weights; unknown terms raise ``ValueError``
    naming the allowed ones."""
    unknown = sorted(set(raw) - set(OBJECTIVE_TERMS))
    if unknown:
        raise ValueError(f"unknown objective term(s) {unknown}; allowed: "
                         f"{list(OBJECTIVE_TERMS)}")
    return SlateObjective(**raw)


def exposure_fairness_terms(provider_impressions: np.ndarray, slate_owners: np.ndarray
                            ) -> np.ndarray:
    """``(B,)`` the exposure-fairness term of each slate (module docstring): ``-(C / S)`` x
    the change of the providers' impression Gini that the slate makes, the slates counted
    in slot order after the ``provider_impressions`` ``c`` of the episode so far (``C =
    sum c``); all 0 before any impression. ``slate_owners`` ``(B, S)``: the providers of the
    slates' items."""
    c = np.asarray(provider_impressions, np.float64)
    b, s = slate_owners.shape
    if c.sum() <= 0:
        return np.zeros(b)
    counts = np.zeros((b, c.size))
    np.add.at(counts, (np.repeat(np.arange(b), s), slate_owners.ravel()), 1.0)
    cumulative = c + np.concatenate([np.zeros((1, c.size)), np.cumsum(counts, axis=0)])
    return -(c.sum() / s) * np.diff(gini_rows(cumulative))


def exposure_fairness_of_providers(provider_impressions: np.ndarray, slate_size: int
                                   ) -> np.ndarray:
    """``(P,)`` the exposure-fairness term one impression of each provider would earn as a
    one-item share of a slate of ``slate_size``: ``-(C / S)`` x the Gini change it makes
    (what a greedy fairness-seeking slate ranks candidates by)."""
    c = np.asarray(provider_impressions, np.float64)
    if c.sum() <= 0:
        return np.zeros(c.size)
    bumped = c + np.eye(c.size)
    return -(c.sum() / slate_size) * (gini_rows(bumped) - gini_rows(c[None]))


def slate_rewards(objective: SlateObjective, *, watch: np.ndarray, clicked: np.ndarray,
                  utility: np.ndarray, diversity: np.ndarray, novelty: np.ndarray,
                  slate_owners: np.ndarray, provider_impressions: np.ndarray) -> np.ndarray:
    """``(B,)`` the slate policies' rewards for the slates shown now: ``objective``'s
    weighted terms (``watch`` itself under the default objective). ``diversity`` and
    ``novelty`` are per slate, ``slate_owners`` ``(B, S)`` the providers of the slates'
    items and ``provider_impressions`` the episode's impressions before this step."""
    if objective.is_engagement_only:
        return watch
    terms = {"engagement": watch, "clicks": clicked.astype(np.float64), "utility": utility,
             "diversity": diversity, "novelty": novelty}
    reward = np.zeros(watch.shape, np.float64)
    for term, weight in objective.weights.items():
        if term == "exposure_fairness":
            value = exposure_fairness_terms(provider_impressions, slate_owners)
        else:
            value = terms[term]
        reward += weight * value
    return reward
