"""IMPALA (Espeholt et al. 2018): asynchronous actor-critic with V-trace off-policy
correction, RLlib's implementation, with marlrec's candidate-scoring actor-critic."""

from marlrec.algorithms.algorithm import ALGORITHM_CONFIG_TRAINING_KEYS, SLATE_ACTORS, Algorithm

IMPALA_TRAINING_KEYS = ALGORITHM_CONFIG_TRAINING_KEYS | {
    "vtrace", "vtrace_clip_rho_threshold", "vtrace_clip_pg_rho_threshold",
    "num_gpu_loader_threads", "num_multi_gpu_tower_stacks", "minibatch_buffer_size",
    "replay_proportion", "replay_buffer_num_slots", "learner_queue_size",
    "learner_queue_timeout", "timeout_s_sampler_manager", "timeout_s_aggregator_manager",
    "broadcast_interval", "opt_type", "lr_schedule", "decay", "momentum", "epsilon",
    "vf_loss_coeff", "entropy_coeff", "entropy_coeff_schedule", "_separate_vf_optimizer",
    "_lr_vf", "num_aggregation_workers", "max_requests_in_flight_per_aggregator_worker"}

IMPALA = Algorithm(
    name="IMPALA",
    description="importance-weighted actor-learner (V-trace)",
    config="ray.rllib.algorithms.impala:IMPALAConfig",
    torch_learner="ray.rllib.algorithms.impala.torch.impala_torch_learner:IMPALATorchLearner",
    discrete_actions=True, multi_discrete_actions=True, continuous_actions=True,
    on_policy=False, training_keys=IMPALA_TRAINING_KEYS, slate_actors=SLATE_ACTORS,
)
