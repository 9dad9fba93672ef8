"""Whatever scripted behaviour a spec accepts for a role runs where training runs it:
inside the RLlib env (privileged baselines such as ``greedy_by_quality`` included, which
read the env rather than an observation)."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import envs  # noqa: E402
from marlrec.config.spec import parse_spec  # noqa: E402
from marlrec.training.rllib_env import EcosystemMultiAgentEnv  # noqa: E402

TINY = {"num_sessions": 3, "num_candidates": 5, "slate_size": 2, "horizon": 12,
        "user_state": "item_mean", "num_items": 80, "num_providers": 4, "num_users": 60}
CASES = [(role, name) for role in envs.ROLES for name in envs.ROLE_BEHAVIOURS[role]]


@pytest.mark.parametrize(("role", "behaviour"), CASES)
def test_every_scripted_behaviour_the_spec_accepts_runs_inside_the_rllib_env(role, behaviour):
    roles = {r: {"learned": r != role} for r in envs.ROLES}
    roles[role]["behaviour"] = behaviour
    spec = parse_spec({"name": "t", "env": {"preset": "full_ecosystem", "params": TINY},
                       "roles": roles, "algorithms": ["PPO"]})  # the spec accepts it
    scripted = {r: spec.roles[r].behaviour for r in envs.ROLES if not spec.roles[r].learned}
    env = EcosystemMultiAgentEnv({"preset": "full_ecosystem", "overrides": TINY,
                                  "scripted": scripted})
    assert not any(env.ecosystem.role_of(a) == role for a in env.possible_agents)
    env.reset(seed=0)
    for _ in range(TINY["horizon"]):
        actions = {a: env.action_spaces[a].sample() for a in env.agents}
        _, _, terminated, truncated, infos = env.step(actions)
        if terminated["__all__"] or truncated["__all__"]:
            break
    metrics = next(iter(infos.values()))["episode_metrics"]
    assert 0 <= metrics["ctr"] <= 1


def test_a_privileged_scripted_slate_policy_plays_the_rollouts_episodes():
    """``greedy_by_quality`` scripted in the RLlib env plays the episodes of
    ``envs.rollout`` with the same seed (it reads the env's hidden quality in both)."""
    overrides = {**TINY, "horizon": 8}
    env = EcosystemMultiAgentEnv({"preset": "creator_economy", "overrides": overrides,
                                  "scripted": {"slate_policy": "greedy_by_quality",
                                               "user": "choice_model"}})
    env.reset(seed=4)
    while True:  # the learned providers never release: as static providers would
        actions = {a: np.int64(0) for a in env.agents}
        _, _, terminated, truncated, infos = env.step(actions)
        if terminated["__all__"] or truncated["__all__"]:
            break
    played = next(iter(infos.values()))["episode_metrics"]
    reference_env = envs.make_env("creator_economy", **overrides)
    reference = envs.rollout(reference_env, {
        "slate_policy": envs.role_behaviour(reference_env, "slate_policy", "greedy_by_quality"),
        "user": envs.role_behaviour(reference_env, "user", "choice_model"),
        "provider": envs.role_behaviour(reference_env, "provider", "static")},
        episodes=1, seed=4).episode_metrics[0]
    assert played == reference
