"""The encoder actor pool: the transformers encoder in named Ray actors, shared by all
rollout workers, with requests from many callers merged into one forward pass.

Design choices (and why):

- **Async actor with micro-batching, not Ray Serve.** Each replica is an async Ray actor.
  ``encode`` calls queue up; a flusher task takes everything queued once
  ``max_batch_size`` texts are waiting or ``max_wait_ms`` after the first request, runs
  one deduplicated forward pass in a worker thread (the event loop keeps accepting
  requests meanwhile) and answers every caller. Ray Serve's ``@serve.batch`` does the same
  merging but brings a controller, a proxy and deployment state for what is an internal,
  in-cluster call; a plain named actor starts in a second, is found by name from any node,
  and restarts under Ray's own actor fault tolerance.
- **The client is the env's encoder.** :class:`EncoderClient` is a picklable callable
  ``texts -> unit vectors``: the env makes one call per step for all its sessions whose
  state text changed (never one per agent); the client answers repeated texts from a local
  LRU cache and sends the rest to a replica (round robin). It finds replicas by name, so
  it can be shipped inside an env config to env runners on any node.
- **Catalog embeddings once per experiment.** A small named store actor computes each
  catalog's item embeddings once (on a replica) and keeps them in the object store; every
  runner's env gets the same object (zero-copy numpy) instead of re-encoding.
- **Faults.** Replicas are created with ``max_restarts=-1, max_task_retries=-1``: a replica
  that dies is restarted by Ray and the calls in flight are retried. The client also
  retries a failed call (re-resolving the replica by name): while Ray reports the replica
  restarting, as long as the restart takes; otherwise, with backoff, up to ``retries``
  times (e.g. a replica killed for good), so a caller never sees a transient death. A
  missing or broken model directory fails in :class:`EncoderPool` before any actor starts,
  naming the path.
- **Input.** As :class:`marlrec.encoder.TransformersTextEncoder`: empty strings encode to
  the model's empty-text vector, long texts are truncated at the model's ``max_length``
  tokens, a non-str element raises ``TypeError`` in the caller before any remote call.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError

from envs.encoding import piece_rows, split_piece_rows
from marlrec.encoder.pool_config import EncoderPoolConfig
from marlrec.encoder.text_cache import EmbeddingCache
from marlrec.encoder.transformers_encoder import (
    TransformersTextEncoder,
    check_model_dir,
    check_texts,
    default_model_dir,
)

try:  # newer Ray: a replica being restarted raises this
    from ray.exceptions import ActorUnavailableError
except ImportError:  # pragma: no cover
    ActorUnavailableError = RayActorError  # type: ignore[misc,assignment]

_RETRYABLE = (RayActorError, ActorUnavailableError, GetTimeoutError)


# ----------------------------------------------------------------------------- replicas


class _Request:
    __slots__ = ("texts", "future", "enqueued")

    def __init__(self, texts: list[str], future: asyncio.Future) -> None:
        self.texts = texts
        self.future = future
        self.enqueued = time.perf_counter()


class EncoderReplica:
    """One encoder actor: queues ``encode`` calls and answers them in merged batches.

    Use through :class:`EncoderPool`; the class is wrapped with ``ray.remote`` there.
    """

    def __init__(self, config: EncoderPoolConfig) -> None:
        self.config = config
        if config.encoder == "static":  # the distilled table: numpy, no torch (None: minilm)
            from marlrec.encoder.static_encoder import StaticTextEncoder

            self.encoder: Any = StaticTextEncoder(config.model_dir,
                                                  cache_size=config.cache_size)
        else:
            self.encoder = TransformersTextEncoder(
                config.model_dir, device=config.device, batch_size=config.max_batch_size,
                cache_size=config.cache_size, torch_threads=config.torch_threads,
                dtype=config.dtype)
        self._piece_cache = EmbeddingCache(config.cache_size)  # [sum, count] rows by text
        self._queue: deque[_Request] = deque()
        self._queued_texts = 0
        self._wakeup: asyncio.Event | None = None
        self._flusher: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
        self._batches: deque[dict[str, float]] = deque(maxlen=10_000)
        self._totals = {"requests": 0, "texts": 0, "batches": 0, "busy_s": 0.0}
        self._started = time.time()

    def info(self) -> dict[str, Any]:
        """Model facts for clients: ``dim``, ``max_length``, device and dtype."""
        return {"dim": self.encoder.dim, "max_length": self.encoder.max_length,
                "device": self.config.device, "dtype": self.config.dtype,
                "node_id": ray.get_runtime_context().get_node_id()}

    async def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of ``texts``, computed in a batch merged with concurrent calls."""
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
            self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(texts, future))
        self._queued_texts += len(texts)
        self._wakeup.set()
        return await future

    async def piece_sums(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The static encoder's un-normalised piece sums and counts of ``texts``
        (:meth:`marlrec.encoder.static_encoder.StaticTextEncoder.piece_sums`); a table
        gather, so computed at once rather than merged into a batch."""
        if not getattr(self.encoder, "additive", False):
            raise TypeError(f"encoder pool {self.config.name!r} runs "
                            f"{type(self.encoder).__name__}, which has no piece sums "
                            "(encoder_pool.encoder: static has)")
        started = time.perf_counter()
        rows = await asyncio.get_running_loop().run_in_executor(
            self._executor, self._piece_cache.encode, texts,
            lambda todo: piece_rows(*self.encoder.piece_sums(todo)))
        done = time.perf_counter()
        self._record(1, len(texts), started, done, first_enqueued=started)
        return split_piece_rows(rows)

    async def _flush_forever(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            deadline = time.perf_counter() + self.config.max_wait_ms / 1000.0
            while (self._queued_texts < self.config.max_batch_size
                   and time.perf_counter() < deadline):
                await asyncio.sleep(min(0.001, max(0.0, deadline - time.perf_counter())))
            requests = list(self._queue)
            self._queue.clear()
            self._queued_texts = 0
            self._wakeup.clear()
            if requests:
                await self._run_batch(requests)

    async def _run_batch(self, requests: list[_Request]) -> None:
        texts = [t for r in requests for t in r.texts]
        started = time.perf_counter()
        try:
            vectors = await asyncio.get_running_loop().run_in_executor(
                self._executor, self.encoder.encode, texts)
        except Exception as exc:  # the model failed: every caller gets the error
            for r in requests:
                if not r.future.done():
                    r.future.set_exception(exc)
            return
        done = time.perf_counter()
        offset = 0
        for r in requests:
            if not r.future.done():
                r.future.set_result(vectors[offset: offset + len(r.texts)])
            offset += len(r.texts)
        self._record(len(requests), len(texts), started, done,
                     first_enqueued=min(r.enqueued for r in requests))

    def _record(self, requests: int, texts: int, started: float, done: float,
                first_enqueued: float) -> None:
        self._totals["requests"] += requests
        self._totals["texts"] += texts
        self._totals["batches"] += 1
        self._totals["busy_s"] += done - started
        self._batches.append({"requests": requests, "texts": texts, "forward_s": done - started,
                              "max_latency_s": done - first_enqueued})

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """Totals, the recent batches and the encoder's cache counters."""
        cache = self.encoder.cache_info()
        for key in ("hits", "misses", "size"):  # vectors and piece sums, by text
            cache[key] += self._piece_cache.info()[key]
        out = {**self._totals, "uptime_s": time.time() - self._started,
               "batches_recent": list(self._batches), "cache": cache}
        if reset:
            self._batches.clear()
        return out


class CatalogEmbeddingStore:
    """Keeps each catalog's item embeddings in the object store, computed once."""

    def __init__(self, config: EncoderPoolConfig) -> None:
        self.config = config
        self._refs: dict[str, ray.ObjectRef] = {}
        self._lock = asyncio.Lock()
        self.computed = 0

    async def get(self, key: str, texts: list[str] | None) -> list[ray.ObjectRef] | None:
        """``[ref]`` of the embeddings under ``key``; computes them from ``texts`` if
        missing (``None`` if missing and no texts given). Wrapped in a list so that Ray
        hands back the reference, not the array."""
        async with self._lock:
            if key not in self._refs:
                if texts is None:
                    return None
                replica = ray.get_actor(self.config.replica_name(0),
                                        namespace=self.config.namespace)
                vectors = await replica.encode.remote(texts)
                self._refs[key] = ray.put(vectors)
                self.computed += 1
            return [self._refs[key]]

    def summary(self) -> dict[str, Any]:
        """The catalogs held and how many were computed (each at most once)."""
        return {"keys": sorted(self._refs), "computed": self.computed}


# ----------------------------------------------------------------------------- client


@dataclass
class ClientStats:
    """What one client (one env, one runner) saw: calls, texts, cache hits, wait time."""

    calls: int = 0
    texts: int = 0
    local_hits: int = 0
    remote_calls: int = 0
    remote_texts: int = 0
    retries: int = 0
    wait_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        lat = np.array(self.latencies_s) if self.latencies_s else np.zeros(1)
        return {
            "calls": self.calls, "texts": self.texts, "remote_calls": self.remote_calls,
            "remote_texts": self.remote_texts, "retries": self.retries,
            "cache_hit_rate": self.local_hits / max(1, self.texts), "wait_s": self.wait_s,
            "latency_p50_s": float(np.percentile(lat, 50)),
            "latency_p95_s": float(np.percentile(lat, 95)),
        }


class EncoderClient:
    """A callable ``texts -> unit vectors`` backed by the pool's replicas.

    Picklable: only the pool's name, namespace and settings travel; replica handles are
    looked up by name on first use, wherever the client is unpickled.
    """

    def __init__(self, config: EncoderPoolConfig, dim: int, max_length: int) -> None:
        self.config = config
        self.dim = dim
        self.max_length = max_length
        self._reset_runtime()

    @property
    def additive(self) -> bool:
        """Whether the replicas serve piece sums (the static encoder), so that an env
        composes text states from pieces it has seen (``envs.encoding.IncrementalStateTexts``)."""
        return self.config.encoder == "static"

    @property
    def max_pieces(self) -> int:
        return self.max_length - 2

    def _reset_runtime(self) -> None:
        self._handles: dict[int, Any] = {}
        self._actor_ids: dict[int, str] = {}  # replica index -> Ray actor id, once resolved
        self._next = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._piece_cache: OrderedDict[str, np.ndarray] = OrderedDict()  # [sum, count] rows
        self._lock = threading.Lock()
        self.stats = ClientStats()

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "dim": self.dim, "max_length": self.max_length}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_runtime()

    def __repr__(self) -> str:
        return (f"EncoderClient({self.config.name!r}, replicas={self.config.num_replicas}, "
                f"dim={self.dim})")

    def _replica(self, index: int) -> Any:
        if index not in self._handles:
            handle = ray.get_actor(self.config.replica_name(index),
                                   namespace=self.config.namespace)
            self._handles[index] = handle
            self._actor_ids[index] = handle._actor_id.hex()
        return self._handles[index]

    def _coming_back(self, index: int) -> bool:
        """Whether replica ``index`` is being restarted (or started) by Ray, read from the
        control store: a call waits for it however long the restart takes, instead of
        spending an attempt."""
        actor_id = self._actor_ids.get(index)
        if actor_id is None:
            return False
        state = ray._private.state.actors(actor_id).get("State")  # private API: Ray pinned
        return state in ("RESTARTING", "PENDING_CREATION", "DEPENDENCIES_UNREADY")

    def _remote(self, method: str, texts: list[str]) -> Any:
        """One remote call of a replica's ``method`` with retries; each retry re-resolves
        the replica by name and may move on to the next replica."""
        attempt = 0
        while True:
            index = self._next % self.config.num_replicas
            self._next += 1
            try:
                ref = getattr(self._replica(index), method).remote(texts)
                return ray.get(ref, timeout=self.config.call_timeout_s)
            except (*_RETRYABLE, ValueError) as exc:
                # ValueError: get_actor while the replica is between death and restart
                if isinstance(exc, ValueError) and "Failed to look up actor" not in str(exc):
                    raise
                self.stats.retries += 1
                self._handles.pop(index, None)
                if self._coming_back(index):  # wait on the restart, not on a clock
                    self._next -= 1  # the same replica again
                    time.sleep(0.1)
                    continue
                attempt += 1
                if attempt > self.config.retries:
                    raise RuntimeError(
                        f"encoder pool {self.config.name!r}: {attempt} attempts failed, "
                        f"last error: {exc}") from exc
                time.sleep(min(2.0, 0.1 * 2 ** (attempt - 1)))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts``: the cached ones from this client, the rest in one
        call to a replica."""
        return self._cached(check_texts(texts), self._cache, self.dim,
                            lambda unique: self._remote("encode", unique))

    def piece_sums(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The static replicas' un-normalised piece sums and counts of ``texts`` (see
        :meth:`marlrec.encoder.static_encoder.StaticTextEncoder.piece_sums`), cached here
        by text like the vectors."""
        if not self.additive:
            raise TypeError(f"encoder pool {self.config.name!r} serves "
                            f"{self.config.encoder or 'minilm'}, which has no piece sums")

        rows = self._cached(check_texts(texts), self._piece_cache, self.dim + 1,
                            lambda unique: piece_rows(*self._remote("piece_sums", unique)))
        return split_piece_rows(rows)

    def _cached(self, texts: list[str], cache: OrderedDict[str, np.ndarray], width: int,
                remote: Any) -> np.ndarray:
        started = time.perf_counter()
        with self._lock:
            out = np.empty((len(texts), width), np.float32)
            missing: dict[str, list[int]] = {}
            for i, text in enumerate(texts):
                cached = cache.get(text)
                if cached is None:
                    missing.setdefault(text, []).append(i)
                else:
                    cache.move_to_end(text)
                    out[i] = cached
            self.stats.calls += 1
            self.stats.texts += len(texts)
            self.stats.local_hits += len(texts) - sum(len(v) for v in missing.values())
            if missing:
                unique = list(missing)
                rows = remote(unique)
                self.stats.remote_calls += 1
                self.stats.remote_texts += len(unique)
                for text, row in zip(unique, rows, strict=True):
                    out[missing[text]] = row
                    self._remember(cache, text, row)
            elapsed = time.perf_counter() - started
            self.stats.wait_s += elapsed
            self.stats.latencies_s.append(elapsed)
            if len(self.stats.latencies_s) > 10_000:
                del self.stats.latencies_s[:5_000]
        return out

    def _remember(self, cache: OrderedDict[str, np.ndarray], text: str,
                  row: np.ndarray) -> None:
        if self.config.client_cache_size == 0:
            return
        cache[text] = row
        while len(cache) > self.config.client_cache_size:
            cache.popitem(last=False)

    def encode_catalog(self, key: str, texts: Sequence[str]) -> np.ndarray:
        """Item embeddings of a catalog, computed once per pool and shared through the
        object store (``envs.ecosystem.embed_catalog`` uses this when present)."""
        store = ray.get_actor(self.config.store_name, namespace=self.config.namespace)
        refs = ray.get(store.get.remote(key, None))
        if refs is None:
            refs = ray.get(store.get.remote(key, check_texts(texts)))
        return ray.get(refs[0])


