"""Text encoders as the environment sees them: any callable ``texts -> unit vectors``.

The environment never imports a deep-learning framework. It takes an encoder object
(``marlrec.encoder.TransformersTextEncoder`` runs all-MiniLM-L6-v2; the encoder pool of
``marlrec`` serves the same interface from Ray actors) and, when none is given, uses the
:class:`HashingTextEncoder` below: a lexical bag-of-words encoder with no model, so that
``envs`` works on its own and in tests that are about dynamics rather than language.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")


@runtime_checkable
class TextEncoder(Protocol):
    """Maps a list of texts to an ``(n, dim)`` float32 array of L2-normalised rows."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


class HashingTextEncoder:
    """Signed feature hashing of word unigrams and bigrams, L2-normalised.

    Deterministic across processes and platforms (CRC32, not Python's salted ``hash``).
    Texts that share words get similar vectors; texts that share none are orthogonal up
    to hash collisions. An empty text (or one with no word characters) maps to a fixed
    unit vector (the "empty text" bucket) rather than to zeros, so outputs are always unit
    vectors.
    """

    def __init__(self, dim: int = 64) -> None:
        if not isinstance(dim, int) or dim < 2:
            raise ValueError(f"HashingTextEncoder: dim={dim!r} must be an integer >= 2")
        self.dim = dim

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        if not words:
            return ["<empty>"]
        return words + [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(
                    f"HashingTextEncoder: texts[{row}] is {type(text).__name__}, expected str"
                )
            for feature in self._features(text):
                h = zlib.crc32(feature.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        # A text whose features cancel exactly gets the empty-text bucket.
        cancelled = norms[:, 0] == 0
        out[cancelled, zlib.crc32(b"<empty>") % self.dim] = 1.0
        norms[cancelled] = 1.0
        return out / norms


def encode_checked(encoder: TextEncoder, texts: Sequence[str], what: str) -> np.ndarray:
    """Calls ``encoder`` and checks its output is a finite ``(len(texts), dim)`` array."""
    vectors = np.asarray(encoder(list(texts)), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise ValueError(
            f"encoder {type(encoder).__name__} returned shape {vectors.shape} for {len(texts)} "
            f"{what}; expected ({len(texts)}, dim)"
        )
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        raise ValueError(
            f"encoder {type(encoder).__name__} returned non-finite vectors for {bad.size} "
            f"{what}, first {texts[bad[0]]!r}"
        )
    return vectors


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm and clipped to [-1, 1] against rounding; an all-zero row
    stays zero (never NaN)."""
    norms = np.sqrt(np.einsum("...d,...d->...", x, x))[..., None]
    out = (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return np.clip(out, -1.0, 1.0, out=out)
