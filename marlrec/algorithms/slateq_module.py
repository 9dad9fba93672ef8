"""SlateQ's RLModule: per-candidate Q-values, a learned user choice model and the slate
that maximises their combination (Ie et al., *SlateQ: A Tractable Decomposition for
Reinforcement Learning with Recommendation Sets*, IJCAI 2019).

The value of a slate ``A`` in state ``s`` decomposes over the item the user consumes:

    Q(s, A) = sum_{i in A} P(i | s, A) Q(s, i) + P(none | s, A) Q(s, none)

with the conditional-logit choice model ``P(i | s, A) = exp(v(s, i)) / (exp(v(s, none)) +
sum_{j in A} exp(v(s, j)))``. The module learns three things from the slate observation:

- ``Q(s, none)`` from an MLP on the observation (the paper assumes it known; here it is
  learned, since a skipped step still costs the session) and ``Q(s, i) = Q(s, none) +
  a(s, i)`` with ``a`` a candidate-scoring network (:class:`marlrec.algorithms.
  actor_critic.CandidateScoringActor` with one output): the long-term value of the user
  consuming candidate ``i`` as its advantage over consuming nothing;
- ``v(s, i)`` and ``v(s, none)``: the choice model's scores, a second candidate scorer and
  no-click head, fitted to the responses by maximum likelihood (the learner's choice loss);
- the slate: :func:`best_slates` maximises ``Q(s, A)`` exactly over all ``C choose S``
  subsets (the paper's exact optimisation) when there are at most :data:`EXACT_SLATES_MAX`
  of them, otherwise with the paper's greedy method (add the candidate that raises the
  slate's value most, ``S`` times). The slate lists its items by decreasing
  ``exp(v) Q``.

Centralised training (``global_state_dim`` > 0, the ``SlateQ-CTDE`` algorithm): the flat
observation is ``[own observation, env.state()]`` as for MAPPO's critic, and a state-value
network ``V(s, g)`` reads all of it (with a target copy); the TD target bootstraps from
``V_target`` of the next state instead of the best next slate's ``Q_target``, so a
consumption is credited with what it did to state the slate policy never observes (RecSim's
remaining time budget). The Q network and the choice model still read the own observation
only, so acting never needs the global state.

Acting: ``forward_inference`` returns that slate; ``forward_exploration`` replaces it with
a uniformly random slate (distinct candidates) with probability epsilon (the config's
``epsilon`` schedule, as RLlib's DQN). The Q networks have target copies
(``TargetNetworkAPI``) that the learner's TD target reads. Built
``inference_only``, the module keeps only what acting reads: the online Q network and
choice model (``InferenceOnlyAPI``).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, QNetAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.schedules.scheduler import Scheduler
from torch import nn

from marlrec.algorithms.actor_critic import (
    SLATE_KEYS,
    CandidateScoringActor,
    IdEmbeddings,
    action_distribution,
    has_ids,
    mlp,
)

EXACT_SLATES_MAX = 5000
"""Above this many ``C choose S`` slates, :func:`best_slates` optimises greedily."""

Q_ITEMS, Q_NONE = "q_items", "q_none"
CHOICE_LOGITS, NO_CHOICE_LOGIT = "choice_logits", "no_choice_logit"
TARGET_NEXT_VALUE = "target_next_value"
STATE_VALUE = "state_value"


class CandidateValues(nn.Module):
    """One score per candidate and one for "no consumption", from the flat own
    observation: the Q network (``Q(s, i)``, ``Q(s, none)``) or the choice model
    (``v(s, i)``, ``v(s, none)``). ``relative``: each candidate's score is the
    no-consumption score plus the candidate scorer's output (the Q network: its large,
    state-dependent part, a session's remaining return, is one shared head, so that its
    errors cancel when slates are compared, as in a dueling network)."""

    def __init__(self, own_space: gym.spaces.Dict, own_dim: int, hiddens: list[int],
                 scorer_hiddens: list[int], activation: str, id_embedding_dim: int,
                 relative: bool = False) -> None:
        super().__init__()
        self.relative = relative
        read_space, read_dim = own_space, own_dim
        self.ids = None
        if has_ids(own_space):
            self.ids = IdEmbeddings(own_space, id_embedding_dim)
            read_space, read_dim = self.ids.embedded_space, self.ids.embedded_dim
        self.items = CandidateScoringActor(read_space, 1, scorer_hiddens, activation)
        self.none = mlp([read_dim, *hiddens, 1], activation)

    def forward(self, own: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        read = own if self.ids is None else self.ids(own)
        none = self.none(read).squeeze(-1)
        items = self.items(read)
        return (none.unsqueeze(-1) + items if self.relative else items), none


def slate_value(q: torch.Tensor, q_none: torch.Tensor, weights: torch.Tensor,
                weight_none: torch.Tensor) -> torch.Tensor:
    """``Q(s, A)`` of slates given per-item ``(..., S)`` Q-values and choice weights
    ``exp(v)`` (and the no-consumption ones, ``(...)``)."""
    return ((weights * q).sum(-1) + weight_none * q_none) / (weights.sum(-1) + weight_none)


def all_slates(num_candidates: int, slate_size: int) -> torch.Tensor:
    """``(C choose S, S)``: every slate as a sorted tuple of candidate positions."""
    return torch.tensor(list(itertools.combinations(range(num_candidates), slate_size)),
                        dtype=torch.long)


def best_slates(q: torch.Tensor, q_none: torch.Tensor, logits: torch.Tensor,
                no_choice_logit: torch.Tensor, slate_size: int,
                slates: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The slates ``(B, S)`` of highest ``Q(s, A)`` and their values ``(B,)``: exact over
    ``slates`` (every subset, :func:`all_slates`) when given, else greedy."""
    top = torch.maximum(logits.max(-1).values, no_choice_logit).unsqueeze(-1)
    weights, weight_none = torch.exp(logits - top), torch.exp(no_choice_logit - top[:, 0])
    if slates is not None:
        values = slate_value(q[:, slates], q_none.unsqueeze(-1), weights[:, slates],
                             weight_none.unsqueeze(-1))  # (B, K)
        value, best = values.max(-1)
        chosen = slates[best]  # (B, S), positions in increasing order
        order = (weights * q).gather(1, chosen).argsort(-1, descending=True)
        return chosen.gather(1, order), value
    batch = q.shape[0]
    numerator, denominator = weight_none * q_none, weight_none.clone()
    taken = torch.zeros_like(q, dtype=torch.bool)
    chosen = torch.zeros((batch, slate_size), dtype=torch.long, device=q.device)
    for slot in range(slate_size):  # add the candidate that raises the value most
        with_each = (numerator.unsqueeze(-1) + weights * q) / (
            denominator.unsqueeze(-1) + weights)
        pick = with_each.masked_fill(taken, -math.inf).argmax(-1)
        chosen[:, slot] = pick
        taken[torch.arange(batch), pick] = True
        numerator = numerator + (weights * q).gather(1, pick[:, None])[:, 0]
        denominator = denominator + weights.gather(1, pick[:, None])[:, 0]
    return chosen, numerator / denominator


