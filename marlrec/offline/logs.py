"""Logged interactions: what a stochastic logging policy showed, with its propensities, the
users' responses, and (a simulator's privilege) every target policy's slate and its true
expected value on the same context.

One row per slate decision that was shown (a decision of a session that ends at its step is
discarded by the env, and so is not logged), in RLlib's offline column names where one
exists (``obs``, ``actions``, ``rewards``, ``action_prob``, ``action_logp``, ``agent_id``,
``t``), each row a one-step episode for RLlib's offline algorithms (``eps_id`` unique per
row, ``new_obs`` = ``obs``, ``terminateds`` true: the contextual-bandit view of the log,
which :mod:`marlrec.offline.training` trains on); ``episode`` is the rollout episode:

- ``obs``: the slate policy's flat observation (:func:`envs.observation.flatten_batch`);
- ``actions``: the slate's candidate positions; ``action_prob``: its probability under the
  logging policy (``action_logp`` its log); ``logging_weights``: the logging policy's
  Plackett-Luce weights of every candidate (any slate's probability follows from them);
- ``rewards``: the slate policy's reward for the slate (the env's objective; watch time by
  default); ``clicked_position``: the slate position the user consumed, -1 for none;
  ``expected_reward``: the slate's expected watch time under the users' true choice model;
- ``candidate_items`` and ``candidate_features`` (``(C, F)`` flattened): what a reward model
  reads;
- per target policy ``<name>``: ``target_<name>_slate`` (its slate on this context, repeats
  resolved as the env shows them) and ``target_<name>_value`` (that slate's expected watch
  time: the target's true value on this context; for ``random``, the mean over every
  ordered slate, its exact value).

:func:`write_parquet` writes the table to a Parquet file atomically (a ``.tmp`` sibling
renamed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

import envs
from envs.ecosystem import resolve_repeats
from envs.observation import flatten_batch
from marlrec.offline.logging_policy import (
    baseline_scores,
    ordered_slates,
    position_softmax,
    sample_slates,
)

TARGET_BASELINES = ("greedy_by_appeal", "popularity", "greedy_by_similarity", "random")
"""Scripted slate policies an off-policy study can target (``random``: uniform over
slates without repeats, the one stochastic target)."""


def target_slates(name: str, obs: dict[str, np.ndarray], env: Any,
                  rng: np.random.Generator) -> np.ndarray:
    """``(B, S)`` target ``name``'s slate positions on ``obs``, repeats resolved; for
    ``random`` a uniform draw (its value is then an average over the draws)."""
    if name not in TARGET_BASELINES:
        raise ValueError(f"target {name!r} is not one of {list(TARGET_BASELINES)}")
    behaviour = envs.BEHAVIOURS[name].build(env)
    positions = behaviour.act_batch(obs, rng)
    return resolve_repeats(positions, env.config.num_candidates)[0]


def collect_logs(env: Any, behaviours: dict[str, Any], baseline: str, temperature: float,
                 targets: list[str], episodes: int, seed: int,
                 progress: Any = None) -> dict[str, np.ndarray]:
    """Rolls out ``episodes`` episodes (seeded ``seed + e``) with the logging policy (the
    Plackett-Luce softmax of ``baseline``'s scores at ``temperature``) for every slate and
    ``behaviours`` for users and providers; returns the logged columns (module docstring).
    ``progress()`` after each episode."""
    s = env.config.slate_size
    space = env.observation_space("slate_policy_0")
    actors = envs.ScriptedRoles(env, behaviours, roles=("user", "provider"))
    every = ordered_slates(env.config.num_candidates, s)
    rows: dict[str, list[Any]] = {k: [] for k in (
        "episode", "t", "agent_id", "obs", "actions", "action_prob", "logging_weights",
        "rewards", "clicked_position", "expected_reward", "candidate_items",
        "candidate_features", *(f"target_{n}_{c}" for n in targets for c in ("slate",
                                                                              "value")))}
    for e in range(episodes):
        env.reset(seed=seed + e)
        rng = np.random.default_rng((seed, e))
        pending: dict[str, Any] | None = None
        while env.agents:
            obs = env.role_observations()
            slate_obs = obs["slate_policy"]
            weights = position_softmax(
                baseline_scores(baseline, slate_obs["candidate_features"]), temperature)
            positions, prob = sample_slates(weights, s, rng)
            decided = {"obs": flatten_batch(slate_obs, space), "actions": positions,
                       "action_prob": prob, "logging_weights": weights,
                       "candidate_items": env.candidate_items.copy(),
                       "candidate_features": slate_obs["candidate_features"].reshape(
                           positions.shape[0], -1).copy(), "t": env.t,
                       "targets": {n: target_slates(n, slate_obs, env, rng) for n in targets}}
            users = actors.act("user", obs["user"], rng)
            rewards, ended, _ = env.step_arrays(positions, users,
                                                actors.act("provider", obs["provider"], rng))
            if pending is not None:  # the slates decided last step were shown now
                shown = pending["slots"]
                for key in ("obs", "actions", "action_prob", "logging_weights",
                            "candidate_items", "candidate_features"):
                    rows[key].extend(pending[key][shown])
                rows["rewards"].extend(rewards["slate_policy"][shown])
                clicked = users[shown]
                rows["clicked_position"].extend(np.where(clicked < s, clicked, -1))
                rows["expected_reward"].extend(pending["expected"][shown])
                for n in targets:
                    rows[f"target_{n}_slate"].extend(pending["targets"][n][shown])
                    rows[f"target_{n}_value"].extend(pending["target_values"][n][shown])
                rows["episode"].extend([e] * shown.size)
                rows["t"].extend([pending["t"]] * shown.size)
                rows["agent_id"].extend(f"slate_policy_{j}" for j in shown)
            if not env.agents:
                break
            # the slates decided now are shown next step, to the users the env holds now
            # (sessions that ended now got a new user and a cold-open slate instead)
            items = decided["candidate_items"]
            b = np.arange(items.shape[0])[:, None]
            decided["expected"] = env.expected_engagement(items[b, positions])
            decided["target_values"] = {
                n: env.expected_engagement(items[b, slates])
                for n, slates in decided["targets"].items() if n != "random"}
            if "random" in targets:  # uniform over every ordered slate: its exact mean
                decided["target_values"]["random"] = np.mean(
                    [env.expected_engagement(items[b, slate[None]]) for slate in every],
                    axis=0)
            decided["slots"] = np.setdiff1d(np.arange(items.shape[0]), ended)
            pending = decided
        if progress is not None:
            progress()
    return {k: np.array(v) if k not in ("obs", "logging_weights", "candidate_features",
                                         "actions", "candidate_items")
            or not v else np.stack(v) for k, v in rows.items()}


def write_parquet(columns: dict[str, np.ndarray], path: Path) -> Path:
    """The logged columns as one Parquet file at ``path``, written atomically; 2-D columns
    become list columns (RLlib's offline readers take ``obs`` and ``actions`` so)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name, values in columns.items():
        arrays[name] = pa.array(list(values)) if values.ndim > 1 else pa.array(values)
    arrays["action_logp"] = pa.array(np.log(columns["action_prob"]))
    # each decision as a one-step episode (the contextual-bandit view of the log), the
    # columns RLlib's offline pre-learner builds episodes from
    n = columns["rewards"].size
    arrays["eps_id"] = pa.array([f"{e}-{t}-{a}" for e, t, a in zip(
        columns["episode"], columns["t"], columns["agent_id"], strict=True)])
    arrays["new_obs"] = arrays["obs"]
    arrays["terminateds"] = pa.array(np.ones(n, bool))
    arrays["truncateds"] = pa.array(np.zeros(n, bool))
    table = pa.table(arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def read_parquet(path: Path) -> dict[str, np.ndarray]:
    """The columns :func:`write_parquet` wrote, list columns back as 2-D arrays."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    out = {}
    for name in table.column_names:
        values = table.column(name).to_pylist()
        out[name] = np.array(values)
    return out
