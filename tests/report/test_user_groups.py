"""Fairness across user groups: per-group stats from the env, pooled runs, gaps with CIs."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from marlrec.report.user_groups import (
    MIN_GROUP_SESSIONS,
    group_fairness,
    group_tables,
    plot_group_gaps,
    pooled_groups,
)


def played(env, episodes=2, seed=0):
    behaviours = envs.scripted_behaviours(env, "greedy_by_appeal")
    return envs.rollout(env, behaviours, episodes=episodes, seed=seed)


def test_group_stats_add_up_to_the_episodes_sessions():
    env = envs.make_env("interest_evolution", num_sessions=4, horizon=80, num_users=200)
    result = played(env)
    assert set(env.population.groups) == {"primary_topic"}
    for metrics, stats in zip(result.episode_metrics, result.group_stats, strict=True):
        groups = stats["primary_topic"]
        sessions = sum(g["sessions"] for g in groups.values())
        assert sessions == metrics["sessions_completed"] > 0
        engagement = sum(g["engagement"] for g in groups.values())
        assert engagement / sessions == pytest.approx(metrics["engagement_per_session"])
        steps = sum(g["steps"] for g in groups.values())
        assert steps / sessions == pytest.approx(metrics["session_length"])
        assert set(groups) <= set(env.population.groups["primary_topic"])


def test_movielens_users_are_grouped_by_age_band_gender_and_occupation(movielens_data):
    env = envs.make_env("interest_evolution", catalog="movielens-100k", num_sessions=4,
                        horizon=60)
    groups = env.population.groups
    assert set(groups) == {"age", "gender", "occupation"}
    assert set(groups["gender"]) == {"F", "M"}
    assert set(groups["age"]) <= {"under 18", "18-24", "25-34", "35-44", "45-49", "50-55",
                                  "56+"}
    assert len(set(groups["occupation"])) == 21
    assert groups["gender"].count("F") == 273  # MovieLens-100k: 273 women, 670 men
    from envs.users import age_band

    assert [age_band(a) for a in (7, 17, 18, 24, 25, 49, 50, 55, 56, 73)] == [
        "under 18", "under 18", "18-24", "18-24", "25-34", "45-49", "50-55", "50-55", "56+",
        "56+"]
    stats = played(env, episodes=1).group_stats[0]
    assert sum(g["sessions"] for g in stats["gender"].values()) == sum(
        g["sessions"] for g in stats["age"].values())


def run_of(values: dict[str, tuple[float, float]]) -> dict:
    """A pooled run: group -> (sessions, engagement sum)."""
    return {"gender": {g: {"sessions": n, "engagement": e, "utility": e / 2, "steps": 3 * n,
                           "clicks": n} for g, (n, e) in values.items()}}


def test_the_gap_is_best_minus_worst_group_over_groups_with_enough_sessions():
    n = MIN_GROUP_SESSIONS
    policy_a = [run_of({"F": (n, 60.0 * n), "M": (2 * n, 50.0 * 2 * n), "X": (1, 90.0)}),
                run_of({"F": (n, 64.0 * n), "M": (2 * n, 50.0 * 2 * n), "X": (n, 10.0 * n)})]
    policy_b = [run_of({"F": (n, 55.0 * n), "M": (n, 55.0 * n), "X": (n, 55.0 * n)})] * 2
    fairness = group_fairness({"a": policy_a, "b": policy_b}, reps=200)
    entry = fairness["gender"]
    assert entry["groups"] == ["F", "M"] and entry["left_out"] == ["X"]  # X: 1 session once
    gap_a = entry["policies"]["a"]["engagement_per_session"]
    assert gap_a["gap_per_run"] == [10.0, 14.0] and gap_a["gap"][0] == pytest.approx(12.0)
    assert gap_a["best"] == "F" and gap_a["worst"] == "M"
    assert entry["policies"]["b"]["engagement_per_session"]["gap"] == [0.0, 0.0, 0.0]
    assert entry["policies"]["a"]["session_length"]["gap"][0] == 0.0  # 3 steps everywhere
    table = group_tables(fairness)
    assert "| a | 12 [10, 14] (F / M)" in table and "left out, too few sessions: X" in table


def test_pooled_groups_sum_episodes_and_leave_their_metrics_flat(tmp_path):
    episodes = [{"ctr": 0.5, "groups": run_of({"F": (2, 10.0)})},
                {"ctr": 0.7, "groups": run_of({"F": (3, 5.0), "M": (1, 1.0)})}]
    pooled = pooled_groups(episodes)
    assert pooled["gender"]["F"]["sessions"] == 5 and pooled["gender"]["F"]["engagement"] == 15
    assert pooled["gender"]["M"]["sessions"] == 1
    assert episodes == [{"ctr": 0.5}, {"ctr": 0.7}]
    few = group_fairness({"a": [pooled]}, reps=50)
    assert few["gender"]["policies"] == {}  # no group has enough sessions: not compared
    assert "not compared" in group_tables(few)
    assert not plot_group_gaps(few, "engagement_per_session", tmp_path / "g.png")
    n = MIN_GROUP_SESSIONS
    enough = group_fairness({"a": [run_of({"F": (n, 2.0 * n), "M": (n, 1.0 * n)})]}, reps=50)
    assert plot_group_gaps(enough, "engagement_per_session", tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 5000
    assert np.isfinite(enough["gender"]["policies"]["a"]["ctr"]["gap"]).all()
