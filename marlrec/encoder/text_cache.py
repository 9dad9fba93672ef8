"""The text -> embedding LRU cache of an in-process encoder (the transformers encoder and
the static encoder share it): each call encodes only the distinct texts it has not seen
among the last ``maxsize`` (0: none kept), in one call of the encoder's own function."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np


class EmbeddingCache:
    def __init__(self, maxsize: int) -> None:
        if maxsize < 0:
            raise ValueError(f"cache_size must be >= 0, got {maxsize}")
        self.maxsize = maxsize
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def encode(self, texts: list[str], encode_uncached: Callable[[list[str]], np.ndarray]
               ) -> np.ndarray:
        """Rows for ``texts`` (non-empty), from the cache or ``encode_uncached(distinct
        texts it lacks)``; hits and misses count texts (a repeat within the call hits)."""
        found: dict[str, np.ndarray] = {}
        todo: list[str] = []
        for text in dict.fromkeys(texts):
            cached = self._vectors.get(text)
            if cached is None:
                todo.append(text)
            else:
                self._vectors.move_to_end(text)
                found[text] = cached
        self.misses += len(todo)
        self.hits += len(texts) - len(todo)
        if todo:
            for text, vector in zip(todo, encode_uncached(todo), strict=True):
                found[text] = vector
                if self.maxsize:
                    self._vectors[text] = vector
            while len(self._vectors) > self.maxsize:
                self._vectors.popitem(last=False)
        return np.stack([found[text] for text in texts])

    def info(self) -> dict[str, int]:
        """``{"hits", "misses", "size", "maxsize"}``."""
        return {"hits": self.hits, "misses": self.misses, "size": len(self._vectors),
                "maxsize": self.maxsize}

    def clear(self) -> None:
        """Empty the cache and reset the hit and miss counters."""
        self._vectors.clear()
        self.hits = 0
        self.misses = 0
