"""A trained RLlib module as an ``envs`` behaviour, for standalone evaluation rollouts.

:class:`LearnedBehaviour` flattens a batch of Dict observations with the function that
builds the training observations (:func:`envs.observation.flatten_batch`, which the RLlib
env wrapper calls), runs the module's ``forward_inference`` and takes the deterministic
action (the mode of each categorical), so a learned policy can be rolled out on the same
evaluation seeds as the scripted baselines with ``envs.rollout``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns

from envs.behaviours import ScriptedBehaviour
from envs.observation import flatten_batch


class LearnedBehaviour(ScriptedBehaviour):
    """Greedy actions of a trained RLlib module on (Dict) ecosystem observations."""

    def __init__(self, module: Any, observation_space: Any, name: str = "learned") -> None:
        self.module = module
        self.observation_space = observation_space
        self.name = name

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, module_id: str, observation_space: Any,
                        name: str | None = None) -> LearnedBehaviour:
        """Loads ``module_id`` from an Algorithm checkpoint folder."""
        from ray.rllib.core.rl_module.rl_module import RLModule

        path = Path(checkpoint) / "learner_group" / "learner" / "rl_module" / module_id
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no module {module_id!r} in checkpoint "
                                    f"{checkpoint}")
        return cls(RLModule.from_checkpoint(str(path)), observation_space, name or module_id)

    def action_dist_inputs(self, obs: Any) -> torch.Tensor:
        """The module's action-distribution inputs (logits) for a batch of observations;
        for a slate policy ``(B, S * C)``, slot ``k``'s logits at ``[:, k * C:(k + 1) * C]``."""
        flat = torch.from_numpy(flatten_batch(obs, self.observation_space))
        if self.module.training:  # once: RLlib's forward_inference would re-walk the
            self.module.eval()  # module tree at every call (the learner sets train() again)
        with torch.no_grad():
            out = self.module._forward_inference({Columns.OBS: flat})
        return out[Columns.ACTION_DIST_INPUTS]

    def act_batch(self, obs: Any, rng: np.random.Generator) -> np.ndarray:
        logits = self.action_dist_inputs(obs)
        space = self.module.action_space
        if isinstance(space, gym.spaces.Discrete):  # the mode of a categorical: its argmax
            return logits.argmax(dim=-1).numpy().astype(np.int64)
        if isinstance(space, gym.spaces.MultiDiscrete) and len(set(space.nvec.tolist())) == 1:
            slots, n = len(space.nvec), int(space.nvec[0])
            return logits.reshape(-1, slots, n).argmax(dim=-1).numpy().astype(np.int64)
        dist = self.module.get_inference_action_dist_cls().from_logits(logits)
        return dist.to_deterministic().sample().cpu().numpy().astype(np.int64)

    def __repr__(self) -> str:
        return f"LearnedBehaviour({self.name!r})"
