"""A trained RLlib module as an ``envs`` behaviour, for standalone evaluation rollouts.

:class:`LearnedBehaviour` builds the observations the module was trained on and takes its
greedy action, so a learned policy can be rolled out on the same evaluation seeds as the
scripted baselines with ``envs.rollout``:

- observations: a batch of Dict observations flattened by the function that builds the
  training observations (:func:`envs.observation.flatten_batch`, which the RLlib env
  wrapper calls); for a slate policy of an env built with ``user_state="text_deferred"``,
  the session's state text encoded into it by
  :class:`marlrec.encoder.text_state.TextStateObservations`, the code of the training
  connector, with the env's encoder (which the evaluation env shares with training);
- greedy action: each algorithm declares its adapter in the registry
  (:meth:`marlrec.algorithms.algorithm.Algorithm.greedy_action`):
  :func:`marlrec.algorithms.greedy_action.mode_of_action_distribution` for policy modules
  (PPO, MAPPO, APPO, IMPALA), :func:`marlrec.algorithms.dqn.argmax_q_values` for Q-modules
  (DQN, whose ``forward_inference`` returns actions, not logits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from envs.behaviours import ScriptedBehaviour
from envs.observation import flatten_batch
from marlrec.algorithms.greedy_action import (
    GreedyAction,
    action_dist_inputs,
    mode_of_action_distribution,
)


class LearnedBehaviour(ScriptedBehaviour):
    """Greedy actions of a trained RLlib module on (Dict) ecosystem observations."""

    def __init__(self, module: Any, observation_space: Any, name: str = "learned",
                 greedy_action: GreedyAction = mode_of_action_distribution) -> None:
        self.module = module
        self.observation_space = observation_space
        self.name = name
        self.greedy_action = greedy_action
        self._text_states: tuple[Any, Any] | None = None  # (env, TextStateObservations)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, module_id: str, observation_space: Any,
                        name: str | None = None,
                        greedy_action: GreedyAction = mode_of_action_distribution
                        ) -> LearnedBehaviour:
        """Loads ``module_id`` from an Algorithm checkpoint folder."""
        from ray.rllib.core.rl_module.rl_module import RLModule

        path = Path(checkpoint) / "learner_group" / "learner" / "rl_module" / module_id
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no module {module_id!r} in checkpoint "
                                    f"{checkpoint}")
        return cls(RLModule.from_checkpoint(str(path)), observation_space, name or module_id,
                   greedy_action)

    def flat_observations(self, obs: Any, env: Any = None,
                          rows: np.ndarray | None = None) -> np.ndarray:
        """The flat observations the module was trained on: ``obs`` flattened, and, for the
        slate policies (``rows``: their slots) of an ``env`` with
        ``user_state="text_deferred"``, the sessions' state texts encoded into them."""
        flat = flatten_batch(obs, self.observation_space)
        if env is not None and env.config.user_state == "text_deferred" and \
                "user_state" in self.observation_space.spaces:
            if self._text_states is None or self._text_states[0] is not env:
                from marlrec.encoder.text_state import TextStateObservations

                self._text_states = (env, TextStateObservations(env))
            self._text_states[1].write(flat, env.state_texts(rows),
                                       env.candidate_items[rows])
        return flat

    def action_dist_inputs(self, obs: Any) -> torch.Tensor:
        """The module's logits for a batch of (Dict) observations, already in the form the
        module was trained on (see :func:`action_dist_inputs`)."""
        return action_dist_inputs(self.module, torch.from_numpy(self.flat_observations(obs)))

    def candidate_scores(self, obs: Any) -> torch.Tensor:
        """A slate policy's score of each candidate for a batch of (Dict) observations: its
        first slot's logits (:func:`action_dist_inputs`), or a value-based module's own
        ``candidate_scores`` (SlateQ: the value of showing the candidate alone)."""
        if hasattr(self.module, "candidate_scores"):
            with torch.no_grad():
                return self.module.candidate_scores(
                    torch.from_numpy(self.flat_observations(obs)))
        candidates = self.observation_space["candidate_features"].shape[0]
        return self.action_dist_inputs(obs)[:, :candidates]

    def act_with_env(self, env: Any, rows: np.ndarray, obs: Any,
                     rng: np.random.Generator) -> np.ndarray:
        """Greedy actions of the agents in ``rows`` (slots or providers) of ``env``."""
        return self.greedy_action(self.module,
                                  torch.from_numpy(self.flat_observations(obs, env, rows)))

    def act_batch(self, obs: Any, rng: np.random.Generator) -> np.ndarray:
        """Greedy actions on observations alone (no env: no deferred state texts)."""
        return self.greedy_action(self.module, torch.from_numpy(self.flat_observations(obs)))

    def __repr__(self) -> str:
        return f"LearnedBehaviour({self.name!r})"
