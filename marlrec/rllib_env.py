"""The ecosystem as an RLlib ``MultiAgentEnv``.

RLlib's ``ParallelPettingZooEnv`` takes ``possible_agents`` from the first ``reset()`` as a
set (unstable order), builds spaces only for those agents and never updates ``agents``;
this small wrapper keeps the PettingZoo env's stable agent order, per-agent spaces and live
``agents`` instead.

``env_config`` keys: ``preset`` (an ``envs.PRESETS`` name), ``overrides`` (a dict for
``envs.make_env``), ``encoder`` (``None`` for the env's default, or a picklable encoder
such as the pool's :class:`marlrec.encoder.pool.EncoderClient`), ``global_state_agents``
(agents whose observation becomes ``{"obs": own observation, "state": env.state()}``, for
MAPPO's centralised critic; default none) and ``marlrec_spec`` (the resolved experiment
spec, ignored by the env: it rides along so that every trial logs it).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from ray.rllib.env.multi_agent_env import MultiAgentEnv

import envs
from marlrec.encoder import resolve_encoder


class EcosystemMultiAgentEnv(MultiAgentEnv):
    """``envs.RecEcosystemEnv`` behind RLlib's multi-agent env API."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        config = dict(config or {})
        allowed = ["encoder", "global_state_agents", "marlrec_spec", "overrides", "preset"]
        unknown = sorted(set(config) - set(allowed))
        if unknown:
            raise ValueError(f"env_config keys {unknown} unknown; allowed: {allowed}")
        self.ecosystem = envs.make_env(config.get("preset", "interest_evolution"),
                                       encoder=resolve_encoder(config.get("encoder")),
                                       **dict(config.get("overrides") or {}))
        self.possible_agents = list(self.ecosystem.possible_agents)
        self.agents = []
        self.observation_spaces = {a: self.ecosystem.observation_space(a)
                                   for a in self.possible_agents}
        self.action_spaces = {a: self.ecosystem.action_space(a) for a in self.possible_agents}
        self.global_state_agents = list(config.get("global_state_agents") or [])
        strangers = sorted(set(self.global_state_agents) - set(self.possible_agents))
        if strangers:
            raise ValueError(f"env_config.global_state_agents: {strangers} are not agents of "
                             f"this env; its agents are {self.possible_agents}")
        for agent in self.global_state_agents:
            self.observation_spaces[agent] = gym.spaces.Dict(
                {"obs": self.observation_spaces[agent], "state": self.ecosystem.state_space})

    def _with_global_state(self, obs: dict[str, Any]) -> dict[str, Any]:
        if self.global_state_agents:
            state = self.ecosystem.state()
            for agent in self.global_state_agents:
                if agent in obs:
                    obs[agent] = {"obs": obs[agent], "state": state}
        return obs

    @property
    def encoder(self) -> Any:
        """The text encoder the ecosystem uses (the pool client when there is one)."""
        return self.ecosystem.encoder

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, infos = self.ecosystem.reset(seed=seed, options=options)
        self.agents = list(self.ecosystem.agents)
        return self._with_global_state(obs), infos

    def step(self, action_dict: dict[str, Any]):
        obs, rewards, terminated, truncated, infos = self.ecosystem.step(action_dict)
        over = not self.ecosystem.agents
        terminated["__all__"] = over and not any(truncated.values())
        truncated["__all__"] = over and any(truncated.values())
        # The agents of the step just taken, those that terminated with it included: RLlib
        # checks that every returned observation belongs to ``agents`` and reads who ended
        # from the termination flags.
        self.agents = list(obs)
        return self._with_global_state(obs), rewards, terminated, truncated, infos
