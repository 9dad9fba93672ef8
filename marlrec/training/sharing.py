"""Sharing modes: which RLlib module each learned agent's experience trains.

| mode | learned agents |
|---|---|
| ``independent`` | one module per agent (module id = agent id) |
| ``per_role`` | one module per role (the usual parameter sharing) |
| ``shared`` | one module per distinct (observation, action) space pair |
| ``consensus`` | one module per agent, pulled toward its role's mean |
|  | (soft sharing, :mod:`marlrec.algorithms.consensus`) |

In this ecosystem every role has its own spaces, so ``shared`` gives one module per
learned role, like ``per_role``; it differs once roles share spaces. Pure Python: the spec
validator reads :data:`SHARING_MODES` without importing Ray.
"""

from __future__ import annotations

from typing import Any

SHARING_MODES = ("independent", "per_role", "shared", "consensus")


class AgentToModule:
    """A picklable ``policy_mapping_fn``: a fixed agent id -> module id table."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = dict(table)

    def __call__(self, agent_id: str, episode: Any = None, **kwargs: Any) -> str:
        return self.table[agent_id]


def module_table(env: Any, learned_roles: list[str], sharing: str) -> dict[str, str]:
    """Learned agent id -> module id of ``env`` (an ``envs.RecEcosystemEnv``) for a sharing
    mode (see the module docstring)."""
    if sharing not in SHARING_MODES:
        raise ValueError(f"sharing={sharing!r} is not one of {list(SHARING_MODES)}")
    table: dict[str, str] = {}
    groups: list[tuple[Any, Any]] = []
    for agent in env.possible_agents:
        role = env.role_of(agent)
        if role not in learned_roles:
            continue
        if sharing == "per_role":
            table[agent] = role
        elif sharing in ("independent", "consensus"):
            table[agent] = agent
        else:  # shared: one module per distinct (observation space, action space)
            key = (env.observation_space(agent), env.action_space(agent))
            if key not in groups:
                groups.append(key)
            table[agent] = f"shared_{groups.index(key)}"
    return table