# ----------------------------------------------------------------------------- the pool


class EncoderPool:
    """Starts ``num_replicas`` named encoder actors and the catalog store; hands out
    clients. Needs a running Ray (``ray.init``); the actors live as long as this driver."""

    def __init__(self, config: EncoderPoolConfig | None = None) -> None:
        self.config = config = config or EncoderPoolConfig()
        if not ray.is_initialized():
            raise RuntimeError("EncoderPool needs Ray: call ray.init() first (without Ray, "
                               "use marlrec.encoder.TransformersTextEncoder in-process)")
        model_dir = Path(config.model_dir) if config.model_dir else default_model_dir()
        check_model_dir(model_dir)  # fail here, naming the path, before any actor starts
        replica_cls = ray.remote(EncoderReplica)
        options = {"num_cpus": config.num_cpus, "num_gpus": config.num_gpus,
                   "resources": dict(config.resources), "max_restarts": -1,
                   "max_task_retries": -1, "max_concurrency": 1000,
                   "namespace": config.namespace}
        self.replicas = [
            replica_cls.options(name=config.replica_name(i), **options).remote(config)
            for i in range(config.num_replicas)
        ]
        self.store = ray.remote(CatalogEmbeddingStore).options(
            name=config.store_name, namespace=config.namespace, num_cpus=0,
            max_restarts=-1, max_task_retries=-1, max_concurrency=100).remote(config)
        infos = ray.get([r.info.remote() for r in self.replicas])
        self.dim = int(infos[0]["dim"])
        self.max_length = int(infos[0]["max_length"])
        self.replica_info = infos

    def client(self) -> EncoderClient:
        return EncoderClient(self.config, self.dim, self.max_length)

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """Aggregated replica figures, see :func:`pool_stats`."""
        return pool_stats(self.config, reset)

    def shutdown(self) -> None:
        for actor in [*self.replicas, self.store]:
            ray.kill(actor, no_restart=True)



