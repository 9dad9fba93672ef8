"""What a ``text`` user state costs the env, by how it is encoded (issue 22).

The quickstart's env (MovieLens-100k, MiniLM item vectors, 8 sessions, slates of 2 out
of 10, scripted random slates, the choice-model users, static studios), rolled out with
``envs.rollout`` on one thread, in one run:

a. ``item_mean``: the mean of the watched items' vectors (no text encoded): the reference;
b. ``static_incremental``: ``text`` states from the static encoder, each profile and title
   encoded once and states composed from their piece sums (``envs.encoding.
   IncrementalStateTexts``), the quickstart's setting;
c. ``static_whole``: the same encoder seen as non-additive, so every changed state text is
   tokenized and encoded whole (with its text cache);
d. ``minilm_whole`` (``--minilm``): the transformer encoding every changed state text.

Every configuration plays the same episodes (the same seeds) after ``--warmup`` episodes
(default 1) that fill the caches; random slates keep meeting titles the env has not
encoded yet for many episodes, so ``--warmup 20`` measures the composition with full piece
tables. The rate is env steps (one step of all sessions) per second of rollout.

Usage::

    .venv/bin/python benchmarks/text_state_throughput.py [--episodes 5] [--warmup 1] [--minilm]

Prints progress on stderr, a table, and as the last line of stdout a JSON object with
``steps_per_s`` per configuration and ``static_incremental_vs_item_mean`` (the time ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from typing import Any

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

import envs  # noqa: E402

PARAMS = {"catalog": "movielens-100k", "num_sessions": 8, "num_candidates": 10,
          "slate_size": 2, "horizon": 100}


class WholeText:
    """An encoder seen as non-additive: the env encodes every changed state text whole."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, texts):
        return self.inner(texts)


def timed_rollout(env: envs.RecEcosystemEnv, episodes: int, warmup: int) -> float:
    behaviours = envs.scripted_behaviours(env, "random")
    envs.rollout(env, behaviours, episodes=warmup, seed=99)  # caches, the pieces seen
    started = time.perf_counter()
    envs.rollout(env, behaviours, episodes=episodes, seed=0)
    return episodes * env.config.horizon / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1,
                        help="episodes before the clock starts (random slates meet new "
                             "titles for many episodes: 20 measures full piece tables)")
    parser.add_argument("--minilm", action="store_true",
                        help="also time the transformer encoding every state text")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from marlrec.encoder import TransformersTextEncoder
    from marlrec.encoder.static_encoder import StaticTextEncoder

    minilm = TransformersTextEncoder(torch_threads=1)
    static = StaticTextEncoder()
    configs = {
        "item_mean": dict(encoder=minilm, user_state="item_mean"),
        "static_incremental": dict(encoder=minilm, state_encoder=static, user_state="text"),
        "static_whole": dict(encoder=minilm, state_encoder=WholeText(static),
                             user_state="text"),
    }
    if args.minilm:
        configs["minilm_whole"] = dict(encoder=minilm, user_state="text")
    rates = {}
    for name, config in configs.items():
        print(f"{name} ...", file=sys.stderr, flush=True)
        env = envs.make_env("interest_evolution", **PARAMS, **config)
        assert (env._text_states is not None) == (name == "static_incremental")
        rates[name] = timed_rollout(env, args.episodes, args.warmup)
    base = rates["item_mean"]
    print(f"{'configuration':<22}{'env steps/s':>14}{'time vs item_mean':>20}")
    for name, rate in rates.items():
        print(f"{name:<22}{rate:>14,.0f}{base / rate:>19.2f}x")
    print(json.dumps({
        "benchmark": "text_state_throughput", "episodes": args.episodes,
        "warmup": args.warmup,
        "steps_per_s": {k: round(v, 1) for k, v in rates.items()},
        "static_incremental_vs_item_mean": round(base / rates["static_incremental"], 3),
        "static_whole_vs_item_mean": round(base / rates["static_whole"], 3),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}, numpy {np.__version__}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
