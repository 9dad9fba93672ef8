"""Encoder throughput: in-process MiniLM against the Ray encoder pool, in one run.

Texts are realistic user-state texts ("profile + Recently watched: five titles") built by
the MovieLens-100k ecosystem (synthetic catalog when the data is not fetched), all distinct
so that caches do not flatter the figures. Measured, with the same number of torch threads:

1. ``inprocess_texts_per_s``: ``TransformersTextEncoder`` in this process, batches of 64,
   with Ray running (as in any job that uses the pool); ``inprocess_no_ray_texts_per_s``
   the same before Ray starts.
2. ``pool_texts_per_s``: one pool replica, one caller sending batches of 64;
   ``ratio`` = (2) / (1) (target >= 0.8). (1) and (2) are measured alternately
   ``--rounds`` times and the medians reported, so drift hits both alike.
3. Concurrent callers (threads, one client each) sending one text per request:
   ``batched_texts_per_s`` with the pool's micro-batching, ``unbatched_texts_per_s`` with
   a pool whose batches hold one text (every request its own forward pass);
   ``batching_speedup`` = batched / unbatched (target >= 3).
4. ``cache_hit_rate``: a stream of ``texts / 2`` draws with replacement from the texts,
   through a client; ``repeat_share`` is the share of draws that repeat an earlier one
   (the most a cache can answer).
5. ``static_texts_per_s``: the static encoder distilled from the same MiniLM
   (:class:`marlrec.encoder.static_encoder.StaticTextEncoder`, no cache, batches of 64,
   one thread: ``TOKENIZERS_PARALLELISM=false``) against ``transformer_1thread_texts_per_s``,
   MiniLM in-process with one torch thread on the same texts;
   ``static_vs_transformer_speedup`` = their ratio (target >= 50).
   ``static_single_texts_per_s``: the static encoder one text per call. Measured before Ray
   starts; ``static_build_seconds`` is the time to build (or load, when cached) its table.

Usage: ``python benchmarks/encoder_throughput.py [--texts 1024] [--callers 16]``; the last
line of output is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402


def user_state_texts(n: int) -> list[str]:
    """``n`` distinct user-state texts as the ecosystem writes them."""
    import envs

    try:
        env = envs.make_env("interest_evolution", catalog="movielens-100k", num_sessions=64,
                            user_state="item_mean", horizon=10_000)
        source = "movielens-100k"
    except envs.DataFileError:
        env = envs.make_env("interest_evolution", num_sessions=64, user_state="item_mean",
                            horizon=10_000)
        source = "synthetic"
    behaviours = envs.scripted_behaviours(env, "random")
    rng = np.random.default_rng(0)
    texts: dict[str, None] = {}
    env.reset(seed=0)
    while len(texts) < n:
        obs = env.role_observations()
        actions = {role: behaviours[role].act_batch(obs[role], rng) for role in behaviours}
        env.step_arrays(actions["slate_policy"], actions["user"], actions["provider"])
        for text in env.state_texts(np.arange(env.num_sessions)):
            if "Recently watched" in text:
                texts[text] = None
    return list(texts)[:n], source


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def concurrent(clients, texts: list[str]) -> float:
    """Seconds for ``len(clients)`` threads to send ``texts`` one text per request."""
    shares = [texts[i:: len(clients)] for i in range(len(clients))]

    def caller(client, share):
        for text in share:
            client([text])

    threads = [threading.Thread(target=caller, args=pair) for pair in zip(clients, shares,
                                                                           strict=True)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def static_section(texts: list[str], chunks: list[list[str]], batch: int) -> dict:
    """Static encoder against MiniLM in-process, both on one thread, on the same texts."""
    from marlrec.encoder import TransformersTextEncoder
    from marlrec.encoder.static_encoder import StaticTextEncoder

    started = time.perf_counter()
    static = StaticTextEncoder(cache_size=0)
    build = time.perf_counter() - started
    static(texts[:batch])  # warm-up
    static_rate = len(texts) / timed(lambda: [static(c) for c in chunks])
    single_rate = len(texts) / timed(lambda: [static([t]) for t in texts])
    minilm = TransformersTextEncoder(batch_size=batch, cache_size=0, torch_threads=1)
    minilm(texts[:batch])  # warm-up
    minilm_rate = len(texts) / timed(lambda: [minilm(c) for c in chunks])
    return {"static_texts_per_s": static_rate, "static_single_texts_per_s": single_rate,
            "transformer_1thread_texts_per_s": minilm_rate,
            "static_vs_transformer_speedup": static_rate / minilm_rate,
            "static_build_seconds": build,
            "static_distill_seconds": static.meta["distill_seconds"],
            "static_table": str(static.cache_folder)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="torch threads per encoder")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds")
    args = parser.parse_args()

    import ray
    from rich.console import Console
    from rich.table import Table

    from marlrec.encoder import TransformersTextEncoder
    from marlrec.encoder.pool import EncoderPool, EncoderPoolConfig

    console = Console()
    with console.status("building user-state texts"):
        texts, source = user_state_texts(args.texts)
    lengths = [len(t.split()) for t in texts]
    chunks = [texts[i: i + args.batch] for i in range(0, len(texts), args.batch)]

    with console.status("static encoder against MiniLM, one thread each, before Ray starts"):
        static = static_section(texts, chunks, args.batch)

    with console.status("in-process encoder, before Ray starts"):
        local = TransformersTextEncoder(batch_size=args.batch, cache_size=0,
                                        torch_threads=args.threads)
        local(texts[: args.batch])  # warm-up
        inprocess_no_ray = len(texts) / timed(lambda: [local(c) for c in chunks])

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    base = {"num_cpus": 1, "cache_size": 0, "client_cache_size": 0,
            "torch_threads": args.threads}
    with console.status("in-process and pool (one replica), batches of 64, alternately"):
        pool = EncoderPool(EncoderPoolConfig(max_batch_size=args.batch, max_wait_ms=2.0,
                                             name="bench-batched", **base))
        client = pool.client()
        client(texts[: args.batch])  # warm-up
        local_rates, pool_rates = [], []
        for _ in range(args.rounds):
            local_rates.append(len(texts) / timed(lambda: [local(c) for c in chunks]))
            pool_rates.append(len(texts) / timed(lambda: [client(c) for c in chunks]))
        inprocess, pooled = float(np.median(local_rates)), float(np.median(pool_rates))

    with console.status(f"{args.callers} concurrent callers, one text per request"):
        clients = [pool.client() for _ in range(args.callers)]
        batched = len(texts) / concurrent(clients, texts)
        merged = pool.stats(reset=True)
        pool.shutdown()
        single = EncoderPool(EncoderPoolConfig(max_batch_size=1, max_wait_ms=0.0,
                                               name="bench-unbatched", **base))
        clients = [single.client() for _ in range(args.callers)]
        clients[0](texts[:1])  # warm-up
        unbatched = len(texts) / concurrent(clients, texts)
        single.shutdown()

    with console.status("cache hit rate on a stream with repeats"):
        cached_pool = EncoderPool(EncoderPoolConfig(num_cpus=1, torch_threads=args.threads,
                                                    name="bench-cache"))
        stream_client = cached_pool.client()
        rng = np.random.default_rng(0)
        stream = rng.integers(0, len(texts), len(texts) // 2)
        for i in stream:
            stream_client([texts[i]])
        hit_rate = stream_client.stats.summary()["cache_hit_rate"]
        repeat_share = 1.0 - len(set(stream.tolist())) / len(stream)
        cached_pool.shutdown()
    ray.shutdown()

    result = {
        "benchmark": "encoder_throughput",
        "inprocess_texts_per_s": inprocess,
        "inprocess_no_ray_texts_per_s": inprocess_no_ray,
        "inprocess_rounds": local_rates,
        "pool_rounds": pool_rates,
        "pool_texts_per_s": pooled,
        "ratio": pooled / inprocess,
        "batched_texts_per_s": batched,
        "unbatched_texts_per_s": unbatched,
        "batching_speedup": batched / unbatched,
        "mean_merged_requests_per_batch": merged["mean_batch_requests"],
        "cache_hit_rate": hit_rate,
        "repeat_share": repeat_share,
        **static,
        "targets": {"ratio": 0.8, "batching_speedup": 3.0, "static_vs_transformer_speedup": 50.0},
        "targets_met": {"ratio": pooled / inprocess >= 0.8,
                        "batching_speedup": batched / unbatched >= 3.0,
                        "static_vs_transformer_speedup":
                            static["static_vs_transformer_speedup"] >= 50.0},
        "settings": {"texts": len(texts), "source": source, "batch": args.batch,
                     "callers": args.callers, "torch_threads": args.threads,
                     "words_per_text_mean": float(np.mean(lengths)),
                     "model": "all-MiniLM-L6-v2", "device": "cpu"},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    table = Table(title=f"Encoder throughput ({len(texts)} user-state texts, "
                        f"~{np.mean(lengths):.0f} words, {args.threads} torch threads)")
    for col in ("measure", "texts/s", "note"):
        table.add_column(col)
    table.add_row("in-process, batch 64, before Ray", f"{inprocess_no_ray:,.0f}", "")
    table.add_row("in-process, batch 64, Ray running", f"{inprocess:,.0f}",
                  f"reference (median of {args.rounds})")
    table.add_row("pool, 1 replica, batch 64", f"{pooled:,.0f}",
                  f"ratio {pooled / inprocess:.2f} (target >= 0.8)")
    table.add_row(f"{args.callers} callers, pool batching", f"{batched:,.0f}",
                  f"{merged['mean_batch_requests']:.1f} requests merged per batch")
    table.add_row(f"{args.callers} callers, unbatched", f"{unbatched:,.0f}",
                  f"speedup {batched / unbatched:.1f}x (target >= 3)")
    table.add_row("client cache hit rate", f"{hit_rate:.2f}",
                  f"{repeat_share:.2f} of the stream repeats an earlier text")
    table.add_row("MiniLM in-process, batch 64, 1 thread",
                  f"{static['transformer_1thread_texts_per_s']:,.0f}", "reference for static")
    table.add_row("static encoder, batch 64, 1 thread", f"{static['static_texts_per_s']:,.0f}",
                  f"speedup {static['static_vs_transformer_speedup']:.0f}x (target >= 50)")
    table.add_row("static encoder, one text per call",
                  f"{static['static_single_texts_per_s']:,.0f}", "")
    console.print(table)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
