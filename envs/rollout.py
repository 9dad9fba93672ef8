"""Standalone rollouts of any mix of scripted behaviours, without Ray.

``behaviours`` maps a role (``"slate_policy"``, ``"user"``, ``"provider"``) or an agent id
to a behaviour (see :mod:`envs.behaviours`); an agent id entry overrides its role's. All
agents that share one behaviour object are served by one batched call per step, so a
role-level mapping costs one call per role and step.

A behaviour with an ``act_with_env(env, rows, obs, rng)`` method is called with the env and
the slots / providers it acts for instead of ``act_batch``: privileged baselines (e.g.
:class:`marlrec.evaluation.collaborative_filtering.CollaborativeFilteringSlate`, which needs the
user's identity) read the env's state that no observation carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from envs.behaviours import Behaviour
from envs.ecosystem import ROLES, RecEcosystemEnv


@dataclass
class RolloutResult:
    """Per-episode metrics and returns of a rollout."""

    episode_metrics: list[dict[str, float]] = field(default_factory=list)
    role_returns: list[dict[str, float]] = field(default_factory=list)
    # per episode, its sessions by user group (RecEcosystemEnv.group_stats)
    group_stats: list[dict[str, Any]] = field(default_factory=list)
    env_steps: int = 0
    user_steps: int = 0

    def mean_metrics(self) -> dict[str, float]:
        """Each metric averaged over the episodes."""
        keys = self.episode_metrics[0].keys() if self.episode_metrics else []
        return {k: float(np.mean([m[k] for m in self.episode_metrics])) for k in keys}


def _groups(env: RecEcosystemEnv, behaviours: Mapping[str, Behaviour],
            roles: tuple[str, ...]) -> dict[str, list[tuple[Behaviour, np.ndarray]]]:
    """Per role, the behaviours with the indices (slots / providers) they act for."""
    unknown = sorted(k for k in behaviours if k not in ROLES and k not in env.possible_agents)
    if unknown:
        raise ValueError(f"behaviours keys {unknown} are neither roles {ROLES} nor agents of "
                         f"this env")
    groups: dict[str, list[tuple[Behaviour, np.ndarray]]] = {}
    for role in roles:
        agents = [a for a in env.possible_agents if env.role_of(a) == role]
        chosen = [behaviours.get(a, behaviours.get(role)) for a in agents]
        missing = [a for a, b in zip(agents, chosen, strict=True) if b is None]
        if missing:
            raise ValueError(f"no behaviour for role {role!r} (agents {missing[:3]}...): give "
                             f"behaviours[{role!r}] or one per agent")
        by_object: dict[int, tuple[Behaviour, list[int]]] = {}
        for i, b in enumerate(chosen):
            by_object.setdefault(id(b), (b, []))[1].append(i)
        groups[role] = [(b, np.array(idx)) for b, idx in by_object.values()]
    return groups


class ScriptedRoles:
    """The scripted behaviours of some roles of one env, acting on role-batched
    observations: one batched call per behaviour object and step. The standalone
    :func:`rollout` acts for every role with it; the RLlib env wrapper
    (``marlrec.training.rllib_env``) for the roles that do not learn, so training, evaluation and
    rollouts run the same code."""

    def __init__(self, env: RecEcosystemEnv, behaviours: Mapping[str, Behaviour],
                 roles: tuple[str, ...] = ROLES) -> None:
        self.env = env
        self.roles = tuple(roles)
        self.groups = _groups(env, behaviours, self.roles)
        b, s = env.config.num_sessions, env.config.slate_size
        self.shapes = {"slate_policy": (b, (s,)), "user": (b, ()),
                       "provider": (env.catalog.num_providers, ())}

    def act(self, role: str, obs: Any, rng: np.random.Generator) -> np.ndarray:
        """The actions ``(rows, *action shape)`` of every agent of ``role``."""
        size, shape = self.shapes[role]
        actions = np.zeros((size, *shape), np.int64)
        for behaviour, idx in self.groups[role]:
            whole = idx.size == size
            if isinstance(obs, dict):
                batch = obs if whole else {k: v[idx] for k, v in obs.items()}
            else:
                batch = obs if whole else obs[idx]
            if hasattr(behaviour, "act_with_env"):  # privileged baselines read the env
                chosen = np.asarray(behaviour.act_with_env(self.env, idx, batch, rng))
            else:
                chosen = np.asarray(behaviour.act_batch(batch, rng))
            if chosen.shape != (idx.size, *shape) or chosen.dtype.kind not in "iu":
                raise ValueError(f"{behaviour!r}.act_batch returned {chosen.dtype} actions of "
                                 f"shape {chosen.shape}; expected integers of shape "
                                 f"{(idx.size, *shape)}")
            actions[idx] = chosen
        return actions


class EpisodeSeeds:
    """The seeds of a sequence of episodes from one ``seed``, in two independent streams:
    episode ``e``'s env reset seed (:meth:`reset_seed`) and the behaviours' generator
    (:attr:`behaviour_rng`), so behaviours never replay the env's random draws."""

    def __init__(self, seed: int) -> None:
        self._env_stream, behaviour_stream = np.random.SeedSequence(seed).spawn(2)
        self.behaviour_rng = np.random.default_rng(behaviour_stream)

    def reset_seeds(self, episodes: int) -> list[int]:
        return [int(s) for s in self._env_stream.generate_state(episodes, np.uint32)]

    def reset_seed(self, episode: int) -> int:
        """Episode ``episode``'s reset seed (the same in any number of episodes)."""
        return self.reset_seeds(episode + 1)[episode]


def seed_streams(seed: int, episodes: int) -> tuple[list[int], np.random.Generator]:
    """The env reset seed of each episode and the behaviours' generator
    (:class:`EpisodeSeeds`)."""
    seeds = EpisodeSeeds(seed)
    return seeds.reset_seeds(episodes), seeds.behaviour_rng


def rollout(env: RecEcosystemEnv, behaviours: Mapping[str, Behaviour], episodes: int = 1,
            seed: int = 0, progress: bool = False) -> RolloutResult:
    """Runs ``episodes`` episodes with scripted ``behaviours``. ``seed`` is split into two
    independent streams: one seeds the env's reset of each episode, the other the
    behaviours' generator; the same call gives the same result, and episode ``e`` of
    ``rollout(..., seed)`` is the same episode in every call with that seed."""
    if not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes={episodes!r} must be an integer >= 1")
    actors = ScriptedRoles(env, behaviours)
    episode_seeds, rng = seed_streams(seed, episodes)
    result = RolloutResult()
    bar = None
    if progress:
        from tqdm import tqdm  # optional: only for interactive use

        bar = tqdm(total=episodes, unit="episode", desc="rollout")
    for episode in range(episodes):
        env.reset(seed=int(episode_seeds[episode]))
        returns = {role: 0.0 for role in ROLES}
        steps = 0
        while env.agents:  # the horizon, or the session's end with session_ends_episode
            obs = env.role_observations()
            rewards, _, _ = env.step_arrays(*(actors.act(role, obs[role], rng)
                                              for role in ROLES))
            for role in ROLES:
                returns[role] += float(rewards[role].sum())
            steps += 1
        if bar is not None:
            bar.update()
        result.episode_metrics.append(env.episode_metrics())
        result.role_returns.append(returns)
        result.group_stats.append(env.group_stats())
        result.env_steps += steps
        result.user_steps += steps * env.config.num_sessions
    if bar is not None:
        bar.close()
    return result
