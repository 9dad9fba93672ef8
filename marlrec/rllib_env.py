"""The ecosystem as an RLlib ``MultiAgentEnv``.

RLlib's ``ParallelPettingZooEnv`` takes ``possible_agents`` from the first ``reset()`` as a
set (unstable order), builds spaces only for those agents and never updates ``agents``;
this small wrapper keeps the PettingZoo env's stable agent order, per-agent spaces and live
``agents`` instead.

``env_config`` keys: ``preset`` (an ``envs.PRESETS`` name), ``overrides`` (a dict for
``envs.make_env``), ``encoder`` (``None`` for the env's default, or a picklable encoder
such as the pool's :class:`marlrec.encoder.pool.EncoderClient`) and ``marlrec_spec`` (the
resolved experiment spec, ignored by the env: it rides along so that every trial logs it).
"""

from __future__ import annotations

from typing import Any

from ray.rllib.env.multi_agent_env import MultiAgentEnv

import envs
from marlrec.encoder import resolve_encoder


class EcosystemMultiAgentEnv(MultiAgentEnv):
    """``envs.RecEcosystemEnv`` behind RLlib's multi-agent env API."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        config = dict(config or {})
        unknown = sorted(set(config) - {"preset", "overrides", "encoder", "marlrec_spec"})
        if unknown:
            raise ValueError(f"env_config keys {unknown} unknown; allowed: "
                             "['encoder', 'marlrec_spec', 'overrides', 'preset']")
        self.ecosystem = envs.make_env(config.get("preset", "interest_evolution"),
                                       encoder=resolve_encoder(config.get("encoder")),
                                       **dict(config.get("overrides") or {}))
        self.possible_agents = list(self.ecosystem.possible_agents)
        self.agents = []
        self.observation_spaces = {a: self.ecosystem.observation_space(a)
                                   for a in self.possible_agents}
        self.action_spaces = {a: self.ecosystem.action_space(a) for a in self.possible_agents}

    @property
    def encoder(self) -> Any:
        """The text encoder the ecosystem uses (the pool client when there is one)."""
        return self.ecosystem.encoder

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, infos = self.ecosystem.reset(seed=seed, options=options)
        self.agents = list(self.ecosystem.agents)
        return obs, infos

    def step(self, action_dict: dict[str, Any]):
        obs, rewards, terminated, truncated, infos = self.ecosystem.step(action_dict)
        self.agents = list(self.ecosystem.agents)
        terminated["__all__"] = not self.agents and not any(truncated.values())
        truncated["__all__"] = not self.agents and any(truncated.values())
        return obs, rewards, terminated, truncated, infos
