"""The env-to-module connector pipeline of ecosystem experiments.

The env gives the learned agents flat observations (:mod:`marlrec.training.rllib_env`), so RLlib's
default pipeline needs nothing added, except for ecosystems built with
``user_state="text_deferred"``: :class:`marlrec.encoder.rllib.EncodeUserStateTexts`
encodes the state texts of all the runner's sub-envs in one call and writes them into the
slate policies' observations.
"""

from __future__ import annotations

from typing import Any

from marlrec.encoder.rllib import EncodeUserStateTexts


def env_to_module_connectors():
    """An ``env_to_module_connector`` builder for :class:`marlrec.training.rllib_env.
    EcosystemMultiAgentEnv` (and vectorised copies of it)."""

    def build(env: Any = None, spaces: Any = None, device: Any = None) -> list[Any]:
        if env is None:  # RLlib only derives spaces: nothing to encode
            return []
        first = (getattr(env, "envs", None) or [env])[0]
        wrapper = getattr(first, "unwrapped", first)
        ecosystem = wrapper.ecosystem
        if (ecosystem.config.user_state == "text_deferred"
                and "slate_policy" in wrapper.learned_roles):
            return [EncodeUserStateTexts(ecosystem=ecosystem)]
        return []

    return build
