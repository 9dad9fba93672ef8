"""Scripted behaviours as non-trained RLlib modules, in a real PPO run on the ecosystem."""

from __future__ import annotations

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

import envs  # noqa: E402
from marlrec.connectors import env_to_module_connectors  # noqa: E402
from marlrec.scripted_modules import scripted_module_spec  # noqa: E402

OVERRIDES = {"num_sessions": 2, "num_candidates": 4, "horizon": 20, "user_state": "item_mean",
             "num_items": 60, "num_providers": 3, "num_users": 50}


def test_scripted_module_acts_like_its_behaviour():
    env = envs.make_env("interest_evolution", **OVERRIDES)
    env.reset(seed=0)
    user = envs.ChoiceModelUser(env.config.user_model)
    module = scripted_module_spec(user, env.observation_space("user_0"),
                                  env.action_space("user_0"), seed=7).build()
    obs = env.role_observations()["user"]
    batch = {"obs": {k: torch.from_numpy(v) for k, v in obs.items()}}
    actions = module.forward_exploration(batch)["actions"]
    np.testing.assert_array_equal(actions, user.act_batch(obs, np.random.default_rng(7)))
    with pytest.raises(RuntimeError, match="not trainable"):
        module.forward_train(batch)


def test_ppo_trains_the_slate_policy_against_scripted_users_and_providers():
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from marlrec.rllib_env import EcosystemMultiAgentEnv

    env = EcosystemMultiAgentEnv({"preset": "interest_evolution", "overrides": OVERRIDES})
    eco = env.ecosystem
    slate_agents = [a for a in env.possible_agents if a.startswith("slate_policy_")]
    specs = {
        "slate_policy": RLModuleSpec(),
        "user": scripted_module_spec(envs.ChoiceModelUser(eco.config.user_model),
                                     eco.observation_space("user_0"), eco.action_space("user_0")),
        "provider": scripted_module_spec(envs.StaticProvider(),
                                         eco.observation_space("provider_0"),
                                         eco.action_space("provider_0")),
    }
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        config = (
            PPOConfig()
            .environment(EcosystemMultiAgentEnv,
                         env_config={"preset": "interest_evolution", "overrides": OVERRIDES})
            .env_runners(num_env_runners=1,
                         env_to_module_connector=env_to_module_connectors(slate_agents))
            .multi_agent(policies=set(specs),
                         policy_mapping_fn=lambda agent, episode, **kw: agent.rsplit("_", 1)[0],
                         policies_to_train=["slate_policy"])
            .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
            .training(train_batch_size_per_learner=200, minibatch_size=100, num_epochs=1)
        )
        algo = config.build_algo()
        try:
            result = algo.train()
        finally:
            algo.stop()
    finally:
        ray.shutdown()
    learners = result["learners"]
    assert "policy_loss" in learners["slate_policy"]
    for scripted in ("user", "provider"):  # only schedule bookkeeping, no update
        assert "policy_loss" not in learners.get(scripted, {})
    returns = result["env_runners"]["module_episode_returns_mean"]
    assert set(returns) >= {"slate_policy", "user", "provider"}
