"""From an experiment spec to the RLlib ``AlgorithmConfig`` of one trial.

The algorithm comes from the registry (:data:`marlrec.algorithms.ALGORITHMS`: its RLlib
config class, capabilities, training defaults and, under ``sharing: consensus``, its
consensus learner); agents map to modules by the sharing mode
(:func:`marlrec.training.sharing.module_table`).

Learned modules: algorithms whose ``slate_actors`` offer ``candidate_scoring`` (PPO, MAPPO,
APPO, IMPALA) use marlrec's :class:`marlrec.algorithms.actor_critic.EcosystemActorCritic`
(candidate-scoring slate actor by default, so algorithms are compared with the same model;
a ``centralised_critic`` algorithm's critic reads the env's global state); an algorithm with
its own ``module`` (SlateQ) builds that; the others (DQN) use RLlib's default module
(``model.slate_actor: mlp`` only).

Scripted roles act inside the env (:class:`marlrec.training.rllib_env.EcosystemMultiAgentEnv`,
the batched behaviour code of ``envs.rollout``): RLlib sees, maps and trains only the learned
agents. Each env runner is an :class:`marlrec.training.rllib_env.EcosystemEnvRunner`, whose
sub-envs' seeds (and so the scripted roles' randomness) differ per trial, runner and sub-env.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

import envs
from marlrec.algorithms import ALGORITHMS, Algorithm
from marlrec.algorithms.actor_critic import actor_critic_spec
from marlrec.algorithms.consensus import STRENGTH_KEY, consensus_learner
from marlrec.config.spec import ExperimentSpec, training_of
from marlrec.encoder.rllib import EncoderMetricsEnvRunner, encoder_pool_callback
from marlrec.evaluation.protocol import env_encoders
from marlrec.training.connectors import env_to_module_connectors
from marlrec.training.episode_metrics import EcosystemMetricsCallback
from marlrec.training.rllib_env import EcosystemEnvRunner, EcosystemMultiAgentEnv
from marlrec.training.sharing import AgentToModule, module_table


def learned_module_spec(info: Algorithm, spec: ExperimentSpec, own_space: Any,
                        state_dim: int) -> RLModuleSpec:
    """The module of a learned role: marlrec's actor-critic or RLlib's default MLP."""
    model = spec.model
    if info.module is not None:
        return info.module_spec(own_space, state_dim if info.centralised_critic else 0, {
            "fcnet_hiddens": list(model.fcnet_hiddens),
            "fcnet_activation": model.fcnet_activation,
            "scorer_hiddens": list(model.scorer_hiddens),
            "id_embedding_dim": model.id_embedding_dim})
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
    refused = info.refused_roles(spec.learned_roles)
    if refused:
        raise ValueError(f"{algorithm} cannot learn role(s) {refused}: their actions are "
                         f"{[envs.ROLE_ACTION_KINDS[r] for r in refused]}; script them or "
                         "choose another algorithm")
    learned = spec.learned_roles
    env_config = {"preset": spec.env.preset, "overrides": dict(spec.env.params),
                  **env_encoders(spec, encoder),
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
        learner = {"learner_class": consensus_learner(info),
                   "learner_config_dict": {STRENGTH_KEY: spec.consensus_strength}}
    return (
        info.config_class()()
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
        .training(**{**info.training_defaults, **training_of(spec, algorithm)})
        .callbacks(callbacks)
        .debugging(seed=seed)
    )
