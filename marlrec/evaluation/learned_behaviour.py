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
- greedy action: each algorithm declares its adapter (``AlgorithmInfo.greedy_action`` in
  :mod:`marlrec.training.rllib_config`): :func:`mode_of_action_distribution` for policy modules
  (the mode of each categorical of ``Columns.ACTION_DIST_INPUTS``: PPO, MAPPO, APPO,
  IMPALA), :func:`argmax_q_values` for Q-modules (DQN, whose ``forward_inference`` returns
  actions, not logits).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns

from envs.behaviours import ScriptedBehaviour
from envs.observation import flatten_batch

GreedyAction = Callable[[Any, torch.Tensor], np.ndarray]
"""``(module, flat observations (B, width)) -> greedy actions (B, *action shape)``."""


def _inference_mode(module: Any) -> None:
    """Puts ``module`` in eval mode once: RLlib's ``forward_inference`` would re-walk the
    module tree at every call (a learner sets ``train()`` again)."""
    if module.training:
        module.eval()


def action_dist_inputs(module: Any, flat: torch.Tensor) -> torch.Tensor:
    """A policy module's action-distribution inputs (logits) for flat observations; for a
    slate policy ``(B, S * C)``, slot ``k``'s logits at ``[:, k * C:(k + 1) * C]``."""
    _inference_mode(module)
    with torch.no_grad():
        out = module._forward_inference({Columns.OBS: flat})
    if Columns.ACTION_DIST_INPUTS not in out:
        raise TypeError(f"{type(module).__name__} returns no {Columns.ACTION_DIST_INPUTS!r} "
                        f"from forward_inference (it returns {sorted(out)}): not a policy "
                        "module; use its algorithm's greedy_action adapter")
    return out[Columns.ACTION_DIST_INPUTS]


def mode_of_action_distribution(module: Any, flat: torch.Tensor) -> np.ndarray:
    """Greedy action of a policy module: the mode of its action distribution (argmax of
    each categorical's logits)."""
    logits = action_dist_inputs(module, flat)
    space = module.action_space
    if isinstance(space, gym.spaces.Discrete):
        return logits.argmax(dim=-1).numpy().astype(np.int64)
    if isinstance(space, gym.spaces.MultiDiscrete) and len(set(space.nvec.tolist())) == 1:
        slots, n = len(space.nvec), int(space.nvec[0])
        return logits.reshape(-1, slots, n).argmax(dim=-1).numpy().astype(np.int64)
    dist = module.get_inference_action_dist_cls().from_logits(logits)
    return dist.to_deterministic().sample().cpu().numpy().astype(np.int64)


def argmax_q_values(module: Any, flat: torch.Tensor) -> np.ndarray:
    """Greedy action of a Q-module (RLlib's DQN module): the action of highest Q-value."""
    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS

    _inference_mode(module)
    with torch.no_grad():
        q_values = module.compute_q_values({Columns.OBS: flat})[QF_PREDS]
    return q_values.argmax(dim=-1).numpy().astype(np.int64)


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
