"""The ecosystem's episode metrics in RLlib results.

The env puts ``episode_metrics`` (engagement, CTR, session length, user utility, catalog
coverage, intra-list diversity, novelty, provider exposure Gini, active providers, ...; see
``envs/metrics.py``) in every agent's info at the last step. :class:`EcosystemMetricsCallback`
logs them under ``env_runners/ecosystem/<metric>`` (mean over the episodes of an
iteration), so they reach Tune's CSV/JSON and W&B next to RLlib's per-agent and per-module
returns (``env_runners/agent_episode_returns_mean``, ``module_episode_returns_mean``).
"""

from __future__ import annotations

from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback


def final_episode_metrics(episode: Any) -> dict[str, float] | None:
    """The ``episode_metrics`` info of a finished multi-agent episode, if any agent has it."""
    for agent_episode in episode.agent_episodes.values():
        infos = agent_episode.get_infos()
        last = infos[-1] if len(infos) else None
        if isinstance(last, dict) and "episode_metrics" in last:
            return last["episode_metrics"]
    return None


class EcosystemMetricsCallback(RLlibCallback):
    """Logs the env's episode metrics of every finished episode."""

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None,
                       **kwargs: Any) -> None:
        metrics = final_episode_metrics(episode)
        if metrics is None or metrics_logger is None:
            return
        for name, value in metrics.items():
            if value == value:  # NaN: the episode had none of that kind (cold start)
                metrics_logger.log_value(("ecosystem", name), float(value), window=100)
