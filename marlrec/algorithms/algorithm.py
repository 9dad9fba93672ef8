"""What an algorithm declares: its RLlib classes, its capabilities and its adapters.

An :class:`Algorithm` is plain data, so the spec validator and the CLI read what every
algorithm supports without importing Ray or torch; the RLlib classes are named as
``"module:attribute"`` paths and imported only when a trial is built
(:meth:`Algorithm.config_class`, :meth:`Algorithm.greedy_action`; under ``sharing:
consensus``, :func:`marlrec.algorithms.consensus.consensus_learner` mixes the penalty into
``torch_learner``). Capabilities follow BenchMARL's algorithm classes:

- ``discrete_actions``, ``multi_discrete_actions``, ``continuous_actions``: the action
  spaces it learns (users and providers: Discrete; slate policies: MultiDiscrete);
- ``on_policy``: it learns from the current policy's samples only (no replay);
- ``centralised_critic``: its critic (or value network) reads the env's global state
  (``env.state()``) in training; acting never does;
- ``slate_actors``: the slate-policy actors it trains (``model.slate_actor``; the first is
  its default);
- ``sharing_modes``: the sharing modes it supports (:mod:`marlrec.training.sharing`);
- ``training_keys``: the parameters of its RLlib ``training()`` (the spec's ``training:``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from envs import ROLE_ACTION_KINDS
from marlrec.training.sharing import SHARING_MODES

SLATE_ACTORS = ("candidate_scoring", "mlp")
"""``candidate_scoring``: one MLP scores each candidate (:mod:`marlrec.algorithms.actor_critic`);
``mlp``: an MLP on the flattened observation."""

ALGORITHM_CONFIG_TRAINING_KEYS = frozenset({
    "gamma", "lr", "grad_clip", "grad_clip_by", "train_batch_size",
    "train_batch_size_per_learner", "num_epochs", "minibatch_size", "shuffle_batch_per_epoch",
    "model", "optimizer", "num_aggregator_actors_per_learner",
    "max_requests_in_flight_per_aggregator_actor", "num_sgd_iter",
    "max_requests_in_flight_per_sampler_worker", "learner_class", "learner_connector",
    "add_default_connectors_to_learner_pipeline", "learner_config_dict"})
"""The parameters of RLlib's ``AlgorithmConfig.training()`` (ray 2.60), shared by every
algorithm; ``tests/algorithms/test_registry.py`` checks each algorithm's declared keys against
the installed RLlib."""


def import_path(path: str) -> Any:
    """The object named by ``"package.module:attribute"``."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Algorithm:
    """One algorithm of the registry (:data:`marlrec.algorithms.ALGORITHMS`)."""

    name: str
    description: str
    config: str  # "module:Class" of its RLlib AlgorithmConfig
    torch_learner: str  # "module:Class" of its RLlib torch Learner (sharing: consensus)
    discrete_actions: bool
    multi_discrete_actions: bool
    continuous_actions: bool
    on_policy: bool
    training_keys: frozenset[str]
    centralised_critic: bool = False
    slate_actors: tuple[str, ...] = ("mlp",)
    sharing_modes: tuple[str, ...] = SHARING_MODES
    # settings it needs in this multi-agent setting (spec `training:` overrides them)
    training_defaults: dict[str, Any] = field(default_factory=dict)
    # "module:function" (module, flat observations) -> greedy actions, for evaluation
    greedy: str = "marlrec.algorithms.greedy_action:mode_of_action_distribution"
    # "module:function" (own observation space, global state width (0 unless
    # centralised_critic), model config) -> RLModuleSpec of a learned role, for an
    # algorithm with its own module (else marlrec's actor-critic or RLlib's)
    module: str | None = None

    @property
    def marlrec_module(self) -> bool:
        """Learned roles use marlrec's actor-critic RLModule (else its own ``module`` or
        RLlib's default one)."""
        return self.module is None and "candidate_scoring" in self.slate_actors

    def module_spec(self, own_space: Any, global_state_dim: int, model: dict[str, Any]
                    ) -> Any:
        """The ``RLModuleSpec`` of its own module (imports RLlib; ``module`` must be set)."""
        return import_path(self.module)(own_space, global_state_dim, model)

    def supports(self, action_kind: str) -> bool:
        """Whether it learns actions of ``action_kind`` (``envs.ROLE_ACTION_KINDS``)."""
        return getattr(self, f"{action_kind}_actions")

    def refused_roles(self, learned_roles: list[str]) -> list[str]:
        """The roles in ``learned_roles`` whose action space it cannot learn."""
        return [r for r in learned_roles if not self.supports(ROLE_ACTION_KINDS[r])]

    def config_class(self) -> type:
        """Its RLlib ``AlgorithmConfig`` class (imports RLlib)."""
        return import_path(self.config)

    def greedy_action(self) -> Any:
        """How evaluation takes the module's greedy action: ``(module, flat observations
        (B, width)) -> actions (B, *action shape)``."""
        return import_path(self.greedy)
