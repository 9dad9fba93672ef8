"""Scripted rollouts whose every bit is promised on any x86-64 CPU (docs/environment.md,
"What reproduces"), and the file that records them (``trajectories.json`` beside this one).

Each case is an env and scripted behaviours for every role; its record is the role returns,
two episode metrics and a SHA-256 over every step's observations (every role, every key),
actions and rewards. ``python tests/envs/golden/trajectories.py`` prints the records as
JSON (``tests/envs/test_reproducibility.py`` runs it under other BLAS kernels and numpy
dispatch); ``--write`` records them, which a change may do only when the records it prints
are identical under every kernel set that test runs.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

import envs
from envs.rollout import ScriptedRoles, seed_streams

GOLDEN = Path(__file__).with_name("trajectories.json")
_CREATOR = {"num_sessions": 4, "horizon": 60}
# name -> (preset, env overrides, slate policy, provider behaviour, episodes)
CASES: dict[str, tuple[str, dict[str, Any], str, str, int]] = {
    **{f"{catalog}/{state}/{policy}": ("creator_economy",
                                       {**_CREATOR, "catalog": catalog, "user_state": state},
                                       policy, "follow_the_trend", 2)
       for catalog in ("movielens-100k", "synthetic") for state in ("item_mean", "text")
       for policy in ("greedy_by_appeal", "random")},
    "recsim": ("recsim_interest_evolution", {"num_items": 300, "num_users": 50},
               "greedy_by_appeal", "static", 3),
    "synthetic/intent/greedy_by_similarity": (
        "interest_evolution", {"num_sessions": 4, "horizon": 50, "intent": "on",
                               "user_state": "text"}, "greedy_by_similarity", "static", 2),
    "movielens-100k/cold_start/most_diverse": (
        "creator_economy", {**_CREATOR, "catalog": "movielens-100k",
                            "cold_start": {"user_share": 0.3, "item_share": 0.2,
                                           "include_cold": True},
                            "item_attributes": True}, "most_diverse", "follow_the_trend", 1),
    "synthetic/privacy/popularity": (
        "creator_economy", {**_CREATOR, "catalog": "synthetic", "privacy_epsilon": 2.0,
                            "objective": {"engagement": 1, "exposure_fairness": 1,
                                          "novelty": 0.5, "diversity": 0.5}},
        "popularity", "follow_the_trend", 1),
    "synthetic/full_width/greedy_by_similarity": (
        "interest_evolution", {"num_sessions": 4, "horizon": 50, "observation_dim": 0,
                               "retrieval_dim": 0}, "greedy_by_similarity", "static", 1),
    "full_ecosystem/greedy_by_quality": (
        "full_ecosystem", {"num_sessions": 4, "horizon": 40}, "greedy_by_quality",
        "follow_the_trend", 1),
}


def _update(digest: Any, value: Any) -> None:
    """Feeds ``value`` (arrays, dicts of them, numbers) into ``digest`` with its shape and
    dtype, dict keys in sorted order."""
    if isinstance(value, dict):
        for key in sorted(value):
            digest.update(key.encode())
            _update(digest, value[key])
        return
    array = np.ascontiguousarray(value)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())


def record(case: str) -> dict[str, Any]:
    """Plays ``case``: its returns, engagement, exposure Gini and trajectory digest."""
    preset, overrides, slate_policy, provider, episodes = CASES[case]
    env = envs.make_env(preset, **overrides)
    actors = ScriptedRoles(env, envs.scripted_behaviours(env, slate_policy, provider))
    reset_seeds, rng = seed_streams(3, episodes)
    digest = hashlib.sha256()
    out: dict[str, list] = {"role_returns": [], "engagement_total": [],
                            "provider_exposure_gini": []}
    for seed in reset_seeds:
        observations, _ = env.reset(seed=seed)
        _update(digest, {a: o for a, o in observations.items() if a.startswith("slate")})
        returns = dict.fromkeys(envs.ROLES, 0.0)
        while env.agents:
            obs = env.role_observations()
            actions = [actors.act(role, obs[role], rng) for role in envs.ROLES]
            rewards, ended, leaving = env.step_arrays(*actions)
            _update(digest, {"obs": obs, "actions": dict(zip(envs.ROLES, actions, strict=True)),
                             "rewards": rewards, "ended": ended, "leaving": leaving})
            for role in envs.ROLES:
                returns[role] += float(rewards[role].sum())
        metrics = env.episode_metrics()
        _update(digest, {k: np.float64(v) for k, v in metrics.items()})
        out["role_returns"].append(returns)
        out["engagement_total"].append(metrics["engagement_total"])
        out["provider_exposure_gini"].append(metrics["provider_exposure_gini"])
    out["sha256"] = digest.hexdigest()
    return out


def record_all() -> dict[str, dict[str, Any]]:
    return {case: record(case) for case in sorted(CASES)}


if __name__ == "__main__":
    records = record_all()
    if sys.argv[1:] == ["--write"]:
        GOLDEN.write_text(json.dumps({"cases": records}, indent=1, sort_keys=True) + "\n")
    else:
        print(json.dumps(records, sort_keys=True))
