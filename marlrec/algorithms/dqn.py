"""DQN (Mnih et al. 2015, with RLlib's double-Q and dueling options): value-based, for
Discrete actions only (users and providers; a slate is MultiDiscrete), RLlib's default
Q-network. Multi-agent training needs the multi-agent episode replay buffer.

Its greedy action is the argmax of the Q-values: RLlib's DQN module returns actions, not
logits, from ``forward_inference``.
"""

from __future__ import annotations

from typing import Any

from marlrec.algorithms.algorithm import ALGORITHM_CONFIG_TRAINING_KEYS, Algorithm


def argmax_q_values(module: Any, flat: Any) -> Any:
    """Greedy action of a Q-module (RLlib's DQN module): the action of highest Q-value."""
    import numpy as np
    import torch
    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS
    from ray.rllib.core.columns import Columns

    from marlrec.algorithms.greedy_action import inference_mode

    inference_mode(module)
    with torch.no_grad():
        q_values = module.compute_q_values({Columns.OBS: flat})[QF_PREDS]
    return q_values.argmax(dim=-1).numpy().astype(np.int64)


Q_LEARNING_TRAINING_KEYS = ALGORITHM_CONFIG_TRAINING_KEYS | {
    "target_network_update_freq", "replay_buffer_config", "store_buffer_in_checkpoints",
    "epsilon", "adam_epsilon", "num_steps_sampled_before_learning_starts", "tau", "n_step",
    "training_intensity", "td_error_loss_fn"}
"""RLlib's DQN ``training()`` keys that any Q-learner on its loop reads (SlateQ's); DQN adds
its Rainbow options."""

DQN = Algorithm(
    name="DQN",
    description="deep Q-learning (Discrete actions: users, providers)",
    config="ray.rllib.algorithms.dqn:DQNConfig",
    torch_learner="ray.rllib.algorithms.dqn.torch.dqn_torch_learner:DQNTorchLearner",
    discrete_actions=True, multi_discrete_actions=False, continuous_actions=False,
    on_policy=False,
    training_keys=Q_LEARNING_TRAINING_KEYS | {
        "lr_schedule", "num_atoms", "v_min", "v_max", "noisy", "sigma0", "dueling", "hiddens",
        "double_q", "before_learn_on_batch", "categorical_distribution_temperature",
        "burn_in_len"},
    training_defaults={"replay_buffer_config": {"type": "MultiAgentEpisodeReplayBuffer",
                                                "capacity": 50_000}},
    greedy="marlrec.algorithms.dqn:argmax_q_values",
)
