"""marlrec's actor-critic module: the env's flat observations laid out as RLlib's flattener
would, the candidate-scoring slate actor, MAPPO's centralised critic on the global state."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("ray")

from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.utils.numpy import flatten_inputs_to_1d_tensor  # noqa: E402
from ray.rllib.utils.spaces.space_utils import get_base_struct_from_space  # noqa: E402

from envs.observation import flat_layout, flatten_batch  # noqa: E402
from marlrec.algorithms.actor_critic import EcosystemActorCritic, actor_critic_spec  # noqa: E402
from marlrec.evaluation.learned_behaviour import LearnedBehaviour  # noqa: E402
from marlrec.training.rllib_env import EcosystemMultiAgentEnv  # noqa: E402

TINY = {"num_sessions": 3, "num_candidates": 5, "slate_size": 2, "horizon": 20,
        "user_state": "item_mean", "num_items": 60, "num_providers": 3, "num_users": 50}


def mappo_env() -> EcosystemMultiAgentEnv:
    return EcosystemMultiAgentEnv({"preset": "creator_economy", "overrides": TINY,
                                   "scripted": {"user": "choice_model"},
                                   "centralised_critic": True})


def own_observation(env: EcosystemMultiAgentEnv, agent: str) -> dict[str, np.ndarray]:
    """The ecosystem's Dict observation of one learned agent now."""
    role = env.ecosystem.role_of(agent)
    row = int(agent.rsplit("_", 1)[1])
    batch = env.ecosystem.role_observations()[role]
    return {k: v[row] for k, v in batch.items()} if isinstance(batch, dict) else batch[row]


def flatten(obs, space) -> np.ndarray:
    """RLlib's own flattening (``FlattenObservations``) of one observation: the reference
    that the env's flat observations must match."""
    batch = {k: np.asarray(v)[None] for k, v in obs.items()} if isinstance(obs, dict) else \
        np.asarray(obs)[None]
    return np.asarray(flatten_inputs_to_1d_tensor(
        batch, spaces_struct=get_base_struct_from_space(space), batch_axis=True), np.float32)


def build(env: EcosystemMultiAgentEnv, agent: str, **model) -> EcosystemActorCritic:
    own = env.ecosystem.observation_space(agent)
    state_dim = env.ecosystem.state_space.shape[0] if env.centralised_critic else 0
    spec = actor_critic_spec(own, state_dim, model)
    spec.observation_space = env.observation_spaces[agent]
    spec.action_space = env.action_spaces[agent]
    return spec.build()


def test_learned_agents_observe_flat_own_observation_then_the_env_state():
    env = mappo_env()
    obs, _ = env.reset(seed=3)
    assert not any(a.startswith("user_") for a in env.possible_agents)  # scripted: not seen
    for agent in ("slate_policy_0", "provider_1"):
        space = env.ecosystem.observation_space(agent)
        own_dim = gym.spaces.flatdim(space)
        np.testing.assert_array_equal(obs[agent][:own_dim],
                                      flatten(own_observation(env, agent), space)[0])
        np.testing.assert_array_equal(obs[agent][own_dim:], env.ecosystem.state())
    for agent, o in obs.items():
        assert env.observation_spaces[agent].contains(o), agent
    actions = {a: env.action_spaces[a].sample() for a in env.agents}
    obs, *_ = env.step(actions)
    own_dim = gym.spaces.flatdim(env.ecosystem.observation_space("provider_1"))
    np.testing.assert_array_equal(obs["provider_1"][own_dim:], env.ecosystem.state())
    with pytest.raises(ValueError, match=r"env_config.scripted: \['users'\] are not roles"):
        EcosystemMultiAgentEnv({"preset": "creator_economy", "overrides": TINY,
                                "scripted": {"users": "choice_model"}})


def test_flat_layout_matches_rllibs_flattening():
    env = mappo_env()
    env.reset(seed=0)
    space = env.ecosystem.observation_space("slate_policy_0")
    own = own_observation(env, "slate_policy_0")
    flat = flatten(own, space)[0]
    np.testing.assert_array_equal(flatten_batch({k: v[None] for k, v in own.items()}, space)[0],
                                  flat)
    for key, where in flat_layout(space).items():
        np.testing.assert_allclose(flat[where], np.ravel(own[key]), rtol=1e-6)


