"""The encoder pool's settings (spec key ``encoder_pool``), checked on construction.

Pure Python: the spec validator reads it without importing Ray or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

POOL_ENCODERS = ("minilm", "static")
"""What a pool can serve: the transformer (all-MiniLM-L6-v2, or ``model_dir``) or the static
token-embedding encoder distilled from it (:mod:`marlrec.encoder.static_encoder`)."""


@dataclass(frozen=True)
class EncoderPoolConfig:
    """How many replicas, what each asks of the cluster, and how requests are batched."""

    # what the replicas run: "minilm" (the transformer) or "static"; None: "minilm" (a spec
    # fills in its env.encoder)
    encoder: str | None = None
    num_replicas: int = 1
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)
    model_dir: str | None = None
    max_batch_size: int = 64
    max_wait_ms: float = 5.0
    cache_size: int = 100_000
    client_cache_size: int = 10_000
    torch_threads: int | None = None
    name: str = "marlrec-encoder"
    namespace: str = "marlrec"
    call_timeout_s: float = 120.0
    retries: int = 5

    def __post_init__(self) -> None:
        checks = (
            ("num_replicas", self.num_replicas >= 1, ">= 1"),
            ("num_cpus", self.num_cpus >= 0, ">= 0"),
            ("num_gpus", 0 <= self.num_gpus <= 1, "in [0, 1] (a fraction of one GPU)"),
            ("max_batch_size", self.max_batch_size >= 1, ">= 1"),
            ("max_wait_ms", self.max_wait_ms >= 0, ">= 0"),
            ("cache_size", self.cache_size >= 0, ">= 0"),
            ("client_cache_size", self.client_cache_size >= 0, ">= 0"),
            ("retries", self.retries >= 0, ">= 0"),
            ("call_timeout_s", self.call_timeout_s > 0, "> 0"),
        )
        checks = (*checks, ("encoder", self.encoder in (None, *POOL_ENCODERS),
                            f"one of {list(POOL_ENCODERS)}"))
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"encoder_pool.{name}={getattr(self, name)!r} must be {allowed}")
        bad = {k: v for k, v in self.resources.items() if not v > 0}
        if bad:
            raise ValueError(f"encoder_pool.resources={self.resources!r}: amounts must be > 0")

    @property
    def device(self) -> str:
        return "cuda" if self.num_gpus > 0 else "cpu"

    @property
    def dtype(self) -> str:
        """fp16 on a GPU, fp32 on CPU."""
        return "float16" if self.num_gpus > 0 else "float32"

    def replica_name(self, index: int) -> str:
        return f"{self.name}-{index}"

    @property
    def store_name(self) -> str:
        return f"{self.name}-catalog-store"
