"""The env-to-module connector pipeline of ecosystem experiments.

1. For ecosystems built with ``user_state="text_deferred"``:
   :class:`marlrec.encoder.rllib.EncodeUserStateTexts` encodes the state texts of all the
   runner's sub-envs in one call and writes them into the slate policies' observations.
2. ``FlattenObservations`` for the **learned** agents only: scripted modules read their
   Dict observations as the env gives them (:mod:`marlrec.scripted_modules`).
"""

from __future__ import annotations

from typing import Any

from ray.rllib.connectors.env_to_module import FlattenObservations

from marlrec.encoder.rllib import EncodeUserStateTexts


def env_to_module_connectors(learned_agents: list[str] | None = None):
    """An ``env_to_module_connector`` builder; ``learned_agents=None`` flattens every
    agent's observation."""
    agent_ids = None if learned_agents is None else list(learned_agents)

    def build(env: Any = None, spaces: Any = None, device: Any = None) -> list[Any]:
        pieces: list[Any] = []
        if env is not None:  # None when RLlib only derives spaces: nothing to encode
            first = (getattr(env, "envs", None) or [env])[0]
            ecosystem = getattr(first, "unwrapped", first).ecosystem
            if ecosystem.config.user_state == "text_deferred":
                pieces.append(EncodeUserStateTexts(encoder=ecosystem.encoder,
                                                   centre=ecosystem.state_centre))
        return [*pieces, FlattenObservations(multi_agent=True, agent_ids=agent_ids)]

    return build