def connect(config: EncoderPoolConfig) -> EncoderClient:
    """A client of the running pool named by ``config`` (its replicas found by name, from
    any process of the cluster)."""
    if not ray.is_initialized():
        raise RuntimeError(f"encoder pool {config.name!r}: Ray is not running (ray.init "
                           "first)")
    try:
        replica = ray.get_actor(config.replica_name(0), namespace=config.namespace)
    except ValueError as e:
        raise RuntimeError(f"no encoder pool {config.name!r} is running in namespace "
                           f"{config.namespace!r}: start one with EncoderPool(config)") from e
    info = ray.get(replica.info.remote())
    return EncoderClient(config, int(info["dim"]), int(info["max_length"]))


@contextmanager
def running_pool(config: EncoderPoolConfig | None) -> Iterator[EncoderClient | None]:
    """A client of the pool named by ``config`` for the duration of a block: the pool that
    is already running (``marlrec run`` keeps its pool for its report), or one started here
    and stopped at the end (with a local Ray started here if none runs). ``None``: no pool,
    nothing started."""
    if config is None:
        yield None
        return
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(include_dashboard=False, log_to_driver=False)
    pool = None
    try:
        try:
            client = connect(config)
        except RuntimeError:
            pool = EncoderPool(config)
            client = pool.client()
        yield client
    finally:
        if pool is not None:
            pool.shutdown()
        if started_ray:
            ray.shutdown()


