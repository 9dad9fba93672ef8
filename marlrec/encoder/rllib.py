"""Encoder pool observability inside RLlib training.

- :class:`EncoderMetricsEnvRunner`: marlrec's env runner that times each
  ``sample()`` call and logs, from the encoder clients of its envs, the share of sampling
  time spent waiting for embeddings, texts encoded, client cache hit rate and call
  latency (p50/p95) under ``encoder/...`` in the env-runner metrics.
- :func:`encoder_pool_callback`: an ``RLlibCallback`` class whose ``on_train_result`` adds
  the pool's replica figures (texts/s, batch sizes, cache hit rate, batch latency) to
  every training result under ``encoder_pool``, so they reach Tune and W&B.
- :class:`EncodeUserStateTexts`: the env-to-module connector for envs built with
  ``user_state="text_deferred"``: one encoder call per runner step for the state texts of
  all its sub-envs (:func:`marlrec.training.connectors.env_to_module_connectors` adds it).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import ray
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.connectors.connector_v2 import ConnectorV2

from marlrec.encoder.pool import ClientStats, EncoderClient, EncoderPoolConfig, pool_stats
from marlrec.encoder.text_state import TextStateObservations
from marlrec.training.rllib_env import EcosystemEnvRunner


def _clients(env: Any) -> list[EncoderClient]:
    """The encoder clients of a runner's (vectorised) env."""
    subs = getattr(env, "envs", None) or [env]
    found: dict[int, EncoderClient] = {}  # sub-envs built from one env_config share one
    for sub in subs:
        env = getattr(sub, "unwrapped", sub)
        for encoder in (getattr(env, "encoder", None), getattr(env, "state_encoder", None)):
            if isinstance(encoder, EncoderClient):
                found[id(encoder)] = encoder
    return list(found.values())


def _snapshot(stats: ClientStats) -> tuple[float, int, int, int]:
    return stats.wait_s, stats.texts, stats.local_hits, len(stats.latencies_s)


class EncoderMetricsEnvRunner(EcosystemEnvRunner):
    """Logs encoder-wait metrics per ``sample()`` call (see module docstring)."""

    def sample(self, *args: Any, **kwargs: Any):
        clients = _clients(self.env) if self.env is not None else []
        before = [_snapshot(c.stats) for c in clients]
        calls_before = sum(c.stats.calls for c in clients)
        started = time.perf_counter()
        samples = super().sample(*args, **kwargs)
        elapsed = time.perf_counter() - started
        if clients:
            wait = texts = hits = 0.0
            latencies: list[float] = []
            for client, (w0, t0, h0, n0) in zip(clients, before, strict=True):
                wait += client.stats.wait_s - w0
                texts += client.stats.texts - t0
                hits += client.stats.local_hits - h0
                latencies += client.stats.latencies_s[n0:]
            m = self.metrics
            m.log_value("encoder/wait_share", wait / max(elapsed, 1e-9), window=20)
            m.log_value("encoder/wait_s", wait, reduce="sum")
            m.log_value("encoder/texts", texts, reduce="sum")
            m.log_value("encoder/client_hits", hits, reduce="sum")
            m.log_value("encoder/calls", sum(c.stats.calls for c in clients) - calls_before,
                        reduce="sum")
            m.log_value("encoder/client_cache_hit_rate", hits / max(1.0, texts), window=20)
            if latencies:
                m.log_value("encoder/latency_p50_s", float(np.percentile(latencies, 50)),
                            window=20)
                m.log_value("encoder/latency_p95_s", float(np.percentile(latencies, 95)),
                            window=20)
        return samples


def encoder_pool_callback(config: EncoderPoolConfig) -> type[RLlibCallback]:
    """An ``RLlibCallback`` class reporting the pool named by ``config`` in each result."""

    class EncoderPoolCallback(RLlibCallback):
        pool_config = config

        def __init__(self) -> None:
            super().__init__()
            self._last_texts = 0
            self._last_time = time.time()

        def on_train_result(self, *, algorithm: Any, metrics_logger: Any = None,
                            result: dict, **kwargs: Any) -> None:
            try:
                stats = pool_stats(self.pool_config, reset=True)
            except (ValueError, ray.exceptions.RayError) as exc:  # never fail training
                result["encoder_pool"] = {"error": str(exc)}
                return
            now = time.time()
            stats["texts_per_s"] = (stats["texts"] - self._last_texts) / max(
                1e-9, now - self._last_time)
            self._last_texts, self._last_time = stats["texts"], now
            for key in ("batch_sizes", "batch_requests"):
                stats.pop(key)
            result["encoder_pool"] = stats

    return EncoderPoolCallback


class EncodeUserStateTexts(ConnectorV2):
    """Puts the encoded user-state texts into the slate policies' flat observations.

    For envs built with ``user_state="text_deferred"``: each step, the env leaves the
    state text of session ``j`` and its candidates' catalog indices in
    ``infos["slate_policy_j"]`` (``user_state_text``, ``candidate_items``). This connector
    collects those texts from every episode of the runner (all sub-envs) and writes them,
    encoded in **one** call, with :class:`marlrec.encoder.text_state.TextStateObservations`
    (the code evaluation uses too). The Learner sees the observations as written here.
    """

    def __init__(self, input_observation_space: Any = None, input_action_space: Any = None,
                 *, ecosystem: Any, **kwargs: Any) -> None:
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.text_states = TextStateObservations(ecosystem)

    def __call__(self, *, rl_module: Any, batch: dict, episodes: list, explore: Any = None,
                 shared_data: Any = None, **kwargs: Any) -> Any:
        targets, texts, candidates = [], [], []
        for sa_episode in self.single_agent_episode_iterator(
                episodes, agents_that_stepped_only=True):
            if not str(sa_episode.agent_id).startswith("slate_policy_"):
                continue
            info = sa_episode.get_infos(-1) or {}
            if "user_state_text" in info:
                targets.append(sa_episode)
                texts.append(info["user_state_text"])
                candidates.append(info["candidate_items"])
        if texts:
            flat = np.stack([np.asarray(e.get_observations(-1), np.float32) for e in targets])
            self.text_states.write(flat, texts, np.stack(candidates))
            for i, sa_episode in enumerate(targets):
                sa_episode.set_observations(at_indices=-1, new_data=flat[i])
        return batch
