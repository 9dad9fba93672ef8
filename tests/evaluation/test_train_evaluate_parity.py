"""A policy is evaluated on the observations it was trained on, through the same encoder,
and every algorithm has a greedy action that evaluation can take."""

from __future__ import annotations

import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import envs  # noqa: E402
from envs.observation import flatten_batch  # noqa: E402
from marlrec.encoder.rllib import EncodeUserStateTexts  # noqa: E402
from marlrec.evaluation.learned_behaviour import LearnedBehaviour  # noqa: E402
from marlrec.training.rllib_env import EcosystemMultiAgentEnv  # noqa: E402

TINY = {"num_sessions": 3, "num_candidates": 5, "slate_size": 2, "horizon": 25,
        "user_state": "text_deferred", "num_items": 80, "num_providers": 4, "num_users": 60}


def connector_observations(env: EcosystemMultiAgentEnv, obs: dict, infos: dict
                           ) -> dict[str, np.ndarray]:
    """The slate agents' observations as training stores them: the env's, then the
    env-to-module connector's encoded state texts."""
    from ray.rllib.env.multi_agent_episode import MultiAgentEpisode

    episode = MultiAgentEpisode(observation_space=env.observation_spaces,
                                action_space=env.action_spaces)
    episode.add_env_reset(observations=obs, infos=infos)
    EncodeUserStateTexts(ecosystem=env.ecosystem)(rl_module=None, batch={}, episodes=[episode])
    return {a: np.asarray(episode.agent_episodes[a].get_observations(-1))
            for a in env.possible_agents}


def test_text_deferred_evaluation_sees_the_observations_training_sees():
    env = EcosystemMultiAgentEnv({"preset": "interest_evolution", "overrides": TINY,
                                  "scripted": {"user": "choice_model", "provider": "static"}})
    eco = env.ecosystem
    differs = []
    for step in range(6):  # at reset and after steps whose clicks change the histories
        if step == 0:
            obs, infos = env.reset(seed=5)
        else:
            actions = {a: np.array([0, 1]) for a in env.agents}
            obs, _, _, _, infos = env.step(actions)
        trained_on = connector_observations(env, obs, infos)
        batch = eco.role_observations()["slate_policy"]
        space = eco.observation_space("slate_policy_0")
        behaviour = LearnedBehaviour(None, space)
        rows = np.arange(eco.config.num_sessions)
        evaluated_on = behaviour.flat_observations(batch, eco, rows)
        item_mean = flatten_batch(batch, space)
        for j in rows:
            np.testing.assert_allclose(evaluated_on[j], trained_on[f"slate_policy_{j}"],
                                       atol=1e-6)
        differs.append(not np.allclose(evaluated_on, item_mean, atol=1e-4))
        # a subset of slots (as a behaviour for some agents only) gets the same rows
        part = behaviour.flat_observations({k: v[[2, 0]] for k, v in batch.items()}, eco,
                                           np.array([2, 0]))
        np.testing.assert_allclose(part, evaluated_on[[2, 0]], atol=1e-6)
    # once histories grow, the encoded text (profile + titles) is not the item-mean state
    # the env itself observes (at reset, with no history, both are the profile's)
    assert any(differs), differs


def test_evaluation_env_uses_the_encoder_object_training_used():
    from marlrec.config.spec import parse_spec
    from marlrec.evaluation.protocol import evaluation_env

    class CountingEncoder:
        """A real lexical encoder that counts its calls (to see which object is used)."""

        def __init__(self) -> None:
            from envs.encoding import HashingTextEncoder

            self.inner, self.calls = HashingTextEncoder(), 0

        def __call__(self, texts):
            self.calls += 1
            return self.inner(texts)

    spec = parse_spec({"name": "t", "env": {"preset": "interest_evolution", "params": {
        k: v for k, v in TINY.items()}}})
    encoder = CountingEncoder()
    env = evaluation_env(spec, encoder)
    assert env.encoder is encoder
    env.reset(seed=0)
    LearnedBehaviour(None, env.observation_space("slate_policy_0")).flat_observations(
        env.role_observations()["slate_policy"], env, np.arange(env.config.num_sessions))
    assert encoder.calls > 0


def test_greedy_action_of_every_algorithm_is_the_modules_best_action():
    """PPO-family modules: the mode of the action distribution; DQN: the argmax of its
    Q-values (its forward_inference returns no logits). On the providers' Discrete
    actions, so every algorithm that learns them (SlateQ's slates:
    tests/algorithms/test_slateq.py)."""
    import torch
    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS

    from marlrec.algorithms import ALGORITHMS
    from marlrec.config.spec import parse_spec
    from marlrec.training.rllib_config import build_algorithm_config

    spec = parse_spec({
        "name": "t", "env": {"preset": "creator_economy", "params": {
            **TINY, "user_state": "item_mean"}},
        "roles": {"slate_policy": {"learned": False}, "provider": {"learned": True}},
        "algorithms": [n for n, a in ALGORITHMS.items() if a.discrete_actions]})
    eco = envs.make_env("creator_economy", **{**TINY, "user_state": "item_mean"})
    eco.reset(seed=1)
    obs = eco.role_observations()["provider"]
    space = eco.observation_space("provider_0")
    flat = torch.from_numpy(flatten_batch(obs, space))
    for name in spec.algorithms:
        info = ALGORITHMS[name]
        config = build_algorithm_config(spec, name, "per_role", seed=0)
        module = config.get_multi_rl_module_spec(
            env=EcosystemMultiAgentEnv(config.env_config)).build()["provider"]
        actions = LearnedBehaviour(module, space, name, info.greedy_action()).act_with_env(
            eco, np.arange(len(flat)), obs, np.random.default_rng(0))
        module.eval()
        with torch.no_grad():
            if name == "DQN":
                best = module.compute_q_values({"obs": flat})[QF_PREDS].argmax(-1)
            else:
                best = module.forward_inference({"obs": flat})["action_dist_inputs"].argmax(-1)
        np.testing.assert_array_equal(actions, best.numpy())


def test_evaluations_reach_the_pool_that_served_training():
    """``marlrec run`` keeps its pool for the report; ``marlrec report`` alone starts the
    spec's pool again: evaluation envs get a client of that pool, never a second model."""
    from marlrec.config.spec import parse_spec
    from marlrec.encoder.pool import EncoderClient, EncoderPoolConfig, connect, running_pool
    from marlrec.evaluation.protocol import experiment_encoder

    config = {"num_cpus": 0, "torch_threads": 1, "name": "parity-pool"}
    spec = parse_spec({"name": "t", "env": {"preset": "interest_evolution", "encoder": "minilm",
                                            "params": TINY}, "encoder_pool": config})
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(RuntimeError, match="no encoder pool 'parity-pool' is running"):
            connect(spec.encoder_pool)
        with running_pool(spec.encoder_pool) as client:  # none runs: started here
            assert isinstance(client, EncoderClient)
            with running_pool(spec.encoder_pool) as again:  # running: reused, not stopped
                assert again.config == client.config
            found = experiment_encoder(spec)
            assert isinstance(found, EncoderClient)
            np.testing.assert_array_equal(found(["a viewer"]), client(["a viewer"]))
        while True:  # stopped on exit (Ray forgets a killed actor's name soon after)
            try:
                connect(EncoderPoolConfig(**config))
            except RuntimeError as e:
                assert "no encoder pool" in str(e)
                break
            time.sleep(0.1)
    finally:
        ray.shutdown()
