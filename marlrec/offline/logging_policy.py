"""The stochastic logging policy of ``marlrec log``: a Plackett-Luce softmax over a scripted
baseline's candidate scores, and the slate probabilities every estimator needs.

A slate is drawn position by position without replacement: position ``k`` takes candidate
``c`` with probability ``exp(s_c / T) / sum over candidates not yet in the slate`` (``s``
the baseline's scores, ``T`` the temperature; ``T -> 0`` is the baseline itself, large
``T`` uniform). Its slates never repeat an item, so the env shows exactly the slate drawn.
With ``C`` candidates and slates of ``S`` the ordered slates are ``C!/(C - S)!`` (90 for the
quickstart's 10 and 2): :func:`ordered_slates` enumerates them and
:func:`slate_probabilities` gives every one's probability, exactly.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from envs.observation import CANDIDATE_FEATURES

SCORED_BASELINES = {"greedy_by_appeal": "appeal", "popularity": "popularity",
                    "greedy_by_similarity": "similarity", "random": None}
"""Baselines whose scores the logging policy can soften: the candidate feature each ranks
by (``random``: all scores equal, the uniform policy)."""
MAX_SLATES = 20_000
"""Ordered slates the exact probabilities enumerate at most."""


def baseline_scores(baseline: str, candidate_features: np.ndarray) -> np.ndarray:
    """``(B, C)`` the scores ``baseline`` ranks candidates by (its candidate feature)."""
    if baseline not in SCORED_BASELINES:
        raise ValueError(f"logging baseline {baseline!r} is not one of "
                         f"{sorted(SCORED_BASELINES)} (baselines that rank candidates by a "
                         "score)")
    feature = SCORED_BASELINES[baseline]
    if feature is None:
        return np.zeros(candidate_features.shape[:2])
    return candidate_features[..., CANDIDATE_FEATURES.index(feature)].astype(np.float64)


def ordered_slates(num_candidates: int, slate_size: int) -> np.ndarray:
    """``(K, S)`` every ordered slate of distinct candidate positions."""
    count = math.perm(num_candidates, slate_size)
    if count > MAX_SLATES:
        raise ValueError(f"{count} ordered slates of {slate_size} among {num_candidates} "
                         f"candidates; exact slate probabilities enumerate at most {MAX_SLATES}")
    return np.array(list(itertools.permutations(range(num_candidates), slate_size)), np.int64)


def position_softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """``(B, C)`` the unnormalised Plackett-Luce weights ``exp((s - max s) / T)``."""
    z = scores / temperature
    return np.exp(z - z.max(axis=1, keepdims=True))


def slate_probabilities(weights: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """``(B, K)`` each row's probability of each of ``slates`` (``(K, S)``) under
    Plackett-Luce with ``weights`` ``(B, C)``."""
    total = weights.sum(axis=1, keepdims=True)  # (B, 1)
    prob = np.ones((weights.shape[0], slates.shape[0]))
    used = np.zeros((weights.shape[0], slates.shape[0]))
    for k in range(slates.shape[1]):
        w = weights[:, slates[:, k]]  # (B, K)
        prob *= w / (total - used)
        used += w
    return prob


def sample_slates(weights: np.ndarray, slate_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Plackett-Luce draws ``(B, S)`` (Gumbel top-k: the ``S`` largest ``log w + Gumbel``
    in order are a draw without replacement) and each draw's probability ``(B,)``."""
    keys = np.log(weights) + rng.gumbel(size=weights.shape)
    slates = np.argsort(-keys, axis=1, kind="stable")[:, :slate_size]
    rows = np.arange(weights.shape[0])
    prob = np.ones(weights.shape[0])
    remaining = weights.sum(axis=1)
    for k in range(slate_size):
        w = weights[rows, slates[:, k]]
        prob *= w / remaining
        remaining = remaining - w
    return slates, prob


class PlackettLuceLogging:
    """The logging policy as a slate behaviour (for online evaluation beside the policies
    trained from its logs): Plackett-Luce draws from ``baseline``'s softened scores."""

    def __init__(self, baseline: str, temperature: float, slate_size: int) -> None:
        self.baseline, self.temperature, self.slate_size = baseline, temperature, slate_size

    def act_batch(self, obs: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        weights = position_softmax(baseline_scores(self.baseline, obs["candidate_features"]),
                                   self.temperature)
        return sample_slates(weights, self.slate_size, rng)[0]

    def __repr__(self) -> str:
        return f"PlackettLuceLogging({self.baseline!r}, T={self.temperature:g})"
