"""APPO: IMPALA's asynchronous architecture with PPO's clipped surrogate loss and a target
network, RLlib's implementation, with marlrec's candidate-scoring actor-critic."""

from marlrec.algorithms.algorithm import SLATE_ACTORS, Algorithm
from marlrec.algorithms.impala import IMPALA_TRAINING_KEYS

APPO = Algorithm(
    name="APPO",
    description="asynchronous PPO (IMPALA's architecture, PPO's clipped loss)",
    config="ray.rllib.algorithms.appo:APPOConfig",
    torch_learner="ray.rllib.algorithms.appo.torch.appo_torch_learner:APPOTorchLearner",
    discrete_actions=True, multi_discrete_actions=True, continuous_actions=True,
    on_policy=False, slate_actors=SLATE_ACTORS,
    training_keys=IMPALA_TRAINING_KEYS | {
        "use_gae", "lambda_", "clip_param", "use_kl_loss", "kl_coeff", "kl_target",
        "target_network_update_freq", "tau", "target_worker_clipping", "use_circular_buffer",
        "circular_buffer_num_batches", "circular_buffer_iterations_per_batch",
        "simple_queue_size", "target_update_frequency", "use_critic"},
)
