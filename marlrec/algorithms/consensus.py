"""Soft parameter sharing: ``sharing: consensus``.

Every learned agent has its own module (as with ``independent``), and each module's loss
gains a consensus penalty pulling its weights toward the mean of its role's modules:

    loss_m += consensus_strength * sum_i || theta_m,i - mean_{m' in role(m)} theta_m',i ||^2

The mean is taken without gradient (each module is pulled toward where the others are now,
as in consensus ADMM's proximal step); ``consensus_strength`` (spec key, default 0.01)
moves the mode between ``independent`` (0) and ``per_role`` (large). Every update logs
``consensus_distance/<role>``: the mean L2 distance of the role's modules to their mean,
under the learner results' ``__all_modules__``.

The penalty is a mixin on each algorithm's own torch learner (``Algorithm.torch_learner``;
:func:`consensus_learner` gives the mixed class, which this module builds on first access
and keeps by name), so the algorithms' losses are untouched and a new algorithm gets its
consensus learner without code here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from ray.rllib.core import ALL_MODULES

STRENGTH_KEY = "consensus_strength"


def role_of_module(module_id: str) -> str:
    """``slate_policy_3`` -> ``slate_policy`` (consensus modules are named by agent)."""
    return module_id.rsplit("_", 1)[0]


def consensus_terms(modules: Sequence[Sequence[torch.Tensor]]) -> tuple[list[torch.Tensor],
                                                                       torch.Tensor]:
    """For modules of one role (each a list of parameters, in the same order), each
    module's squared distance to the (detached) mean, and the mean L2 distance to it."""
    means = [torch.stack([p.detach() for p in same]).mean(dim=0) for same in zip(*modules,
                                                                                  strict=True)]
    squared = [sum(((p - mean) ** 2).sum() for p, mean in zip(params, means, strict=True))
               for params in modules]
    distance = torch.stack([s.detach().sqrt() for s in squared]).mean()
    return squared, distance


class ConsensusPenalty:
    """Adds the consensus penalty to the per-module losses of the learner it is mixed into."""

    def compute_losses(self, *, fwd_out: dict[str, Any], batch: dict[str, Any]
                       ) -> dict[str, Any]:
        losses = super().compute_losses(fwd_out=fwd_out, batch=batch)
        strength = float(self.config.learner_config_dict.get(STRENGTH_KEY, 0.0))
        roles: dict[str, list[str]] = {}
        for module_id in sorted(losses):
            roles.setdefault(role_of_module(module_id), []).append(module_id)
        for role, module_ids in roles.items():
            if len(module_ids) < 2:
                continue
            params = [[p for p in self.module[m].parameters() if p.requires_grad]
                      for m in module_ids]
            squared, distance = consensus_terms(params)
            for module_id, term in zip(module_ids, squared, strict=True):
                losses[module_id] = losses[module_id] + strength * term
            self.metrics.log_value((ALL_MODULES, f"consensus_distance/{role}"),
                                   float(distance), window=1)
        return losses


def consensus_learner(algorithm: Any) -> type:
    """``algorithm``'s torch learner (an :class:`marlrec.algorithms.algorithm.Algorithm`'s
    ``torch_learner``) with the consensus penalty: the learner of ``sharing: consensus``."""
    return __getattr__(learner_name(algorithm.torch_learner))


def learner_name(torch_learner: str) -> str:
    """The name of ``torch_learner``'s consensus learner in this module:
    ``"...ppo_torch_learner:PPOTorchLearner"`` -> ``"ConsensusPPOTorchLearner"``."""
    return "Consensus" + torch_learner.rpartition(":")[2]


def __getattr__(name: str) -> type:
    """``ConsensusXTorchLearner``: the :class:`ConsensusPenalty` mixed into the torch learner
    of the registered algorithm whose learner is ``XTorchLearner`` (built on first access and
    kept here, so Ray pickles it by reference and every process builds the same class)."""
    from marlrec.algorithms import ALGORITHMS
    from marlrec.algorithms.algorithm import import_path

    if name in globals():
        return globals()[name]
    for algorithm in ALGORITHMS.values():
        if learner_name(algorithm.torch_learner) == name:
            base = import_path(algorithm.torch_learner)
            learner = type(name, (ConsensusPenalty, base), {
                "__module__": __name__,
                "__doc__": f"{base.__name__} with the consensus penalty."})
            globals()[name] = learner
            return learner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
