"""What the encoder pool did during a run's training, read back from Tune's ``result.json``.

With ``encoder_pool`` in the spec, every training result carries the pool's replica figures
(``encoder_pool``: :func:`marlrec.encoder.rllib.encoder_pool_callback`, totals over the
experiment) and each env runner's client figures of that iteration (``env_runners/
encoder/...``: :class:`marlrec.encoder.rllib.EncoderMetricsEnvRunner`).
:func:`encoder_pool_figures` sums them over every iteration of every run, for the console,
``report.md``, ``scores.json`` and W&B:

- ``texts``: texts (or text pieces: an additive encoder's env asks only for the pieces it
  has not seen) the replicas encoded over the experiment; ``texts_per_s`` of training time
  and ``texts_per_busy_s`` of the replicas' encoding time; ``mean_batch_texts`` per call;
- ``client_texts``, ``client_cache_hit_rate``: texts the envs asked their runner's client
  for, and the share answered from its cache without a remote call;
  ``replica_cache_hit_rate``: the share of texts a replica answered from its cache;
- ``wait_s`` and ``wait_share``: the env runners' time spent waiting for the encoder, and
  its share of their training time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def encoder_pool_figures(folder: Path) -> dict[str, float] | None:
    """The pool's figures of the experiment in ``folder`` (``None`` without a pool)."""
    runs = [rows for p in sorted(Path(folder).glob("*/*/result.json"))
            if (rows := [r for r in _results(p) if isinstance(r.get("encoder_pool"), dict)
                         and "error" not in r["encoder_pool"]])]
    if not runs:
        return None
    final = max((rows[-1]["encoder_pool"] for rows in runs), key=lambda p: p["texts"])
    every = [r for rows in runs for r in rows]

    def total(key: str) -> float:
        return float(sum(r.get("env_runners", {}).get(key, 0.0) for r in every))

    training_s = float(sum(r.get("time_this_iter_s", 0.0) for r in every))
    client_texts = total("encoder/texts")
    return {
        "runs": len(runs),
        "replicas": int(final["replicas"]),
        "texts": int(final["texts"]),
        "texts_per_s": final["texts"] / training_s if training_s else float("nan"),
        "texts_per_busy_s": float(final["texts_per_busy_s"]),
        "mean_batch_texts": float(final["mean_batch_texts"]),
        "replica_cache_hit_rate": float(final["cache_hit_rate"]),
        "client_texts": int(client_texts),
        "client_cache_hit_rate": (total("encoder/client_hits") / client_texts
                                  if client_texts else float("nan")),
        "wait_s": total("encoder/wait_s"),
        "wait_share": total("encoder/wait_s") / training_s if training_s else float("nan"),
    }


def encoder_pool_line(figures: dict[str, float], encoder: str) -> str:
    """One sentence of the figures, for the console and the report."""
    return (f"encoder pool ({figures['replicas']} {encoder} replica"
            f"{'s' if figures['replicas'] != 1 else ''}): {figures['texts']:,} texts encoded "
            f"({figures['texts_per_s']:,.1f}/s of training, "
            f"{figures['texts_per_busy_s']:,.0f}/s of encoding); the envs asked for "
            f"{figures['client_texts']:,} (client cache hit rate "
            f"{figures['client_cache_hit_rate']:.1%}; replica cache hit rate "
            f"{figures['replica_cache_hit_rate']:.1%}); encoder wait {figures['wait_s']:.1f} s, "
            f"{figures['wait_share']:.1%} of training time")
