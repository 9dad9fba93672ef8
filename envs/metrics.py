"""Episode metrics of the recommender ecosystem, emitted in ``infos`` at episode end.

| key | meaning | range |
|---|---|---|
| ``engagement_total`` | watch time summed over all sessions of the episode | >= 0 |
| ``engagement_per_session`` | mean watch time of a session | >= 0 |
| ``ctr`` | clicks / slates shown | [0, 1] |
| ``session_length`` | mean steps of a session | >= 1 |
| ``user_utility`` | mean utility (quality + affinity of consumed items) of a session | real |
| ``catalog_coverage`` | distinct items shown / items live at some point of the episode | [0, 1] |
| ``intra_list_diversity`` | mean over slates of mean pairwise ``1 - cos`` of the items | [0, 2] |
| ``novelty`` | mean self-information ``-log2 p(i)``, ``p`` from prior popularity | >= 0 |
| ``provider_exposure_gini`` | Gini coefficient of impressions across all providers | [0, 1] |
| ``active_providers`` | providers still on the platform at the end | 0..P |
| ``duplicate_slate_items`` | slate positions that repeated an item and were replaced | >= 0 |
| ``sessions``, ``sessions_completed`` | sessions seen / ended by budget or leaving | >= 0 |

Session means (engagement, length, utility) are over sessions that *ended* in the
episode; when none ended they are over the sessions still running at the horizon.

With ``cold_start`` (:mod:`envs.cold_start`) the split by new (cold) and known (warm)
users and items; NaN where the episode had none of that kind (a training env without cold
users and items):

| key | meaning | range |
|---|---|---|
| ``engagement_per_session_warm_users``, ``..._cold_users`` | per session of each kind | >= 0 |
| ``ctr_warm_users``, ``ctr_cold_users`` | clicks / slates shown, each kind of user | [0, 1] |
| ``item_ctr_warm``, ``item_ctr_cold`` | clicks on items of the kind / their impressions | [0, 1] |
| ``cold_item_impression_share`` | impressions of cold items / all impressions | [0, 1] |
"""

from __future__ import annotations

import numpy as np

COLD_START_METRICS = (
    "engagement_per_session_warm_users", "engagement_per_session_cold_users",
    "ctr_warm_users", "ctr_cold_users", "item_ctr_warm", "item_ctr_cold",
    "cold_item_impression_share",
)
"""The cold/warm split's keys, present only with ``cold_start``."""


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 equal, -> 1 concentrated)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0 or x.sum() <= 0:
        return 0.0
    ranks = np.arange(1, x.size + 1)
    return float((2 * ranks - x.size - 1) @ x / (x.size * x.sum()))


