"""PPO (Schulman et al. 2017), RLlib's implementation, with marlrec's candidate-scoring
actor-critic (:mod:`marlrec.algorithms.actor_critic`)."""

from marlrec.algorithms.algorithm import ALGORITHM_CONFIG_TRAINING_KEYS, SLATE_ACTORS, Algorithm

PPO_TRAINING_KEYS = ALGORITHM_CONFIG_TRAINING_KEYS | {
    "use_critic", "use_gae", "lambda_", "use_kl_loss", "kl_coeff", "kl_target",
    "vf_loss_coeff", "entropy_coeff", "entropy_coeff_schedule", "clip_param", "vf_clip_param",
    "lr_schedule", "vf_share_layers"}

PPO = Algorithm(
    name="PPO",
    description="proximal policy optimisation; a decentralised critic on the agent's "
                "own observation",
    config="ray.rllib.algorithms.ppo:PPOConfig",
    torch_learner="ray.rllib.algorithms.ppo.torch.ppo_torch_learner:PPOTorchLearner",
    discrete_actions=True, multi_discrete_actions=True, continuous_actions=True,
    on_policy=True, training_keys=PPO_TRAINING_KEYS, slate_actors=SLATE_ACTORS,
)
