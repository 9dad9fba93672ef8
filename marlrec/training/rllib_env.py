"""The ecosystem as an RLlib ``MultiAgentEnv`` in which RLlib sees only the agents that learn.

Scripted roles (users driven by the choice model, static providers, a baseline slate
policy) act **inside** this env with :class:`envs.rollout.ScriptedRoles`, the batched code
of the standalone rollout, on the ecosystem's role-batched arrays. RLlib never sees their
agents: every RLlib agent costs per-step bookkeeping (episodes, connectors, module calls),
and a scripted one buys nothing for it.

The learned agents' observations are **flat** ``float32`` vectors built from the role
batch in one concatenation (:func:`envs.observation.flatten_batch`: the layout of RLlib's
``FlattenObservations``, keys in sorted order), so no connector flattens per-agent dicts;
with ``centralised_critic`` each vector is ``[own observation, env.state()]`` (MAPPO).
Each step's infos give a learned slate agent :data:`SLATE_RESPONSE`.

Seeding: a seeded ``reset(seed=s)`` splits ``s`` as :func:`envs.rollout` does
(:class:`envs.rollout.EpisodeSeeds`): episode ``e`` resets the ecosystem with the ``e``-th
seed of one stream, the scripted behaviours draw from the other; so an env reset with seed
``s`` whose learned agents act as a behaviour would plays the episodes of
``envs.rollout(..., seed=s)``. RLlib seeds each sub-env once (later resets pass ``None``);
:class:`EcosystemEnvRunner` makes that seed distinct per trial, env runner and sub-env.

``env_config`` keys: ``preset`` (an ``envs.PRESETS`` name), ``overrides`` (a dict for
``envs.make_env``), ``encoder`` (``None`` for the env's default, or a picklable encoder such
as the pool's :class:`marlrec.encoder.pool.EncoderClient`), ``scripted`` (role -> behaviour
name, ``envs.ROLE_BEHAVIOURS``; the roles not named learn; default: none scripted),
``centralised_critic`` (default false) and ``marlrec_spec`` (the resolved experiment spec,
ignored by the env: it rides along so that every trial logs it).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.env.multi_agent_env import MultiAgentEnv
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

import envs
from envs.observation import flat_space, flatten_batch
from envs.rollout import EpisodeSeeds, ScriptedRoles
from marlrec.encoder import resolve_encoder

SLATE_RESPONSE = "slate_response"
"""The slate agents' info key: ``env.slate_responses`` of the step, the platform's view of
the response to the slate the agent chose one step before (``envs.ecosystem``'s timing)."""

CONFIG_KEYS = ("centralised_critic", "encoder", "marlrec_spec", "overrides", "preset",
               "scripted", "state_encoder")


class EcosystemMultiAgentEnv(MultiAgentEnv):
    """``envs.RecEcosystemEnv`` behind RLlib's multi-agent env API (see module docstring)."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        config = dict(config or {})
        unknown = sorted(set(config) - set(CONFIG_KEYS))
        if unknown:
            raise ValueError(f"env_config keys {unknown} unknown; allowed: {list(CONFIG_KEYS)}")
        self.ecosystem = eco = envs.make_env(config.get("preset", "interest_evolution"),
                                             encoder=resolve_encoder(config.get("encoder")),
                                             state_encoder=resolve_encoder(
                                                 config.get("state_encoder")),
                                             **dict(config.get("overrides") or {}))
        scripted = dict(config.get("scripted") or {})
        strangers = sorted(set(scripted) - set(envs.ROLES))
        if strangers:
            raise ValueError(f"env_config.scripted: {strangers} are not roles; roles are "
                             f"{list(envs.ROLES)}")
        self.scripted_roles = tuple(r for r in envs.ROLES if r in scripted)
        self.learned_roles = tuple(r for r in envs.ROLES if r not in scripted)
        if not self.learned_roles:
            raise ValueError("env_config.scripted scripts every role: at least one must learn")
        self.scripted = ScriptedRoles(
            eco, {r: envs.role_behaviour(eco, r, scripted[r]) for r in self.scripted_roles},
            self.scripted_roles)
        self.centralised_critic = bool(config.get("centralised_critic", False))
        # learned agent -> (role, row of its role's batch)
        self._rows = {a: (eco.role_of(a), int(a.rsplit("_", 1)[1]))
                      for a in eco.possible_agents if eco.role_of(a) in self.learned_roles}
        self.possible_agents = list(self._rows)
        self._role_agents = {r: [a for a, (role, _) in self._rows.items() if role == r]
                             for r in self.learned_roles}
        extra = eco.state_space.shape[0] if self.centralised_critic else 0
        self.own_spaces = {r: eco.observation_space(self._role_agents[r][0])
                           for r in self.learned_roles}
        self.role_spaces = {r: _with_state(flat_space(s), eco.state_space) if extra
                            else flat_space(s) for r, s in self.own_spaces.items()}
        self.observation_spaces = {a: self.role_spaces[r] for a, (r, _) in self._rows.items()}
        self.action_spaces = {a: eco.action_space(a) for a in self.possible_agents}
        self.agents: list[str] = []
        self._acting: list[str] = []
        self._seeds: EpisodeSeeds | None = None
        self._episode = 0
        self._rng = np.random.default_rng()
        self.seeded_with: int | None = None  # the seed of the last seeded reset
        self._live: list[str] = []
        self._ecosystem_agents: list[str] | None = None

    @property
    def encoder(self) -> Any:
        """The ecosystem's item-text encoder (the pool client when the pool serves it)."""
        return self.ecosystem.encoder

    @property
    def state_encoder(self) -> Any:
        """The ecosystem's user-text encoder (the pool client when the pool serves it)."""
        return self.ecosystem.state_encoder

    # -- RLlib API ----------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._seeds, self._episode, self.seeded_with = EpisodeSeeds(seed), 0, seed
            self._rng = self._seeds.behaviour_rng
        episode_seed = None
        if self._seeds is not None:
            episode_seed = self._seeds.reset_seed(self._episode)
            self._episode += 1
        self.ecosystem.reset(seed=episode_seed, options=options)
        self._acting = self._live_agents()
        self.agents = list(self._acting)
        self._batch = self.ecosystem.role_observations()
        infos = {a: {} for a in self.agents}
        return self._observations(self.agents), self._text_infos(infos)

    def step(self, action_dict: dict[str, Any]):
        eco = self.ecosystem
        before = self._acting
        missing = [a for a in before if a not in action_dict]
        extra = [a for a in action_dict if a not in before]
        if missing or extra:
            raise ValueError(f"actions must be given for exactly the live learned agents; "
                             f"missing {missing[:5]}, not live or not learned {extra[:5]}")
        arrays = [self.scripted.act(role, self._batch[role], self._rng)
                  if role in self.scripted_roles else self._learned_actions(role, action_dict)
                  for role in envs.ROLES]
        rewards, _, _ = eco.step_arrays(*arrays)
        self._batch = eco.role_observations()
        self._acting = self._live_agents()
        over = not eco.agents
        truncated = over and eco.truncated
        still = set(self._acting)
        terminations = {a: not truncated and a not in still for a in before}
        truncations = dict.fromkeys(before, truncated)
        terminations["__all__"] = over and not truncated
        truncations["__all__"] = truncated
        reward = {a: float(rewards[self._rows[a][0]][self._rows[a][1]]) for a in before}
        infos: dict[str, dict] = {a: {} for a in before}
        if "slate_policy" in self.learned_roles:  # what SlateQ pairs with the last slate
            responses = eco.slate_responses.tolist()
            for agent in self._role_agents["slate_policy"]:
                infos[agent][SLATE_RESPONSE] = responses[self._rows[agent][1]]
        if over:
            summary = eco.episode_metrics()
            for a in before:
                infos[a]["episode_metrics"] = dict(summary)
        # ``agents``: those of the step just taken, the ones that terminated with it
        # included (RLlib checks that every returned observation belongs to ``agents`` and
        # reads who ended from the flags); the next step's actions come for ``_acting``.
        self.agents = list(before)
        return self._observations(before), reward, terminations, truncations, \
            self._text_infos(infos)

    # -- internals ----------------------------------------------------------------------

    def _live_agents(self) -> list[str]:
        """The learned agents that are live in the ecosystem (providers leave)."""
        live = self.ecosystem.agents
        if live is not self._ecosystem_agents:  # the list object changes when agents go
            alive = set(live)
            self._live = [a for a in self.possible_agents if a in alive]
            self._ecosystem_agents = live
        return self._live

    def _learned_actions(self, role: str, action_dict: dict[str, Any]) -> np.ndarray:
        size, shape = self.scripted.shapes[role]
        actions = np.zeros((size, *shape), np.int64)  # agents that left: ignored by the env
        for agent in self._role_agents[role]:
            if agent in action_dict:  # checked as the env's dict API checks it
                actions[self._rows[agent][1]] = self.ecosystem.agent_action(
                    action_dict, agent, shape)
        return actions

    def _observations(self, agents: list[str]) -> dict[str, np.ndarray]:
        state = self.ecosystem.state() if self.centralised_critic else None
        obs: dict[str, np.ndarray] = {}
        for role in self.learned_roles:
            rows = self._batch[role]
            count = len(rows[next(iter(rows))]) if isinstance(rows, dict) else len(rows)
            extra = None if state is None else np.broadcast_to(state, (count, state.size))
            flat = flatten_batch(rows, self.own_spaces[role], extra)
            for agent in self._role_agents[role]:
                obs[agent] = flat[self._rows[agent][1]]
        wanted = set(agents)
        return {a: v for a, v in obs.items() if a in wanted}

    def _text_infos(self, infos: dict[str, dict]) -> dict[str, dict]:
        """``user_state="text_deferred"``: the ecosystem's state texts and candidates in the
        slate agents' infos (every slot's agent is live while the episode runs)."""
        if "slate_policy" in self.learned_roles:
            self.ecosystem.add_state_texts(infos)
        return infos


def _with_state(own: gym.spaces.Box, state: gym.spaces.Box) -> gym.spaces.Box:
    """The flat ``[own observation, global state]`` space of a centralised critic."""
    return gym.spaces.Box(np.concatenate([own.low, state.low]),
                          np.concatenate([own.high, state.high]), dtype=np.float32)


def runner_seed(trial_seed: int, worker_index: int) -> int:
    """The first reset seed of an env runner's sub-envs (sub-env ``i`` gets it ``+ i``):
    a 32-bit draw from ``(trial_seed, worker_index)``, so trials and runners never share
    their envs' randomness as RLlib's ``seed + worker_index`` (+ ``i``) would."""
    return int(np.random.SeedSequence([trial_seed, worker_index]).generate_state(1)[0]
               % (2**31 - 2**16))


def process_cpus(config: Any, worker_index: int) -> int:
    """The CPUs Ray gives the process of env runner ``worker_index``: the trial's main
    process (which also holds the local learner) for index 0, a remote runner's own
    otherwise."""
    cpus = config.num_cpus_for_main_process if worker_index == 0 else \
        config.num_cpus_per_env_runner
    return max(1, int(cpus or 1))


class EcosystemEnvRunner(MultiAgentEnvRunner):
    """RLlib's ``MultiAgentEnvRunner`` that seeds its sub-envs with :func:`runner_seed` and
    gives torch as many threads as its process has CPUs (Ray sets no ``OMP_NUM_THREADS``
    for RLlib's actors, so torch would otherwise start a thread per core of the machine in
    every trial process)."""

    def __init__(self, *, config: Any, **kwargs: Any) -> None:
        super().__init__(config=config, **kwargs)
        index = int(self.worker_index or 0)
        torch.set_num_threads(process_cpus(config, index))
        if self._seed is not None:
            self._seed = runner_seed(int(config.seed), index)
