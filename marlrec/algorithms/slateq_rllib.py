"""SlateQ on RLlib's new API stack: its config, algorithm and learner.

RLlib retired its old-stack SlateQ; this one reuses RLlib's DQN machinery where it fits
(the training loop: sample, store, replay, update; target-network syncing every
``target_network_update_freq`` steps with ``tau``; the epsilon schedule) and brings its own
parts: the module (:mod:`marlrec.algorithms.slateq_module`), the replay buffer that
pairs each slate with the response to it (:mod:`marlrec.algorithms.slateq_replay`) and the
loss below.

Loss per sampled transition ``(o, A, response, R, o', m, done)``:

- **SlateQ TD** (Ie et al. 2019, eq. 7 with the paper's Q-learning target, here over
  ``m`` steps): the Q-value of what the user consumed, ``Q(o, i)`` for the consumed item
  or ``Q(o, none)`` for none, regresses (Huber) on
  ``R + gamma^m (1 - done) max_A' Q_target(o', A')``, the next slate's value under the
  target Q-network and the online choice model, maximised as the module acts.
- **choice model**: the cross-entropy of the observed response among the slate's items and
  "none" under the conditional logit ``v`` (maximum likelihood).
- **centralised training** (``SlateQ-CTDE``): the bootstrap is ``V_target(o', g')``, the
  target copy of a state-value network that also reads the env's global state, and that
  network regresses (Huber) on the discounted return-to-go of the trajectory (Monte
  Carlo: the value of the policies that collected the data, the SARSA form of SlateQ's
  decomposition, Ie et al. 2019 sec. 4), with ``Q(o, i)`` its value given that ``i`` was
  consumed. Monte-Carlo targets keep the value from chasing its own bootstrap (TD
  targets with ``gamma`` near 1 inflated it in the RecSim pilots).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.dqn import DQN, DQNConfig
from ray.rllib.algorithms.dqn.torch.dqn_torch_learner import DQNTorchLearner
from ray.rllib.core.columns import Columns
from torch.nn import functional

from marlrec.algorithms.slateq_module import (
    CHOICE_LOGITS,
    NO_CHOICE_LOGIT,
    Q_ITEMS,
    Q_NONE,
    STATE_VALUE,
    TARGET_NEXT_VALUE,
)
from marlrec.algorithms.slateq_replay import SlateResponseEpisodeReplayBuffer

REPLAY_RATIO = 4
"""Replayed transitions per sampled env step of ``rollout_fragment_length="auto"``."""


class SlateQTorchLearner(DQNTorchLearner):
    """The SlateQ loss (module docstring)."""

    def compute_loss_for_module(self, *, module_id: str, config: Any, batch: dict[str, Any],
                                fwd_out: dict[str, Any]) -> torch.Tensor:
        actions = batch[Columns.ACTIONS].long()
        response = batch["slate_response"].long()
        consumed = response >= 0
        item = actions.gather(1, response.clamp(min=0).unsqueeze(1))  # (B, 1)
        q_taken = torch.where(consumed, fwd_out[Q_ITEMS].gather(1, item).squeeze(1),
                              fwd_out[Q_NONE])
        discount = config.gamma ** batch["n_step"].float() * (
            1.0 - batch[Columns.TERMINATEDS].float())
        target = batch[Columns.REWARDS] + discount * fwd_out[TARGET_NEXT_VALUE]
        td_error = q_taken - target.detach()
        loss_fn = (functional.huber_loss if config.td_error_loss_fn == "huber"
                   else functional.mse_loss)
        q_loss = (batch["weights"] * loss_fn(q_taken, target.detach(), reduction="none")).mean()
        slate_logits = fwd_out[CHOICE_LOGITS].gather(1, actions)
        logits = torch.cat([slate_logits, fwd_out[NO_CHOICE_LOGIT].unsqueeze(1)], dim=1)
        label = torch.where(consumed, response, torch.full_like(response, actions.shape[1]))
        choice_loss = functional.cross_entropy(logits, label)
        value_loss = torch.zeros(())
        if STATE_VALUE in fwd_out:  # centralised training: V(s, g) on the return-to-go
            value_loss = loss_fn(fwd_out[STATE_VALUE], batch["return_to_go"].float())
        self.metrics.log_dict({
            "qf_loss": q_loss.detach(), "choice_loss": choice_loss.detach(),
            "qf_mean": q_taken.detach().mean(), "td_error_mean": td_error.abs().mean().detach(),
            "consumed_share": consumed.float().mean(), "value_loss": value_loss.detach(),
        }, key=module_id, window=1)
        return q_loss + choice_loss + value_loss


class SlateQConfig(DQNConfig):
    """RLlib's DQN config with SlateQ's learner, replay buffer and defaults."""

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or SlateQ)
        self.replay_buffer_config = {"type": SlateResponseEpisodeReplayBuffer,
                                     "capacity": 100_000}
        self.double_q = False
        self.dueling = False
        self.num_steps_sampled_before_learning_starts = 1000
        self.train_batch_size_per_learner = 256

    def get_default_learner_class(self) -> type:
        return SlateQTorchLearner

    def get_rollout_fragment_length(self, worker_index: int = 0) -> int:
        """``"auto"``: each update replays :data:`REPLAY_RATIO` times the env steps sampled
        since the one before (DQN's ``auto`` samples ``n_step`` steps per update; SlateQ's
        buffer needs no fragment of ``n_step``); ``training_intensity`` rescales it."""
        if self.rollout_fragment_length != "auto":
            return self.rollout_fragment_length
        sub_envs = self.num_envs_per_env_runner * max(self.num_env_runners, 1)
        return max(1, self.total_train_batch_size // (REPLAY_RATIO * sub_envs))


class SlateQ(DQN):
    """DQN's training loop with :class:`SlateQConfig` and always SlateQ's buffer."""

    @classmethod
    def get_default_config(cls) -> SlateQConfig:
        return SlateQConfig()

    def _create_local_replay_buffer_if_necessary(self, config: Any
                                                 ) -> SlateResponseEpisodeReplayBuffer:
        """SlateQ's buffer with the config's ``capacity`` (RLlib's own would pair each slate
        with the previous slate's reward; ``replay_buffer_config["type"]`` is ignored)."""
        settings = {k: v for k, v in dict(config["replay_buffer_config"]).items()
                    if k in ("capacity", "batch_size_B", "seed")}
        return SlateResponseEpisodeReplayBuffer(
            **settings,
            metrics_num_episodes_for_smoothing=self.config.metrics_num_episodes_for_smoothing)
