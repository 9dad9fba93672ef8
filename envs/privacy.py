"""Local differential privacy of user feedback: what the platform sees of each user step.

With ``privacy_epsilon = eps`` (an env param; ``None``, the default, is no privacy) every
user step's feedback leaves the user's device as a privatised report, and the platform
learns only from reports: the slate policy's reward, the consumed items that enter the
user's history (and so the user state), item popularity and observed satisfaction, and
the session's clicks per step. The users' true behaviour, their interests, budgets and
sessions, and every episode metric, are those of the true responses: only the platform's
view is noised.

The mechanism, per user step, on the true response ``(c, w, u)``: ``c`` the consumed slate
position (``0 .. S - 1``) or ``S`` for none (no click, or leaving), ``w`` the watch time,
``u`` the utility (0 without a consumption):

1. ``c`` by ``(S + 1)``-ary randomised response with ``eps / 3``: reported as it is with
   probability ``e^(eps/3) / (e^(eps/3) + S)``, else as one of the other ``S`` values,
   uniformly;
2. ``w`` clipped to ``[0, W]`` (``W = user_model.item_length``, the most a consumption can
   be watched) plus Laplace noise of scale ``3 W / eps``;
3. ``u`` clipped to ``[U_lo, U_hi]`` (the catalog's lowest quality - 1, highest + 1: quality
   plus an affinity in ``[-1, 1]``) plus Laplace noise of scale ``3 (U_hi - U_lo) / eps``.

Each part is ``eps / 3``-differentially private (randomised response: the ratio of any two
responses' report probabilities is at most ``e^(eps/3)``; Laplace: sensitivity the clipping
range over the scale), so by sequential composition the report of one user step is
``eps``-locally differentially private: for any two true responses ``(c, w, u)``,
``(c', w', u')`` and any set ``O`` of reports, ``P[report in O | c, w, u] <= e^eps P[report
in O | c', w', u']``. A user's ``T``-step session is ``T eps``-LDP (composition); every part
is reported at every step, consumption or not, so that a report's presence says nothing.
Not private: that a user started or ended a session (the platform sees a visitor arrive
and leave), the user's profile text and, under ``cold_start``, a warm user's past
consumption (data the platform held before). The noise has its own random stream (seeded
with the episode), so the users and their true responses are the same at every ``eps``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PrivateReports:
    """What the platform sees of one step's responses, per slot ``(B,)``."""

    choice: np.ndarray  # int: slate position reported consumed, or S for none
    watch: np.ndarray  # float: reported watch time (unbiased, may be negative)
    utility: np.ndarray  # float: reported utility


def check_epsilon(epsilon: float | None) -> None:
    """``privacy_epsilon`` is ``None`` or a finite number > 0."""
    if epsilon is None:
        return
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) \
            or not math.isfinite(epsilon) or epsilon <= 0:
        raise ValueError(f"privacy_epsilon={epsilon!r} must be a finite number > 0 (the "
                         "local differential privacy budget of one user step) or null "
                         "(no privacy)")


def keep_probability(epsilon: float, outcomes: int) -> float:
    """Randomised response over ``outcomes`` values with budget ``epsilon``: the
    probability of reporting the true value."""
    return 1.0 / (1.0 + (outcomes - 1) * math.exp(-epsilon))


def privatise(choice: np.ndarray, watch: np.ndarray, utility: np.ndarray, epsilon: float,
              slate_size: int, watch_bound: float, utility_bounds: tuple[float, float],
              rng: np.random.Generator) -> PrivateReports:
    """The ``epsilon``-LDP reports of true responses (module docstring)."""
    part = epsilon / 3.0
    k = slate_size + 1
    keep = rng.random(choice.shape) < keep_probability(part, k)
    other = (choice + rng.integers(1, k, choice.shape)) % k  # uniform over the others
    reported = np.where(keep, choice, other)
    low, high = utility_bounds
    noisy_watch = (np.clip(watch, 0.0, watch_bound)
                   + rng.laplace(0.0, watch_bound / part, watch.shape))
    noisy_utility = (np.clip(utility, low, high)
                     + rng.laplace(0.0, (high - low) / part, utility.shape))
    return PrivateReports(reported.astype(np.int64), noisy_watch, noisy_utility)
