"""The RLlib env wrapper: scripted roles act inside it exactly as in ``envs.rollout``, only
the learned agents reach RLlib, and every trial, env runner and sub-env draws its own
scripted randomness."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import envs  # noqa: E402
from marlrec.training.rllib_env import EcosystemMultiAgentEnv, runner_seed  # noqa: E402

TINY = {"num_sessions": 3, "num_candidates": 5, "slate_size": 2, "horizon": 25,
        "user_state": "item_mean", "num_items": 80, "num_providers": 4, "num_users": 60}


def wrapper(preset: str = "interest_evolution", **scripted: str) -> EcosystemMultiAgentEnv:
    return EcosystemMultiAgentEnv({"preset": preset, "overrides": TINY,
                                   "scripted": scripted or {"user": "choice_model",
                                                            "provider": "static"}})


def play(env: EcosystemMultiAgentEnv, slate: envs.GreedyByAppeal, episodes: int, seed: int
         ) -> list[dict[str, float]]:
    """Episodes of ``env`` whose learned slate agents act as ``slate`` does."""
    metrics = []
    env.reset(seed=seed)
    for _ in range(episodes):
        while True:
            batch = env.ecosystem.role_observations()["slate_policy"]
            chosen = slate.act_batch(batch, np.random.default_rng(0))
            actions = {a: chosen[int(a.rsplit("_", 1)[1])] for a in env.agents}
            _, _, terminated, truncated, infos = env.step(actions)
            if terminated["__all__"] or truncated["__all__"]:
                metrics.append(infos["slate_policy_0"]["episode_metrics"])
                env.reset()
                break
    return metrics


def test_only_learned_agents_reach_rllib_with_flat_observations_in_their_spaces():
    env = wrapper()
    assert env.possible_agents == ["slate_policy_0", "slate_policy_1", "slate_policy_2"]
    obs, _ = env.reset(seed=0)
    assert set(obs) == set(env.agents) == set(env.possible_agents)
    for agent, o in obs.items():
        assert o.dtype == np.float32 and o.ndim == 1
        assert env.observation_spaces[agent].contains(o)
    with pytest.raises(ValueError, match=r"missing \['slate_policy_2'\]"):
        env.step({"slate_policy_0": np.array([0, 1]), "slate_policy_1": np.array([0, 1])})
    with pytest.raises(ValueError, match=r"invalid action .* for agent 'slate_policy_0'"):
        env.step({a: np.array([0.5, 1.0]) for a in env.agents})
    with pytest.raises(ValueError, match="slate_policy"):  # out of range: the env names it
        env.step({a: np.array([0, 7]) for a in env.agents})


def test_scripted_roles_inside_the_env_act_exactly_as_rollout_does_for_the_same_seed():
    env = wrapper()
    slate = envs.GreedyByAppeal(TINY["slate_size"])
    inside = play(env, slate, episodes=2, seed=7)
    reference = envs.make_env("interest_evolution", **TINY)
    behaviours = {**envs.scripted_behaviours(reference), "slate_policy": slate}
    rolled = envs.rollout(reference, behaviours, episodes=2, seed=7).episode_metrics
    assert inside == rolled
    assert play(wrapper(), slate, episodes=2, seed=8) != inside  # the seed matters


def test_learned_providers_terminate_when_they_leave_and_scripted_users_stay_hidden():
    env = EcosystemMultiAgentEnv({"preset": "creator_economy", "overrides": {
        **TINY, "horizon": 120, "provider_model": {"patience": 10, "leave_threshold": 0.9}},
        "scripted": {"user": "choice_model"}})
    env.reset(seed=0)
    left = set()
    for _ in range(120):
        actions = {a: env.action_spaces[a].sample() for a in env._acting}
        obs, rewards, terminated, truncated, _ = env.step(actions)
        assert set(obs) == set(rewards) == set(actions)
        left |= {a for a, done in terminated.items() if done and a != "__all__"}
        if truncated["__all__"]:
            break
    assert left and all(a.startswith("provider_") for a in left)
    assert not any(a.startswith("user_") for a in env.possible_agents)


def test_runner_seeds_differ_per_trial_and_runner_where_rllibs_would_collide():
    # RLlib's own scheme, trial seed + runner index (+ sub-env index), gives trial 0's
    # runner 1 the seed of trial 1's runner 0
    seeds = {(trial, runner): runner_seed(trial, runner)
             for trial in range(5) for runner in range(4)}
    assert len(set(seeds.values())) == len(seeds)
    starts = sorted(seeds.values())  # sub-envs take seed + i for i < 64: no overlap either
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) > 64


def test_two_trials_get_different_scripted_randomness():
    from marlrec.config.spec import parse_spec
    from marlrec.training.rllib_config import build_algorithm_config

    spec = parse_spec({"name": "t", "env": {"preset": "interest_evolution", "params": TINY},
                       "resources": {"num_env_runners": 0, "num_envs_per_env_runner": 2},
                       "training": {"train_batch_size_per_learner": 100, "minibatch_size": 50},
                       "logging": {"wandb_mode": "disabled"}})
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        seeds, choices = [], []
        for trial_seed in (0, 1):
            algo = build_algorithm_config(spec, "PPO", "per_role", trial_seed).build_algo()
            try:
                runner = algo.env_runner
                runner.sample(num_timesteps=20, random_actions=True)
                for sub in runner.env.envs:
                    seeds.append(sub.unwrapped.seeded_with)
                    choices.append(sub.unwrapped._rng.random())
            finally:
                algo.stop()
    finally:
        ray.shutdown()
    assert None not in seeds and len(set(seeds)) == 4
    assert len(set(choices)) == 4  # the scripted generators are in different states
