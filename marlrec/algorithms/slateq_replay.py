"""SlateQ's replay buffer: transitions that pair each slate with the response to it.

In the ecosystem a slate chosen at step ``t`` is shown at ``t + 1`` (``envs.ecosystem``'s
timing), so in an RLlib episode the reward returned with action ``a_t`` answers the slate
``a_(t-1)``, and the consumption that answers ``a_t`` arrives in the infos of the step
after it (``infos[t + 2][SLATE_RESPONSE]``, indexed like the observations). RLlib's
episode buffers pair ``a_t`` with the reward returned with it, which for this env is the
previous slate's. This buffer keeps each slate agent's trajectory whole and samples
transitions aligned to the response:

    (o_t, a_t, response to a_t, sum_{j<m} gamma^j r_(t+1+j), o_(t+m), done)

with ``r_k`` the reward RLlib stored with ``a_k`` and ``m = min(n_step, L - 1 - t)`` for a
trajectory of ``L`` actions; ``done`` when the episode terminated with the step that
answered ``a_(t+m-1)``; and the discounted return-to-go ``sum_j gamma^j r_(t+1+j)`` to the
trajectory's end (the Monte-Carlo target of SlateQ-CTDE's state value). A slate that
was never shown (its session ended before it, so the next user got a cold open: response
``envs.NOT_CHOSEN``) and the last action of a trajectory (never answered) give no
transition.

A trajectory is stored once its episode is done (chunks of a running episode wait in
``pending``); the oldest trajectories are evicted beyond ``capacity`` transitions.
``sample`` returns RLlib ``SingleAgentEpisode`` pairs ``[o_t, o_(t+m)]`` as RLlib's own
multi-agent buffer does, with ``n_step`` (``m``), ``weights``, ``slate_response`` and
``return_to_go`` in their extra model outputs: ``num_items`` transitions per module, uniformly.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.replay_buffers.episode_replay_buffer import EpisodeReplayBuffer

from envs.ecosystem import NOT_CHOSEN
from marlrec.training.rllib_env import SLATE_RESPONSE


@dataclass
class Trajectory:
    """One slate agent's steps in one episode: ``L`` actions and rewards, ``L + 1``
    observations and responses (``responses[k]`` from ``infos[k]``)."""

    episode_id: str
    agent_id: str
    module_id: str
    observations: list[np.ndarray]
    actions: list[np.ndarray]
    rewards: list[float]
    responses: list[int]
    terminated: bool = False
    truncated: bool = False
    _returns: dict[float, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def extend(self, chunk: SingleAgentEpisode, first: bool) -> None:
        """Appends a chunk of the episode (a successor chunk repeats the last
        observation and info of the one before it)."""
        skip = 0 if first else 1
        self.observations.extend(list(chunk.get_observations())[skip:])
        self.responses.extend(info.get(SLATE_RESPONSE, NOT_CHOSEN)
                              for info in list(chunk.get_infos())[skip:])
        self.actions.extend(list(chunk.get_actions()))
        self.rewards.extend(float(r) for r in chunk.get_rewards())
        self.terminated, self.truncated = chunk.is_terminated, chunk.is_truncated

    def returns(self, gamma: float) -> np.ndarray:
        """``G[k] = sum_j gamma^j r_(k+j)`` for every ``k <= L`` (``G[L] = 0``), computed once
        per stored trajectory and discount."""
        if gamma not in self._returns:
            g = np.zeros(len(self.rewards) + 1)
            for k in range(len(self.rewards) - 1, -1, -1):
                g[k] = self.rewards[k] + gamma * g[k + 1]
            self._returns[gamma] = g
        return self._returns[gamma]

    def answered(self) -> np.ndarray:
        """The steps ``t`` whose slate was shown and answered: ``t <= L - 2`` and
        ``responses[t + 2]`` is not ``NOT_CHOSEN``."""
        steps = np.arange(max(len(self.actions) - 1, 0))
        return steps[np.asarray(self.responses[2:], np.int64) != NOT_CHOSEN]


class SlateResponseEpisodeReplayBuffer(EpisodeReplayBuffer):
    """See the module docstring. ``capacity`` counts answered transitions."""

    def __init__(self, capacity: int = 100_000, *, batch_size_B: int = 16,
                 batch_length_T: int = 1, metrics_num_episodes_for_smoothing: int = 100,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(capacity=capacity, batch_size_B=batch_size_B,
                         batch_length_T=batch_length_T,
                         metrics_num_episodes_for_smoothing=metrics_num_episodes_for_smoothing)
        self.pending: dict[tuple[str, str], Trajectory] = {}
        self.stored: OrderedDict[int, Trajectory] = OrderedDict()
        self.steps: dict[int, np.ndarray] = {}  # trajectory key -> its answered steps
        self._next_key = 0
        self._size = 0
        self._index: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._size

    def add(self, episodes: Any) -> None:
        """Takes RLlib's sampled (multi-agent) episode chunks."""
        for episode in episodes if isinstance(episodes, list) else [episodes]:
            for agent_id, chunk in episode.agent_episodes.items():
                if not str(agent_id).startswith("slate_policy_"):
                    continue
                key = (episode.id_, agent_id)
                trajectory = self.pending.get(key)
                if trajectory is None and chunk.t_started > 0:
                    continue  # the rest of an episode whose start this buffer never saw
                first = trajectory is None
                if first:
                    trajectory = Trajectory(episode.id_, agent_id,
                                            episode.module_for(agent_id), [], [], [], [])
                    self.pending[key] = trajectory
                trajectory.extend(chunk, first)
                if episode.is_done or chunk.is_done:
                    self._store(self.pending.pop(key))

    def _store(self, trajectory: Trajectory) -> None:
        steps = trajectory.answered()
        if not steps.size:
            return
        self._index = None
        self.stored[self._next_key] = trajectory
        self.steps[self._next_key] = steps
        self._next_key += 1
        self._size += steps.size
        self._num_timesteps_added += steps.size
        while self._size > self.capacity and len(self.stored) > 1:
            old, _ = self.stored.popitem(last=False)
            self._size -= self.steps.pop(old).size

    def sample(self, num_items: int | None = None, *, n_step: int | None = 1,
               gamma: float = 0.99, **kwargs: Any) -> list[SingleAgentEpisode]:
        """``num_items`` aligned transitions per module (module docstring); other keyword
        arguments of RLlib's buffers (``beta``, ``batch_length_T``, ...) are ignored."""
        if not isinstance(n_step, int) or n_step < 1:
            raise ValueError(f"n_step={n_step!r}: SlateQ's buffer takes an integer >= 1")
        num_items = num_items or self.batch_size_B
        sampled: list[SingleAgentEpisode] = []
        for keys, steps in self._module_index().values():
            for i in self.rng.integers(0, len(keys), num_items):
                sampled.append(self._transition(self.stored[int(keys[i])], int(steps[i]),
                                                n_step, gamma))
        return sampled

    def _module_index(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per module, every stored transition as (trajectory key, step) arrays."""
        if self._index is None:
            parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
            for key, steps in self.steps.items():
                keys, all_steps = parts.setdefault(self.stored[key].module_id, ([], []))
                keys.append(np.full(steps.size, key))
                all_steps.append(steps)
            self._index = {m: (np.concatenate(k), np.concatenate(t))
                           for m, (k, t) in parts.items()}
        return self._index

    def _transition(self, tr: Trajectory, t: int, n_step: int, gamma: float
                    ) -> SingleAgentEpisode:
        last = len(tr.actions) - 1  # the last step that answered a slate
        m = min(n_step, last - t)
        ahead = np.asarray(tr.rewards[t + 1:t + 1 + m], np.float64)
        ret = float(np.sum(ahead * gamma ** np.arange(m)))
        done = t + m == last
        return SingleAgentEpisode(
            id_=tr.episode_id, agent_id=tr.agent_id, module_id=tr.module_id,
            multi_agent_episode_id=tr.episode_id,
            observations=[tr.observations[t], tr.observations[t + m]],
            actions=[tr.actions[t]], rewards=[ret],
            terminated=done and tr.terminated, truncated=done and tr.truncated,
            extra_model_outputs={"weights": [1.0], "n_step": [m],
                                 "slate_response": [tr.responses[t + 2]],
                                 "return_to_go": [float(tr.returns(gamma)[t + 1])]},
            len_lookback_buffer=0, t_started=t)

    def get_state(self) -> dict[str, Any]:
        return {"pending": self.pending, "stored": self.stored, "steps": self.steps,
                "next_key": self._next_key, "size": self._size,
                "added": self._num_timesteps_added, "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        self.pending, self.stored, self.steps = state["pending"], state["stored"], state["steps"]
        self._next_key, self._size = state["next_key"], state["size"]
        self._num_timesteps_added = state["added"]
        self._index = None
        self.rng.bit_generator.state = state["rng"]