def test_candidate_scoring_actor_is_equivariant_to_candidate_order():
    env = mappo_env()
    module = build(env, "slate_policy_1")
    env.reset(seed=1)
    own = own_observation(env, "slate_policy_1")
    order = np.array([3, 0, 4, 1, 2])
    permuted = {**own, "candidates": own["candidates"][order],
                "candidate_features": own["candidate_features"][order]}
    space = env.ecosystem.observation_space("slate_policy_1")
    with torch.no_grad():
        a = module.forward_inference({Columns.OBS: torch.as_tensor(flatten(own, space))})
        b = module.forward_inference({Columns.OBS: torch.as_tensor(flatten(permuted, space))})
    la = a[Columns.ACTION_DIST_INPUTS].reshape(2, 5)
    lb = b[Columns.ACTION_DIST_INPUTS].reshape(2, 5)
    torch.testing.assert_close(lb, la[:, order])


def test_mappo_critic_reads_the_global_state_and_the_actor_does_not():
    env = mappo_env()
    module = build(env, "slate_policy_0")
    obs, _ = env.reset(seed=2)
    flat = torch.as_tensor(obs["slate_policy_0"][None])
    other = flat.clone()
    other[0, module.own_dim:] += 0.5  # a different global state, the same own observation
    with torch.no_grad():
        logits = [module.forward_train({Columns.OBS: x})[Columns.ACTION_DIST_INPUTS]
                  for x in (flat, other)]
        values = [module.compute_values({Columns.OBS: x}) for x in (flat, other)]
        own_only = module.forward_inference({Columns.OBS: flat[:, :module.own_dim]})
    torch.testing.assert_close(logits[0], logits[1])
    torch.testing.assert_close(own_only[Columns.ACTION_DIST_INPUTS], logits[0])
    assert not torch.allclose(values[0], values[1])
    assert module.global_state_dim == env.ecosystem.state_space.shape[0]


def test_inference_only_module_drops_the_critic_and_loads_the_learners_weights():
    env = mappo_env()
    full = build(env, "slate_policy_0")
    spec = actor_critic_spec(env.ecosystem.observation_space("slate_policy_0"),
                             full.global_state_dim, {})
    spec.observation_space, spec.action_space = full.observation_space, full.action_space
    spec.inference_only = True
    runner_side = spec.build()
    assert not hasattr(runner_side, "critic")
    runner_side.set_state(full.get_state(inference_only=True))
    for key, value in runner_side.get_state().items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(full.get_state()[key]))


def test_learned_behaviour_acts_from_the_own_observation_alone():
    """Evaluation rollouts give the env's own observations: MAPPO needs no global state to
    act."""
    env = mappo_env()
    module = build(env, "slate_policy_0")
    behaviour = LearnedBehaviour(module, env.ecosystem.observation_space("slate_policy_0"))
    env.reset(seed=4)
    batch = env.ecosystem.role_observations()["slate_policy"]
    actions = behaviour.act_batch(batch, np.random.default_rng(0))
    assert actions.shape == (3, 2)
    assert all(env.action_spaces["slate_policy_0"].contains(a) for a in actions)


def test_mlp_actor_and_bad_model_settings():
    env = mappo_env()
    module = build(env, "slate_policy_1", slate_actor="mlp", fcnet_hiddens=[32])
    assert isinstance(module.actor, torch.nn.Sequential)
    with pytest.raises(ValueError, match=r"slate_actor='pointer' is not one of"):
        build(env, "slate_policy_1", slate_actor="pointer")


def test_learned_behaviour_takes_the_mode_of_rllibs_action_distribution():
    env = mappo_env()
    module = build(env, "slate_policy_0")
    behaviour = LearnedBehaviour(module, env.ecosystem.observation_space("slate_policy_0"))
    env.reset(seed=5)
    batch = env.ecosystem.role_observations()["slate_policy"]
    dist = module.get_inference_action_dist_cls().from_logits(
        behaviour.action_dist_inputs(batch))
    np.testing.assert_array_equal(behaviour.act_batch(batch, np.random.default_rng(0)),
                                  dist.to_deterministic().sample().numpy())
