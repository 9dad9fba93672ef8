"""Scripted behaviours as non-trained RLlib modules.

A role that is scripted in an experiment (users driven by the calibrated choice model,
static providers, a greedy baseline slate policy) still needs a module in RLlib's
multi-agent setup. :class:`ScriptedBehaviourModule` runs an ``envs.behaviours`` behaviour
on the batch of its agents' observations: the same ``act_batch`` the standalone rollout
calls. It is never trained: leave its module id out of ``policies_to_train``.

Its agents' observations must reach it unflattened (the behaviours read observation keys):
flatten the learned agents' observations only, as
:func:`marlrec.connectors.env_to_module_connectors` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tree
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec

from envs.behaviours import Behaviour


def _to_numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


class ScriptedBehaviourModule(RLModule):
    """Acts with ``model_config["behaviour"]`` (an ``envs.behaviours`` object); seeded by
    ``model_config["seed"]`` (default 0). Inference and exploration act the same way."""

    def setup(self) -> None:
        config = self.model_config or {}
        if "behaviour" not in config:
            raise ValueError("ScriptedBehaviourModule needs model_config={'behaviour': ...}")
        self.behaviour: Behaviour = config["behaviour"]
        self._rng = np.random.default_rng(config.get("seed", 0))

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = tree.map_structure(_to_numpy, batch[Columns.OBS])
        return {Columns.ACTIONS: np.asarray(self.behaviour.act_batch(obs, self._rng))}

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._forward_inference(batch, **kwargs)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError(
            f"scripted module {self.behaviour!r} is not trainable: keep its module id out of "
            "config.multi_agent(policies_to_train=...)")

    def compile(self, *args: Any, **kwargs: Any) -> None:  # torch-compile hook: nothing to do
        pass


def scripted_module_spec(behaviour: Behaviour, observation_space: Any, action_space: Any,
                         seed: int = 0) -> RLModuleSpec:
    """An ``RLModuleSpec`` of a :class:`ScriptedBehaviourModule` for one role."""
    return RLModuleSpec(module_class=ScriptedBehaviourModule,
                        observation_space=observation_space, action_space=action_space,
                        model_config={"behaviour": behaviour, "seed": seed})
