"""The metric registry (``envs.metrics.METRICS``): what the env emits, directions, the
selectable set, and the long-tail share worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs.metrics import (
    COLD_START_METRICS,
    METRICS,
    SELECTABLE_METRICS,
    EpisodeMetrics,
    Metric,
    label,
    registry,
)

LOWER_IS_BETTER = {"provider_exposure_gini", "duplicate_slate_items"}
SELECTABLE = {"engagement_per_session", "user_utility", "session_length", "ctr",
              "catalog_coverage", "intra_list_diversity", "novelty", "active_providers",
              "long_tail_share"}
LABELS = {  # the table labels the shipped docs use (marlrec.cli.METRIC_LABELS before)
    "engagement_per_session": "engagement /session", "ctr": "CTR",
    "session_length": "session length", "user_utility": "utility /session",
    "catalog_coverage": "coverage", "intra_list_diversity": "diversity (ILD)",
    "provider_exposure_gini": "exposure Gini", "active_providers": "active providers"}


def _episode_keys(**overrides: object) -> list[str]:
    env = envs.make_env("interest_evolution", num_sessions=2, **overrides)
    result = envs.rollout(env, envs.scripted_behaviours(env), episodes=1, seed=0)
    return list(result.episode_metrics[0])


def test_the_env_emits_exactly_the_registered_metrics_in_their_order() -> None:
    plain = [name for name, m in METRICS.items() if not m.cold_start]
    assert _episode_keys() == plain
    assert _episode_keys(cold_start={"user_share": 0.3}) == list(METRICS)


def test_the_cold_start_keys_are_the_registered_cold_start_metrics() -> None:
    assert set(COLD_START_METRICS) == {n for n, m in METRICS.items() if m.cold_start}


def test_directions() -> None:
    assert {n for n, m in METRICS.items() if not m.higher_is_better} == LOWER_IS_BETTER
    assert METRICS["provider_exposure_gini"].direction == "lower"
    assert METRICS["long_tail_share"].direction == "higher"


def test_the_selectable_metrics() -> None:
    assert set(SELECTABLE_METRICS) == SELECTABLE
    assert all(METRICS[n].higher_is_better for n in SELECTABLE_METRICS)  # selection maximises


def test_every_metric_is_described_and_labelled() -> None:
    for name, m in METRICS.items():
        assert m.name == name
        assert m.label and m.description and m.value_range, name
    assert {n: METRICS[n].label for n in LABELS} == LABELS
    assert len({m.label for m in METRICS.values()}) == len(METRICS)
    assert label("ctr") == "CTR" and label("no_such_metric") == "no such metric"


def test_a_selectable_metric_must_be_higher_is_better() -> None:
    with pytest.raises(ValueError, match="higher-is-better"):
        Metric(name="x", label="x", higher_is_better=False, selectable=True,
               description="x", value_range="x", compute=lambda r: 0.0)
    with pytest.raises(ValueError, match="registered twice"):
        registry(METRICS["ctr"], METRICS["ctr"])


def _tiny(prior: list[float]) -> EpisodeMetrics:
    """Two session slots, slates of two, six items of two providers; two steps shown."""
    metrics = EpisodeMetrics(2, 6, 2, np.array(prior, np.float32))
    vectors = np.eye(6, dtype=np.float32)
    for slates in ([[0, 2], [1, 3]], [[4, 5], [2, 1]]):
        slates = np.array(slates)
        owners = np.bincount(slates.ravel() % 2, minlength=2)
        metrics.record_slates(slates, vectors[slates], owners)
        metrics.record_responses(np.array([True, False]), np.array([2.0, 0.0]),
                                 np.array([1.0, 0.0]), slates[:, 0])
    return metrics


def test_the_long_tail_share_by_hand() -> None:
    # 20 prior interactions: the short head is the most popular items that hold 20% (4) of
    # them. Items 0 and 1 (5 each, tied) have nothing more popular above them: head. Items
    # 2 and 3 (4 each) have 10 above them: tail, and so are 4 and 5.
    metrics = _tiny([5, 5, 4, 4, 2, 0])
    summary = metrics.summary(np.ones(6, bool), active_providers=2)
    # impressions: step 1 items 0 2 1 3 (tail: 2, 3), step 2 items 4 5 2 1 (tail: 4 5 2)
    assert summary["long_tail_share"] == 5 / 8
    assert summary["ctr"] == 2 / 4
    assert summary["catalog_coverage"] == 1.0
    assert summary["intra_list_diversity"] == 1.0  # orthogonal items


def test_without_prior_popularity_every_item_is_long_tail() -> None:
    summary = _tiny([0] * 6).summary(np.ones(6, bool), active_providers=2)
    assert summary["long_tail_share"] == 1.0


def test_one_dominant_item_is_the_whole_head() -> None:
    # 60 of 100 interactions on item 3: it alone holds the first 20%; the rest is tail
    summary = _tiny([10, 9, 8, 60, 7, 6]).summary(np.ones(6, bool), active_providers=2)
    assert summary["long_tail_share"] == 7 / 8  # item 3 shown once of 8 impressions


def test_a_rollout_reports_the_long_tail_share() -> None:
    env = envs.make_env("interest_evolution", num_sessions=4)
    result = envs.rollout(env, envs.scripted_behaviours(env), episodes=2, seed=0)
    shares = [m["long_tail_share"] for m in result.episode_metrics]
    assert all(0.0 < s < 1.0 for s in shares)
