"""From an experiment spec to an RLlib ``AlgorithmConfig``: sharing modes, scripted roles,
algorithm capabilities.

Sharing modes map agents to RLlib modules (``policy_mapping_fn``):

| mode | learned agents |
|---|---|
| ``independent`` | one module per agent (module id = agent id) |
| ``per_role`` | one module per role (the usual parameter sharing) |
| ``shared`` | one module per distinct (observation, action) space pair |
| ``consensus`` | one module per agent, pulled toward its role's mean |
|  | (soft sharing, :mod:`marlrec.algorithms.consensus`) |

In this ecosystem every role has its own spaces, so ``shared`` gives one module per
learned role, like ``per_role``; it differs once roles share spaces.

Learned modules: PPO, MAPPO, APPO and IMPALA use marlrec's
:class:`marlrec.algorithms.actor_critic.EcosystemActorCritic` (candidate-scoring slate actor by
default, so algorithms are compared with the same model; MAPPO adds the centralised critic
on the env's global state); DQN uses RLlib's default Q-network (``model.slate_actor: mlp``
only).

Scripted roles act inside the env (:class:`marlrec.training.rllib_env.EcosystemMultiAgentEnv`, the
batched behaviour code of ``envs.rollout``): RLlib sees, maps and trains only the learned
agents. Each env runner is an :class:`marlrec.training.rllib_env.EcosystemEnvRunner`, whose
sub-envs'
seeds (and so the scripted roles' randomness) differ per trial, runner and sub-env.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.appo import APPOConfig
from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.algorithms.impala import IMPALAConfig
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

import envs
from marlrec.algorithms.actor_critic import actor_critic_spec
from marlrec.algorithms.consensus import CONSENSUS_LEARNERS, STRENGTH_KEY
from marlrec.config.spec import SHARING_MODES, ExperimentSpec
from marlrec.encoder.rllib import EncoderMetricsEnvRunner, encoder_pool_callback
from marlrec.evaluation.learned_behaviour import (
    GreedyAction,
    argmax_q_values,
    mode_of_action_distribution,
)
from marlrec.training.connectors import env_to_module_connectors
from marlrec.training.episode_metrics import EcosystemMetricsCallback
from marlrec.training.rllib_env import EcosystemEnvRunner, EcosystemMultiAgentEnv


@dataclass(frozen=True)
class AlgorithmInfo:
    """An algorithm and what it supports (checked before anything runs), plus the
    training settings it needs in this multi-agent setting (``spec.training`` may
    override them)."""

    config_class: type[AlgorithmConfig]
    discrete_actions: bool
    multi_discrete_actions: bool
    continuous_actions: bool
    sharing_modes: tuple[str, ...]
    slate_actors: tuple[str, ...] = ("mlp",)  # the first is the default
    centralised_critic: bool = False  # the critic sees env.state() (MAPPO)
    training_defaults: dict[str, Any] = field(default_factory=dict)
    # how evaluation takes the module's greedy action (marlrec.evaluation.learned_behaviour)
    greedy_action: GreedyAction = mode_of_action_distribution

    @property
    def marlrec_module(self) -> bool:
        """Learned roles use :class:`EcosystemActorCritic` (else RLlib's default module)."""
        return "candidate_scoring" in self.slate_actors

    def supports(self, action_kind: str) -> bool:
        return getattr(self, f"{action_kind}_actions")


def unsupported_roles(algorithm: str, learned_roles: list[str]) -> list[str]:
    """Learned roles whose action space ``algorithm`` cannot learn."""
    info = ALGORITHMS[algorithm]
    return [r for r in learned_roles if not info.supports(envs.ROLE_ACTION_KINDS[r])]


ALGORITHMS: dict[str, AlgorithmInfo] = {
    "PPO": AlgorithmInfo(PPOConfig, discrete_actions=True, multi_discrete_actions=True,
                         continuous_actions=True, sharing_modes=SHARING_MODES,
                         slate_actors=("candidate_scoring", "mlp")),
    # PPO with a centralised critic on the global state (Yu et al. 2022).
    "MAPPO": AlgorithmInfo(PPOConfig, discrete_actions=True, multi_discrete_actions=True,
                           continuous_actions=True, sharing_modes=SHARING_MODES,
                           slate_actors=("candidate_scoring", "mlp"), centralised_critic=True),
    "APPO": AlgorithmInfo(APPOConfig, discrete_actions=True, multi_discrete_actions=True,
                          continuous_actions=True, sharing_modes=SHARING_MODES,
                          slate_actors=("candidate_scoring", "mlp")),
    "IMPALA": AlgorithmInfo(IMPALAConfig, discrete_actions=True, multi_discrete_actions=True,
                            continuous_actions=True, sharing_modes=SHARING_MODES,
                            slate_actors=("candidate_scoring", "mlp")),
    # Value-based: Discrete actions only (users, providers); multi-agent needs the
    # multi-agent episode replay buffer.
    "DQN": AlgorithmInfo(DQNConfig, discrete_actions=True, multi_discrete_actions=False,
                         continuous_actions=False, sharing_modes=SHARING_MODES,
                         training_defaults={"replay_buffer_config": {
                             "type": "MultiAgentEpisodeReplayBuffer", "capacity": 50_000}},
                         greedy_action=argmax_q_values),
}


class AgentToModule:
    """A picklable ``policy_mapping_fn``: a fixed agent id -> module id table."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = dict(table)

    def __call__(self, agent_id: str, episode: Any = None, **kwargs: Any) -> str:
        return self.table[agent_id]


def module_table(env: envs.RecEcosystemEnv, learned_roles: list[str], sharing: str
                 ) -> dict[str, str]:
    """Learned agent id -> module id for a sharing mode (see the module docstring)."""
    if sharing not in SHARING_MODES:
        raise ValueError(f"sharing={sharing!r} is not one of {list(SHARING_MODES)}")
    table: dict[str, str] = {}
    groups: list[tuple[Any, Any]] = []
    for agent in env.possible_agents:
        role = env.role_of(agent)
        if role not in learned_roles:
            continue
        if sharing == "per_role":
            table[agent] = role
        elif sharing in ("independent", "consensus"):
            table[agent] = agent
        else:  # shared: one module per distinct (observation space, action space)
            key = (env.observation_space(agent), env.action_space(agent))
            if key not in groups:
                groups.append(key)
            table[agent] = f"shared_{groups.index(key)}"
    return table


def learned_module_spec(info: AlgorithmInfo, spec: ExperimentSpec, own_space: Any,
                        state_dim: int) -> RLModuleSpec:
    """The module of a learned role: marlrec's actor-critic or RLlib's default MLP."""
    model = spec.model
    if not info.marlrec_module:
        return RLModuleSpec(model_config={"fcnet_hiddens": list(model.fcnet_hiddens),
                                          "fcnet_activation": model.fcnet_activation})
    return actor_critic_spec(own_space, state_dim if info.centralised_critic else 0, {
        "slate_actor": model.slate_actor or info.slate_actors[0],
        "fcnet_hiddens": list(model.fcnet_hiddens),
        "fcnet_activation": model.fcnet_activation,
        "scorer_hiddens": list(model.scorer_hiddens),
        "id_embedding_dim": model.id_embedding_dim})


def build_algorithm_config(spec: ExperimentSpec, algorithm: str, sharing: str, seed: int,
                           encoder: Any = None) -> AlgorithmConfig:
    """The RLlib config of one trial (``algorithm`` x ``sharing`` x ``seed``)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm {algorithm!r} is not one of {sorted(ALGORITHMS)}")
    info = ALGORITHMS[algorithm]
    if sharing not in info.sharing_modes:
        raise ValueError(f"{algorithm} does not support sharing={sharing!r}; it supports "
                         f"{list(info.sharing_modes)}")
    refused = unsupported_roles(algorithm, spec.learned_roles)
    if refused:
        raise ValueError(f"{algorithm} cannot learn role(s) {refused}: their actions are "
                         f"{[envs.ROLE_ACTION_KINDS[r] for r in refused]}; script them or "
                         "choose another algorithm")
    learned = spec.learned_roles
    env_config = {"preset": spec.env.preset, "overrides": dict(spec.env.params),
                  "encoder": encoder if encoder is not None else spec.env.encoder,
                  "scripted": {role: spec.roles[role].behaviour for role in envs.ROLES
                               if role not in learned},
                  "centralised_critic": info.centralised_critic}
    env = EcosystemMultiAgentEnv(env_config).ecosystem  # spaces and agents only
    state_dim = int(env.state_space.shape[0])
    table = module_table(env, learned, sharing)
    specs: dict[str, RLModuleSpec] = {}
    for agent, module in table.items():
        if module not in specs:
            specs[module] = learned_module_spec(info, spec, env.observation_space(agent),
                                                state_dim)
    resources = spec.resources
    callbacks: list[type] = [EcosystemMetricsCallback]
    runner_cls: type = EcosystemEnvRunner
    if spec.encoder_pool is not None:  # encoder-wait figures per runner, pool figures
        callbacks.append(encoder_pool_callback(spec.encoder_pool))
        runner_cls = EncoderMetricsEnvRunner
    learner: dict[str, Any] = {}
    if sharing == "consensus":
        learner = {"learner_class": CONSENSUS_LEARNERS[algorithm],
                   "learner_config_dict": {STRENGTH_KEY: spec.consensus_strength}}
    return (
        info.config_class()
        .environment(EcosystemMultiAgentEnv, env_config=env_config)
        .env_runners(num_env_runners=resources.num_env_runners,
                     num_envs_per_env_runner=resources.num_envs_per_env_runner,
                     env_to_module_connector=env_to_module_connectors(),
                     custom_resources_per_env_runner=dict(resources.env_runner_resources),
                     env_runner_cls=runner_cls)
        .learners(num_learners=resources.num_learners,
                  num_gpus_per_learner=resources.num_gpus_per_learner, **learner)
        .multi_agent(policies=list(specs), policy_mapping_fn=AgentToModule(table),
                     policies_to_train=sorted(specs))
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        .training(**{**info.training_defaults, **spec.training})
        .callbacks(callbacks)
        .debugging(seed=seed)
    )