def pool_stats(config: EncoderPoolConfig, reset: bool = False) -> dict[str, Any]:
    """The replicas' figures, found by name: texts, requests and batches served, texts per
    second of model time, mean batch size in texts and in merged requests, cache hit rate,
    batch latency p50/p95 (first request queued to answer), and the recent batch sizes.
    ``reset`` clears the recent-batch window (totals keep counting)."""
    replicas = [ray.get_actor(config.replica_name(i), namespace=config.namespace)
                for i in range(config.num_replicas)]
    per_replica = ray.get([r.stats.remote(reset) for r in replicas])
    batches = [b for s in per_replica for b in s["batches_recent"]]
    texts = sum(s["texts"] for s in per_replica)
    busy = sum(s["busy_s"] for s in per_replica)
    hits = sum(s["cache"]["hits"] for s in per_replica)
    misses = sum(s["cache"]["misses"] for s in per_replica)
    latencies = [b["max_latency_s"] for b in batches] or [0.0]
    return {
        "replicas": len(per_replica),
        "requests": sum(s["requests"] for s in per_replica),
        "texts": texts,
        "batches": sum(s["batches"] for s in per_replica),
        "texts_per_busy_s": texts / busy if busy else 0.0,
        "mean_batch_texts": float(np.mean([b["texts"] for b in batches])) if batches else 0.0,
        "mean_batch_requests": (float(np.mean([b["requests"] for b in batches]))
                                if batches else 0.0),
        "cache_hit_rate": hits / max(1, hits + misses),
        "batch_latency_p50_s": float(np.percentile(latencies, 50)),
        "batch_latency_p95_s": float(np.percentile(latencies, 95)),
        "batch_sizes": [int(b["texts"]) for b in batches],
        "batch_requests": [int(b["requests"]) for b in batches],
    }
