"""MAPPO (Yu et al. 2022): PPO whose critic reads the env's global state
(``env.state()``: every session's state and the market); the actor sees only the agent's own
observation, so evaluation never uses the global state."""

from marlrec.algorithms.algorithm import SLATE_ACTORS, Algorithm
from marlrec.algorithms.ppo import PPO_TRAINING_KEYS

MAPPO = Algorithm(
    name="MAPPO",
    description="PPO with a centralised critic on the env's global state",
    config="ray.rllib.algorithms.ppo:PPOConfig",
    torch_learner="ray.rllib.algorithms.ppo.torch.ppo_torch_learner:PPOTorchLearner",
    discrete_actions=True, multi_discrete_actions=True, continuous_actions=True,
    on_policy=True, training_keys=PPO_TRAINING_KEYS, slate_actors=SLATE_ACTORS,
    centralised_critic=True,
)
