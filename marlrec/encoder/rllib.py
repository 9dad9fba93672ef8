"""Encoder pool observability inside RLlib training.

- :class:`EncoderMetricsEnvRunner`: RLlib's ``MultiAgentEnvRunner`` that times each
  ``sample()`` call and logs, from the encoder clients of its envs, the share of sampling
  time spent waiting for embeddings, texts encoded, client cache hit rate and call
  latency (p50/p95) under ``encoder/...`` in the env-runner metrics.
- :func:`encoder_pool_callback`: an ``RLlibCallback`` class whose ``on_train_result`` adds
  the pool's replica figures (texts/s, batch sizes, cache hit rate, batch latency) to
  every training result under ``encoder_pool``, so they reach Tune and W&B.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import ray
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

from marlrec.encoder.pool import ClientStats, EncoderClient, EncoderPoolConfig, pool_stats


def _clients(env: Any) -> list[EncoderClient]:
    """The encoder clients of a runner's (vectorised) env."""
    subs = getattr(env, "envs", None) or [env]
    found = []
    for sub in subs:
        encoder = getattr(getattr(sub, "unwrapped", sub), "encoder", None)
        if isinstance(encoder, EncoderClient):
            found.append(encoder)
    return found


def _snapshot(stats: ClientStats) -> tuple[float, int, int, int]:
    return stats.wait_s, stats.texts, stats.local_hits, len(stats.latencies_s)


class EncoderMetricsEnvRunner(MultiAgentEnvRunner):
    """Logs encoder-wait metrics per ``sample()`` call (see module docstring)."""

    def sample(self, *args: Any, **kwargs: Any):
        clients = _clients(self.env) if self.env is not None else []
        before = [_snapshot(c.stats) for c in clients]
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
