"""marlrec's actor-critic RLModule for PPO, MAPPO, APPO and IMPALA.

One module class, two choices (``model_config``):

- **actor** (``slate_actor``): for a slate policy, ``"candidate_scoring"`` (default) scores
  every candidate with one small MLP shared across candidates, from the candidate's
  embedding, its features (and its attributes, with the env's ``item_attributes``), the
  user state, their elementwise product, the session features (and the encoded session
  intent and its product with the candidate, with the env's ``intent="on"``); the logits of
  slot ``k`` are the candidates' ``k``-th scores. It is permutation-equivariant in the
  candidates, as recommender scorers are, so it learns from thousands rather than millions
  of steps.
  ``"mlp"`` is a plain MLP on the flattened observation (RLlib's default model). Users
  and providers always get the MLP.
- **ids** (the env's ``user_state="id"``: the observation has ``user_id`` and
  ``candidate_ids`` instead of text-derived vectors): actor and critic each start with
  learned embedding tables (:class:`IdEmbeddings`, ``id_embedding_dim``, default 32) that
  put a user vector and candidate vectors where the text embeddings would be; id 0, a user
  or item the platform has never seen (``envs.cold_start``), embeds to zeros and is never
  trained: the classic id model's cold start.
- **critic** (``global_state_dim``): ``0`` gives PPO's decentralised critic (an MLP on the
  agent's own flattened observation). ``> 0`` gives MAPPO's centralised critic: the agent's
  observation arrives flat as ``[own observation, env.state()]``
  (:class:`marlrec.training.rllib_env.EcosystemMultiAgentEnv` with ``centralised_critic``; the own
  part laid out by :func:`envs.observation.flat_layout`) and the critic reads all of it,
  the "agent-specific global state" of Yu et al. 2022 (*The Surprising Effectiveness of
  PPO in Cooperative Multi-Agent Games*), while the actor reads only the agent's own part.
  Acting therefore never needs the global state: the actor also accepts the own
  observation alone (as evaluation rollouts give it).

Modules built ``inference_only`` drop the critic (``InferenceOnlyAPI``; docs/training.md says
where RLlib builds them so).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import (
    TorchCategorical,
    TorchDiagGaussian,
    TorchMultiCategorical,
)
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import (
    TARGET_NETWORK_ACTION_DIST_INPUTS,
    InferenceOnlyAPI,
    TargetNetworkAPI,
    ValueFunctionAPI,
)
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from envs.observation import flat_layout
from marlrec.algorithms.algorithm import SLATE_ACTORS

SLATE_KEYS = ("candidate_features", "candidates", "session", "user_state")


def mlp(sizes: list[int], activation: str = "tanh") -> nn.Sequential:
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(a, b), act()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def action_distribution(action_space: gym.Space) -> tuple[Any, int]:
    """The RLlib torch distribution class of an action space and its logits width."""
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        lens = [int(n) for n in action_space.nvec]
        return TorchMultiCategorical.get_partial_dist_cls(input_lens=lens), sum(lens)
    if isinstance(action_space, gym.spaces.Discrete):
        return TorchCategorical, int(action_space.n)
    if isinstance(action_space, gym.spaces.Box):
        return TorchDiagGaussian, 2 * int(gym.spaces.flatdim(action_space))
    raise ValueError(f"action space {action_space} is not supported by the marlrec "
                     "actor-critic (Discrete, MultiDiscrete or Box)")


class IdEmbeddings(nn.Module):
    """Learned user and item embeddings in place of the ids of an ``user_state="id"``
    observation: maps RLlib's flattened observation (plus any columns after it, e.g. the
    global state) to the flattened layout of :attr:`embedded_space`, where ``user_id``
    became ``user_state`` and ``candidate_ids`` became ``candidates``."""

    def __init__(self, own_space: gym.spaces.Dict, dim: int) -> None:
        super().__init__()
        self.layout = flat_layout(own_space)
        self.own_dim = gym.spaces.flatdim(own_space)
        num_users = int(own_space["user_id"].high.max()) + 1
        num_items = int(own_space["candidate_ids"].high.max()) + 1
        self.num_candidates = int(own_space["candidate_ids"].shape[0])
        self.users = nn.Embedding(num_users, dim, padding_idx=0)
        self.items = nn.Embedding(num_items, dim, padding_idx=0)
        for table in (self.users, self.items):  # rows of norm ~1, like the text vectors
            nn.init.normal_(table.weight, std=dim**-0.5)
            with torch.no_grad():
                table.weight[0].zero_()
        keys = {k: v for k, v in own_space.spaces.items()
                if k not in ("user_id", "candidate_ids")}
        keys["user_state"] = gym.spaces.Box(-float("inf"), float("inf"), (dim,))
        keys["candidates"] = gym.spaces.Box(-float("inf"), float("inf"),
                                            (self.num_candidates, dim))
        self.embedded_space = gym.spaces.Dict(keys)
        self.embedded_dim = gym.spaces.flatdim(self.embedded_space)

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        part = {k: flat[:, s] for k, s in self.layout.items()}
        part["user_state"] = self.users(part.pop("user_id")[:, 0].round().long())
        part["candidates"] = self.items(part.pop("candidate_ids").round().long()).flatten(1)
        embedded = [part[k] for k in sorted(part)]
        return torch.cat([*embedded, flat[:, self.own_dim:]], dim=-1)


def has_ids(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Dict) and "user_id" in space.spaces


class CandidateScoringActor(nn.Module):
    """Slot logits from one MLP that scores each candidate (see the module docstring)."""

    def __init__(self, own_space: gym.spaces.Dict, slate_size: int, hiddens: list[int],
                 activation: str) -> None:
        super().__init__()
        self.layout = flat_layout(own_space)
        num_candidates, dim = own_space["candidates"].shape
        self.num_candidates, self.dim = num_candidates, dim
        self.num_features = own_space["candidate_features"].shape[1]
        # item attributes (env item_attributes=True: genres, year, popularity, provider)
        self.num_attributes = (own_space["candidate_attributes"].shape[1]
                               if "candidate_attributes" in own_space.spaces else 0)
        # the encoded session intent (env intent="on"): read with and against each candidate
        self.has_intent = "intent" in own_space.spaces
        self.session_dim = gym.spaces.flatdim(own_space["session"])
        self.slate_size = slate_size
        width = (3 * dim + self.num_features + self.num_attributes + self.session_dim
                 + 2 * dim * self.has_intent)
        self.scorer = mlp([width, *hiddens, slate_size], activation)

    def scorer_inputs(self, own: torch.Tensor) -> torch.Tensor:
        """``(batch, C, width)``: each candidate's input to the scorer, laid out as
        :meth:`input_groups` names."""
        batch = own.shape[0]
        c = self.num_candidates
        part = {k: own[:, s] for k, s in self.layout.items()}
        candidates = part["candidates"].reshape(batch, c, self.dim)
        features = part["candidate_features"].reshape(batch, c, self.num_features)
        user = part["user_state"].unsqueeze(1).expand(batch, c, self.dim)
        session = part["session"].unsqueeze(1).expand(batch, c, self.session_dim)
        parts = [candidates, user, candidates * user, features, session]
        if self.num_attributes:
            parts.append(part["candidate_attributes"].reshape(batch, c, self.num_attributes))
        if self.has_intent:
            intent = part["intent"].unsqueeze(1).expand(batch, c, self.dim)
            parts += [intent, candidates * intent]
        return torch.cat(parts, dim=-1)

    def input_groups(self, feature_names: tuple[str, ...]) -> dict[str, slice]:
        """The scorer input's columns by input group: ``item embedding``, ``user state``,
        ``user x item`` (their product), one group per candidate feature (``feature_names``:
        the env's ``candidate_features`` columns), ``session``, ``attributes`` and
        ``intent`` (with its product with the item), where present."""
        if len(feature_names) != self.num_features:
            raise ValueError(f"{len(feature_names)} feature names {feature_names} for "
                             f"{self.num_features} candidate feature columns")
        d = self.dim
        groups = {"item embedding": slice(0, d), "user state": slice(d, 2 * d),
                  "user x item": slice(2 * d, 3 * d)}
        start = 3 * d
        for name in feature_names:
            groups[name] = slice(start, start + 1)
            start += 1
        groups["session"] = slice(start, start + self.session_dim)
        start += self.session_dim
        if self.num_attributes:
            groups["attributes"] = slice(start, start + self.num_attributes)
            start += self.num_attributes
        if self.has_intent:
            groups["intent"] = slice(start, start + 2 * d)
        return groups

    def forward(self, own: torch.Tensor) -> torch.Tensor:
        batch = own.shape[0]
        scores = self.scorer(self.scorer_inputs(own))  # (batch, candidates, slots)
        return scores.transpose(1, 2).reshape(batch, self.slate_size * self.num_candidates)


class EcosystemActorCritic(TorchRLModule, ValueFunctionAPI, TargetNetworkAPI,
                           InferenceOnlyAPI):
    """PPO / MAPPO / APPO / IMPALA actor-critic for one ecosystem role (APPO uses the
    target actor of ``TargetNetworkAPI``).

    ``model_config``: ``own_observation_space`` (the env's observation space of the agent,
    before flattening; required), ``global_state_dim`` (0: PPO critic; > 0: MAPPO critic),
    ``slate_actor`` (``candidate_scoring`` | ``mlp``), ``fcnet_hiddens`` (default
    ``[256, 256]``), ``scorer_hiddens`` (default ``[64, 64]``), ``fcnet_activation``
    (``tanh`` | ``relu``), ``id_embedding_dim`` (default 32; id observations only).
    """

    def setup(self) -> None:
        cfg = self.model_config or {}
        own_space = cfg.get("own_observation_space")
        if own_space is None:
            raise ValueError("EcosystemActorCritic needs model_config['own_observation_space']")
        self.own_dim = gym.spaces.flatdim(own_space)
        self.global_state_dim = int(cfg.get("global_state_dim", 0))
        full_dim = int(self.observation_space.shape[0])
        if full_dim != self.own_dim + self.global_state_dim:
            raise ValueError(
                f"flattened observation has {full_dim} entries; expected own observation "
                f"({self.own_dim}) + global state ({self.global_state_dim})")
        hiddens = list(cfg.get("fcnet_hiddens", [256, 256]))
        activation = cfg.get("fcnet_activation", "tanh")
        slate_actor = cfg.get("slate_actor", "candidate_scoring")
        if slate_actor not in SLATE_ACTORS:
            raise ValueError(f"slate_actor={slate_actor!r} is not one of {list(SLATE_ACTORS)}")
        self.action_dist_cls, logits_dim = action_distribution(self.action_space)
        actor_input: list[nn.Module] = []
        critic_input: list[nn.Module] = []
        read_space, read_dim = own_space, self.own_dim
        if has_ids(own_space):  # actor and critic each embed the ids with their own tables
            dim = int(cfg.get("id_embedding_dim", 32))
            actor_input = [IdEmbeddings(own_space, dim)]
            critic_input = [IdEmbeddings(own_space, dim)]
            read_space, read_dim = actor_input[0].embedded_space, actor_input[0].embedded_dim
        is_slate = (isinstance(read_space, gym.spaces.Dict)
                    and set(SLATE_KEYS) <= set(read_space)
                    and isinstance(self.action_space, gym.spaces.MultiDiscrete))
        if is_slate and slate_actor == "candidate_scoring":
            head: nn.Module = CandidateScoringActor(
                read_space, len(self.action_space.nvec),
                list(cfg.get("scorer_hiddens", [64, 64])), activation)
        else:
            head = mlp([read_dim, *hiddens, logits_dim], activation)
        self.actor = nn.Sequential(*actor_input, head) if actor_input else head
        critic_dim = read_dim + self.global_state_dim
        critic = mlp([critic_dim, *hiddens, 1], activation)
        self.critic = nn.Sequential(*critic_input, critic) if critic_input else critic

    def get_non_inference_attributes(self) -> list[str]:
        return ["critic", "_old_actor"]

    def _own(self, batch: dict[str, Any]) -> torch.Tensor:
        return batch[Columns.OBS][..., : self.own_dim]  # the global state is not read

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: self.actor(self._own(batch))}

    def make_target_networks(self) -> None:
        self._old_actor = make_target_network(self.actor)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.actor, self._old_actor)]

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {TARGET_NETWORK_ACTION_DIST_INPUTS: self._old_actor(self._own(batch))}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        return self.critic(batch[Columns.OBS]).squeeze(-1)


def actor_critic_spec(own_space: gym.Space, global_state_dim: int, model: dict[str, Any]
                      ) -> RLModuleSpec:
    """The ``RLModuleSpec`` of an :class:`EcosystemActorCritic` (spaces after flattening
    are filled in by RLlib)."""
    return RLModuleSpec(module_class=EcosystemActorCritic,
                        model_config={**model, "own_observation_space": own_space,
                                      "global_state_dim": global_state_dim})


def build_actor_critic(own_space: gym.Space, action_space: gym.Space,
                       model: dict[str, Any] | None = None) -> EcosystemActorCritic:
    """An :class:`EcosystemActorCritic` with a decentralised critic built outside RLlib
    (e.g. to score items offline), its observation space as RLlib's flattener leaves it."""
    spec = actor_critic_spec(own_space, 0, dict(model or {}))
    spec.observation_space = gym.spaces.Box(-float("inf"), float("inf"),
                                            (gym.spaces.flatdim(own_space),))
    spec.action_space = action_space
    return spec.build()
