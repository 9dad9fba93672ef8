"""rliable aggregation checked against values computed by hand on small arrays."""

from __future__ import annotations

import numpy as np
import pytest

from marlrec.evaluation.aggregate import (
    interval_estimates,
    marl_eval_json,
    performance_profiles,
    probability_of_improvement,
)


def test_iqm_mean_median_by_hand():
    # IQM of 5 runs drops the lowest and the highest (25% each side): mean(2, 3, 4) = 3
    est = interval_estimates({"ppo": [1, 2, 3, 4, 100], "greedy": [5, 5, 5, 5, 5]}, reps=200)
    assert est["ppo"]["IQM"].point == pytest.approx(3.0)
    assert est["ppo"]["Mean"].point == pytest.approx(22.0)
    # rliable's median: over tasks, of each task's mean over runs (one task here)
    assert est["ppo"]["Median"].point == pytest.approx(22.0)
    two_tasks = interval_estimates({"ppo": [[1, 10], [3, 30]]}, reps=50)
    assert two_tasks["ppo"]["Median"].point == pytest.approx((2 + 20) / 2)
    ci = est["ppo"]["Mean"]
    assert 1.0 <= ci.low <= ci.point <= ci.high <= 100.0
    constant = est["greedy"]["IQM"]  # no spread: the CI collapses onto the point
    assert constant.low == constant.point == constant.high == 5.0


def test_bootstrap_is_reproducible_with_a_seed():
    scores = {"a": np.arange(8.0), "b": np.arange(8.0) ** 1.5}
    assert interval_estimates(scores, seed=3) == interval_estimates(scores, seed=3)


def test_probability_of_improvement_by_hand():
    # pairs (1,0) (1,3) (2,0) (2,3): x wins 2 of 4 -> 0.5; ties count half
    poi = probability_of_improvement({"x": [1, 2], "y": [0, 3], "z": [1, 2]}, reps=200)
    assert poi[("x", "y")].point == pytest.approx(0.5)
    # x vs z: (1,1) tie, (1,2) lose, (2,1) win, (2,2) tie -> (0.5 + 0 + 1 + 0.5) / 4
    assert poi[("x", "z")].point == pytest.approx(0.5)
    poi = probability_of_improvement({"high": [5, 6, 7], "low": [1, 2, 3]}, reps=200)
    assert poi[("high", "low")].point == 1.0 and poi[("low", "high")].point == 0.0


def test_probability_of_improvement_where_lower_is_better():
    # better is below: pairs (1,0) lose (1,3) win (2,0) lose (2,3) win -> 0.5
    scores = {"x": [1, 2], "y": [0, 3], "high": [5, 6], "low": [1, 2]}
    lower = probability_of_improvement(scores, reps=200, higher_is_better=False)
    assert lower[("x", "y")].point == pytest.approx(0.5)
    assert lower[("low", "high")].point == 1.0 and lower[("high", "low")].point == 0.0
    # the same bootstrap as on negated scores; higher_is_better=True is the default
    negated = probability_of_improvement({k: -np.array(v, float) for k, v in scores.items()},
                                         reps=200)
    assert lower == negated
    assert probability_of_improvement(scores, reps=200, higher_is_better=True) == \
        probability_of_improvement(scores, reps=200)


def test_unequal_runs_are_refused():
    with pytest.raises(ValueError, match=r"same number of runs and tasks.*ppo: 3 runs x 1 "
                                         r"tasks, greedy: 5 runs x 1 tasks"):
        interval_estimates({"ppo": [1, 2, 3], "greedy": [1, 2, 3, 4, 5]})
    with pytest.raises(ValueError, match="same number of runs"):
        probability_of_improvement({"ppo": [1, 2, 3], "greedy": [1, 2]})
    with pytest.raises(ValueError, match=r"scores\['ppo'\]: contains NaN"):
        interval_estimates({"ppo": [1, np.nan]})


def test_performance_profile_by_hand():
    profiles = performance_profiles({"a": [1, 2, 3, 4]}, taus=np.array([0.0, 2.5, 10.0]),
                                    reps=100)
    np.testing.assert_allclose(profiles["a"]["profile"], [1.0, 0.5, 0.0])


def test_marl_eval_layout():
    out = marl_eval_json("ecosystem", "interest_evolution", "engagement_per_session",
                         {"PPO": [[1.0, 2.0], [3.0]]},
                         steps={"PPO": [{0: [0.5], 400: [1.5]}, {0: [0.1], 400: [0.2]}]})
    run0 = out["ecosystem"]["interest_evolution"]["PPO"]["run_0"]
    assert run0["absolute_metrics"] == {"engagement_per_session": [1.0, 2.0]}
    assert run0["step_1"] == {"step_count": 400, "engagement_per_session": [1.5]}
    assert "run_1" in out["ecosystem"]["interest_evolution"]["PPO"]


def test_the_fast_iqm_and_improvement_are_rliables_to_the_bit():
    """aggregate_iqm and probability_of_improvement_of_runs replace rliable's (scipy's
    trim_mean and mannwhitneyu per bootstrap resample) with the same arithmetic."""
    from rliable import metrics as rl_metrics

    from marlrec.evaluation.aggregate import aggregate_iqm, probability_of_improvement_of_runs

    rng = np.random.default_rng(0)
    for runs_x, runs_y, tasks in [(3, 3, 1), (4, 5, 2), (10, 10, 3), (1, 7, 1)]:
        for _ in range(50):
            x = rng.integers(0, 6, (runs_x, tasks)) + rng.choice([0, 0.5], (runs_x, tasks))
            y = rng.integers(0, 6, (runs_y, tasks)) * 1.0
            if rng.random() < 0.2:
                y = x.copy() if runs_x == runs_y else y
            noisy = x + rng.normal(size=x.shape)
            for a, b in [(x, y), (noisy, y), (y, x)]:
                assert aggregate_iqm(a) == rl_metrics.aggregate_iqm(a)
                if a.shape[1] == b.shape[1]:
                    assert probability_of_improvement_of_runs(a, b) == \
                        rl_metrics.probability_of_improvement(a, b)
