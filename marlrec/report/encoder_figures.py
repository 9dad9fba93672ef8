"""What the encoder pool did during a run's training, read back from Tune's ``result.json``.

With ``encoder_pool`` in the spec, every training result carries the pool's replica figures
(``encoder_pool``: :func:`marlrec.encoder.rllib.encoder_pool_callback`) and each env
runner's client figures (``env_runners/encoder/...``:
:class:`marlrec.encoder.rllib.EncoderMetricsEnvRunner`). :func:`encoder_pool_figures`
summarises them per experiment for the console, ``report.md`` and ``scores.json``:

- ``texts``: texts (or text pieces) the replicas encoded over the whole experiment, and
  ``texts_per_s`` of training time; ``texts_per_busy_s``: of the replicas' encoding time;
- ``replica_cache_hit_rate`` and ``client_cache_hit_rate``: texts answered from a
  replica's cache, and from the env runner's own client cache (never sent);
- ``mean_batch_texts``: texts per replica call (merged requests);
- ``wait_share``: the share of the env runners' sampling time spent waiting for the
  encoder (mean over runs of the last iterations' window).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _last_result(path: Path) -> dict[str, Any] | None:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


def encoder_pool_figures(folder: Path) -> dict[str, float] | None:
    """The pool's figures of the experiment in ``folder`` (``None`` without a pool)."""
    last = [r for p in sorted(Path(folder).glob("*/*/result.json"))
            if (r := _last_result(p)) is not None and isinstance(r.get("encoder_pool"), dict)
            and "error" not in r["encoder_pool"]]
    if not last:
        return None
    pools = [r["encoder_pool"] for r in last]
    final = max(pools, key=lambda p: p["texts"])  # the pool's totals count the experiment
    runners = [r.get("env_runners", {}) for r in last]
    training_s = sum(float(r.get("time_total_s", 0.0)) for r in last)

    def mean_of(key: str) -> float:
        values = [float(x[key]) for x in runners if key in x]
        return float(np.mean(values)) if values else float("nan")

    return {
        "runs": len(last),
        "replicas": int(final["replicas"]),
        "texts": int(final["texts"]),
        "texts_per_s": final["texts"] / training_s if training_s else float("nan"),
        "texts_per_busy_s": float(final["texts_per_busy_s"]),
        "mean_batch_texts": float(final["mean_batch_texts"]),
        "replica_cache_hit_rate": float(final["cache_hit_rate"]),
        "client_cache_hit_rate": mean_of("encoder/client_cache_hit_rate"),
        "wait_share": mean_of("encoder/wait_share"),
    }


def encoder_pool_line(figures: dict[str, float], encoder: str) -> str:
    """One sentence of the figures, for the console and the report."""
    return (f"encoder pool ({figures['replicas']} {encoder} replica"
            f"{'s' if figures['replicas'] != 1 else ''}): {figures['texts']:,} texts encoded "
            f"({figures['texts_per_s']:,.1f}/s of training, "
            f"{figures['texts_per_busy_s']:,.0f}/s of encoding), client cache hit rate "
            f"{figures['client_cache_hit_rate']:.1%}, replica cache hit rate "
            f"{figures['replica_cache_hit_rate']:.1%}, encoder wait "
            f"{figures['wait_share']:.1%} of sampling time")