class SlateQModule(TorchRLModule, InferenceOnlyAPI, QNetAPI, TargetNetworkAPI):
    """SlateQ for a slate policy (see the module docstring).

    ``model_config``: ``own_observation_space`` (the env's slate observation space before
    flattening; required), ``fcnet_hiddens`` (no-consumption heads, default ``[256,
    256]``), ``scorer_hiddens`` (candidate scorers, default ``[64, 64]``),
    ``fcnet_activation``, ``id_embedding_dim`` (id observations), ``epsilon`` (the
    exploration schedule, from RLlib's DQN config), ``global_state_dim`` (0: the paper's
    SlateQ; > 0: centralised training, the observation followed by the global state).
    """

    def setup(self) -> None:
        cfg = self.model_config or {}
        own_space = cfg.get("own_observation_space")
        if own_space is None:
            raise ValueError("SlateQModule needs model_config['own_observation_space']")
        keys = set(getattr(own_space, "spaces", {}))
        if not (set(SLATE_KEYS) - {"candidates", "user_state"} <= keys
                and isinstance(self.action_space, gym.spaces.MultiDiscrete)):
            raise ValueError(f"SlateQ learns slate policies only: observation keys "
                             f"{sorted(keys)}, action space {self.action_space}")
        self.num_candidates = int(self.action_space.nvec[0])
        self.slate_size = len(self.action_space.nvec)
        own_dim = self.own_dim = gym.spaces.flatdim(own_space)
        self.global_state_dim = int(cfg.get("global_state_dim", 0))
        args = (own_space, own_dim, list(cfg.get("fcnet_hiddens", [256, 256])),
                list(cfg.get("scorer_hiddens", [64, 64])), cfg.get("fcnet_activation", "tanh"),
                int(cfg.get("id_embedding_dim", 32)))
        self.q_net = CandidateValues(*args, relative=True)
        self.choice_model = CandidateValues(*args)
        self.value_net = None  # training only: an inference-only copy never builds it
        if self.global_state_dim and not self.inference_only:
            self.value_net = mlp([own_dim + self.global_state_dim,
                                  *cfg.get("fcnet_hiddens", [256, 256]), 1],
                                 cfg.get("fcnet_activation", "tanh"))
        count = math.comb(self.num_candidates, self.slate_size)
        self.slates = (all_slates(self.num_candidates, self.slate_size)
                       if count <= EXACT_SLATES_MAX else None)
        self.epsilon_schedule = Scheduler(
            fixed_value_or_schedule=cfg.get("epsilon", 0.0), framework="torch")
        self.action_dist_cls, _ = action_distribution(self.action_space)

    # -- acting -------------------------------------------------------------------------

    def _device_slates(self, like: torch.Tensor) -> torch.Tensor | None:
        if self.slates is not None and self.slates.device != like.device:
            self.slates = self.slates.to(like.device)
        return self.slates

    def _online(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``Q(s, i)``, ``Q(s, none)``, ``v(s, i)``, ``v(s, none)`` of the online networks
        (``obs``: the own observation, or it followed by the global state)."""
        own = obs[..., : self.own_dim]
        return (*self.q_net(own), *self.choice_model(own))

    def greedy_slates(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The slates maximising ``Q(s, A)`` under the online networks, and their values."""
        return best_slates(*self._online(obs), self.slate_size, self._device_slates(obs))

    def candidate_scores(self, obs: torch.Tensor) -> torch.Tensor:
        """``(B, C)``: the value ``Q(s, {i})`` of showing each candidate alone, the score by
        which offline ranking orders items."""
        q, q_none, logits, no_choice = self._online(obs)
        return slate_value(q.unsqueeze(-1), q_none.unsqueeze(-1), torch.exp(
            logits - no_choice.unsqueeze(-1)).unsqueeze(-1), torch.ones_like(q))

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTIONS: self.greedy_slates(batch[Columns.OBS])[0]}

    def _forward_exploration(self, batch: dict[str, Any], t: int = 0,
                             **kwargs: Any) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        greedy = self.greedy_slates(obs)[0]
        self.epsilon_schedule.update(t)
        epsilon = self.epsilon_schedule.get_current_value()
        shuffled = torch.rand((obs.shape[0], self.num_candidates), device=obs.device)
        random = shuffled.argsort(-1)[:, : self.slate_size]
        explore = torch.rand((obs.shape[0], 1), device=obs.device) < epsilon
        return {Columns.ACTIONS: torch.where(explore, random, greedy)}

    # -- learning -----------------------------------------------------------------------

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Online ``Q(s, i)``, ``Q(s, none)`` and choice scores of ``batch[OBS]`` (and, with
        centralised training, the state value ``V(s, g)``)."""
        full = batch[Columns.OBS]
        q, q_none, logits, no_choice = self._online(full)
        out = {Q_ITEMS: q, Q_NONE: q_none, CHOICE_LOGITS: logits, NO_CHOICE_LOGIT: no_choice}
        if self.value_net is not None:
            out[STATE_VALUE] = self.value_net(full).squeeze(-1)
        return out

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if self.inference_only:
            raise RuntimeError("an inference-only SlateQModule cannot be trained")
        out = self.compute_q_values(batch)
        with torch.no_grad():  # the TD target's next-state value
            next_full = batch[Columns.NEXT_OBS]
            if self.value_net is not None:  # centralised: V_target of the full next state
                out[TARGET_NEXT_VALUE] = self._target_value_net(next_full).squeeze(-1)
                return out
            next_obs = next_full[..., : self.own_dim]  # the best next slate: target Q
            q, q_none = self._target_q_net(next_obs)
            logits, no_choice = self.choice_model(next_obs)
            out[TARGET_NEXT_VALUE] = best_slates(q, q_none, logits, no_choice,
                                                 self.slate_size,
                                                 self._device_slates(next_obs))[1]
        return out

    def make_target_networks(self) -> None:
        self._target_q_net = make_target_network(self.q_net)
        if self.value_net is not None:
            self._target_value_net = make_target_network(self.value_net)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        pairs = [(self.q_net, self._target_q_net)]
        if self.value_net is not None:
            pairs.append((self.value_net, self._target_value_net))
        return pairs

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        q, q_none = self._target_q_net(batch[Columns.OBS][..., : self.own_dim])
        return {Q_ITEMS: q, Q_NONE: q_none}

    def get_non_inference_attributes(self) -> list[str]:
        return ["_target_q_net", "value_net", "_target_value_net"]

    def get_inference_action_dist_cls(self) -> Any:
        return self.action_dist_cls

    def get_exploration_action_dist_cls(self) -> Any:
        return self.action_dist_cls

    def get_train_action_dist_cls(self) -> Any:
        return self.action_dist_cls


def slateq_module_spec(own_space: gym.Space, global_state_dim: int, model: dict[str, Any]
                       ) -> RLModuleSpec:
    """The ``RLModuleSpec`` of a :class:`SlateQModule` (flattened spaces filled in by
    RLlib; ``epsilon`` comes from the algorithm config's model config)."""
    return RLModuleSpec(module_class=SlateQModule,
                        model_config={**model, "own_observation_space": own_space,
                                      "global_state_dim": global_state_dim})


def slateq_greedy_slates(module: Any, flat: torch.Tensor) -> Any:
    """Greedy action of a :class:`SlateQModule` for evaluation: the slate maximising
    ``Q(s, A)`` (``Algorithm.greedy``)."""
    import numpy as np

    from marlrec.algorithms.greedy_action import inference_mode

    inference_mode(module)
    with torch.no_grad():
        return module.greedy_slates(flat)[0].numpy().astype(np.int64)
