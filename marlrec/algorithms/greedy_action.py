"""Greedy actions of a policy module, for evaluation: the mode of its action distribution.

The adapter of PPO, MAPPO, APPO and IMPALA (``Algorithm.greedy``); a Q-learning algorithm
declares its own (``marlrec.algorithms.dqn.argmax_q_values``). An adapter maps
``(module, flat observations (B, width))`` to greedy actions ``(B, *action shape)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns

GreedyAction = Callable[[Any, torch.Tensor], np.ndarray]
"""``(module, flat observations (B, width)) -> greedy actions (B, *action shape)``."""


def inference_mode(module: Any) -> None:
    """Puts ``module`` in eval mode once: RLlib's ``forward_inference`` would re-walk the
    module tree at every call (a learner sets ``train()`` again)."""
    if module.training:
        module.eval()


def action_dist_inputs(module: Any, flat: torch.Tensor) -> torch.Tensor:
    """A policy module's action-distribution inputs (logits) for flat observations; for a
    slate policy ``(B, S * C)``, slot ``k``'s logits at ``[:, k * C:(k + 1) * C]``."""
    inference_mode(module)
    with torch.no_grad():
        out = module._forward_inference({Columns.OBS: flat})
    if Columns.ACTION_DIST_INPUTS not in out:
        raise TypeError(f"{type(module).__name__} returns no {Columns.ACTION_DIST_INPUTS!r} "
                        f"from forward_inference (it returns {sorted(out)}): not a policy "
                        "module; use its algorithm's greedy-action adapter")
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