class EpisodeMetrics:
    """Accumulates one episode's metrics, vectorised over session slots."""

    def __init__(self, num_sessions: int, num_items: int, num_providers: int,
                 prior_popularity: np.ndarray, cold_items: np.ndarray | None = None) -> None:
        p = (prior_popularity + 1.0) / (prior_popularity.sum() + prior_popularity.size)
        self.self_information = -np.log2(p)
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
        self.ended_engagement: list[float] = []
        self.ended_utility: list[float] = []
        self.ended_steps: list[int] = []
        self.slates = 0
        self.clicks = 0
        self.engagement_total = 0.0
        self.shown = np.zeros(self.num_items, bool)
        self.provider_impressions = np.zeros(self.num_providers)
        self.diversity_sum = 0.0
        self.novelty_sum = 0.0
        self.impressions = 0
        self.duplicates = 0
        # cold-start split, index 0 warm, 1 cold
        self.session_cold = np.zeros(self.num_sessions, np.int64)
        self.ended_cold: list[int] = []
        self.user_slates = np.zeros(2, np.int64)
        self.user_clicks = np.zeros(2, np.int64)
        self.item_impressions = np.zeros(2, np.int64)
        self.item_clicks = np.zeros(2, np.int64)

    def start_sessions(self, slots: np.ndarray, cold: np.ndarray) -> None:
        """Marks the sessions starting in ``slots`` as cold (new) users or not."""
        self.session_cold[slots] = cold

    def record_slates(self, slates: np.ndarray, slate_vectors: np.ndarray,
                      provider_impressions: np.ndarray) -> None:
        """Slates ``(B, S)`` shown this step, their item vectors ``(B, S, d)`` and the
        impressions per provider they make."""
        b, s = slates.shape
        self.slates += b
        self.impressions += slates.size
        self.shown[slates.ravel()] = True
        self.provider_impressions += provider_impressions
        if self.cold_items is not None:
            cold = int(self.cold_items[slates].sum())
            self.item_impressions += (slates.size - cold, cold)
        self.novelty_sum += float(self.self_information[slates].sum())
        if s > 1:
            pair_sum = np.zeros(b, np.float32)
            for i in range(s):
                for j in range(i + 1, s):
                    pair_sum += np.einsum("bd,bd->b", slate_vectors[:, i], slate_vectors[:, j])
            self.diversity_sum += float((1.0 - pair_sum / (s * (s - 1) / 2)).sum())

    def record_responses(self, clicked: np.ndarray, engagement: np.ndarray,
                         utility: np.ndarray, items: np.ndarray) -> None:
        """Each slot's response: clicked or not, its engagement and utility, and ``items``,
        the item clicked (any slate item where not clicked)."""
        if self.cold_items is not None:
            np.add.at(self.user_slates, self.session_cold, 1)
            np.add.at(self.user_clicks, self.session_cold[clicked], 1)
            np.add.at(self.item_clicks, self.cold_items[items[clicked]].astype(np.int64), 1)
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
        for acc in (self.session_engagement, self.session_utility, self.session_steps,
                    self.session_clicks):
            acc[ended] = 0

    def summary(self, ever_live: np.ndarray, active_providers: int) -> dict[str, float]:
        if self.ended_steps:
            eng, util, steps = self.ended_engagement, self.ended_utility, self.ended_steps
            cold = self.ended_cold
        else:
            running = self.session_steps > 0
            eng = self.session_engagement[running].tolist()
            util = self.session_utility[running].tolist()
            steps = self.session_steps[running].tolist()
            cold = self.session_cold[running].tolist()
        running_now = int((self.session_steps > 0).sum())
        split = {} if self.cold_items is None else self._cold_split(np.array(eng),
                                                                    np.array(cold, bool))
        return {
            "engagement_total": self.engagement_total,
            "engagement_per_session": float(np.mean(eng)) if eng else 0.0,
            "ctr": self.clicks / max(1, self.slates),
            "session_length": float(np.mean(steps)) if steps else 0.0,
            "user_utility": float(np.mean(util)) if util else 0.0,
            "catalog_coverage": float(self.shown.sum() / max(1, ever_live.sum())),
            "intra_list_diversity": self.diversity_sum / max(1, self.slates),
            "novelty": self.novelty_sum / max(1, self.impressions),
            "provider_exposure_gini": gini(self.provider_impressions),
            "active_providers": float(active_providers),
            "duplicate_slate_items": float(self.duplicates),
            "sessions": float(len(self.ended_steps) + running_now),
            "sessions_completed": float(len(self.ended_steps)),
        } | split

    def _cold_split(self, engagement: np.ndarray, cold: np.ndarray) -> dict[str, float]:
        def ratio(a: float, b: float) -> float:
            return a / b if b > 0 else float("nan")

        out = {}
        for kind, mask in (("warm", ~cold), ("cold", cold)):
            out[f"engagement_per_session_{kind}_users"] = (
                float(engagement[mask].mean()) if mask.any() else float("nan"))
        for k, kind in enumerate(("warm", "cold")):
            out[f"ctr_{kind}_users"] = ratio(self.user_clicks[k], self.user_slates[k])
            out[f"item_ctr_{kind}"] = ratio(self.item_clicks[k], self.item_impressions[k])
        out["cold_item_impression_share"] = ratio(self.item_impressions[1], self.impressions)
        return out
