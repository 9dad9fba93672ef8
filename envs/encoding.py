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
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class AdditiveTextEncoder(TextEncoder, Protocol):
    """An encoder whose vector of a text is its pieces' row sum, normalised, so that texts
    joined at a word or punctuation boundary add up (``marlrec``'s static encoder, and the
    encoder pool's client when its replicas run it). ``additive`` is ``True``."""

    additive: bool
    dim: int
    max_pieces: int

    def piece_sums(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(sums (n, dim), counts (n,))``: un-normalised row sums and piece counts."""
        ...


def piece_rows(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``piece_sums`` output packed as one ``(n, dim + 1)`` float32 array of ``[sum,
    count]`` rows (what the caches of piece sums keep; counts are exact in float32)."""
    return np.concatenate([np.asarray(sums, np.float32),
                           np.asarray(counts, np.float32)[:, None]], axis=1)


def split_piece_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``(sums, counts)`` of :func:`piece_rows`'s rows."""
    return rows[:, :-1], rows[:, -1].astype(np.int64)


def is_additive(encoder: Any) -> bool:
    """Whether ``encoder`` composes texts from piece sums (see :class:`AdditiveTextEncoder`)."""
    return getattr(encoder, "additive", False) is True and hasattr(encoder, "piece_sums")


class IncrementalStateTexts:
    """Vectors of texts ``head + prefix + separator.join(items) + end`` (``head`` alone when
    there are no items), composed from per-piece sums of an additive encoder.

    A session's state text changes by one title per click; re-encoding it whole costs a
    tokenizer pass over the profile and every recent title. Here each head (profile) and
    item (title) is encoded once, the first time a state needs it (one encoder call per
    :meth:`encode` for all pieces not seen before), and a state is the sum of its pieces'
    rows, normalised: a gather. The result equals ``encoder(texts)`` up to float rounding
    (checked in ``tests/encoder/test_static_encoder.py`` against whole-text encoding); a text longer
    than the encoder's ``max_pieces`` is encoded whole, truncated as the encoder truncates.

    Args:
        encoder: an additive encoder (:func:`is_additive`).
        heads, items: the texts indexed by :meth:`encode`'s ``heads`` and ``items``.
        prefix, separator, end: the glue around the items (``piece_sums`` of each must add
            up, i.e. start and end at a word or punctuation boundary).
    """

    def __init__(self, encoder: AdditiveTextEncoder, heads: Sequence[str], items: Sequence[str],
                 prefix: str, separator: str, end: str) -> None:
        if not is_additive(encoder):
            raise TypeError(f"IncrementalStateTexts needs an additive encoder (piece_sums), got "
                            f"{type(encoder).__name__}")
        self.encoder = encoder
        self.heads, self.items = list(heads), list(items)
        self.prefix, self.separator, self.end = prefix, separator, end
        self.max_pieces = int(encoder.max_pieces)
        dim = int(encoder.dim)
        # rows: [sum (dim), count]; count -1 marks a piece not encoded yet
        self._head_rows = np.zeros((len(self.heads), dim + 1), np.float32)
        self._head_rows[:, dim] = -1.0
        self._item_rows = np.zeros((len(self.items), dim + 1), np.float32)
        self._item_rows[:, dim] = -1.0
        glue = self._rows([prefix, separator, end])
        self._opening, self._separator = glue[0] + glue[2], glue[1]  # prefix + end, separator
        self.pieces_encoded = 0

    def _rows(self, texts: list[str]) -> np.ndarray:
        sums, counts = self.encoder.piece_sums(texts)
        if np.shape(sums) != (len(texts), self._head_rows.shape[1] - 1):
            raise ValueError(f"encoder {type(self.encoder).__name__}.piece_sums returned shape "
                             f"{np.shape(sums)} for {len(texts)} texts")
        return piece_rows(sums, counts)

    def text(self, head: int, items: np.ndarray) -> str:
        """The text of ``heads[head]`` with ``items`` (indices, ``-1`` skipped)."""
        titles = [self.items[i] for i in items if i >= 0]
        if not titles:
            return self.heads[head]
        return f"{self.heads[head]}{self.prefix}{self.separator.join(titles)}{self.end}"

    def encode(self, heads: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Unit vectors ``(n, dim)`` of the texts of ``heads`` ``(n,)`` with ``items``
        ``(n, L)`` (``-1``: no item), as ``encoder([text(h, i) ...])`` gives them."""
        heads, items = np.asarray(heads, np.int64), np.asarray(items, np.int64)
        dim = self._head_rows.shape[1] - 1
        self._fill(self._head_rows, self.heads, heads)
        self._fill(self._item_rows, self.items, items[items >= 0])
        present = items >= 0
        rows = self._head_rows[heads] + (self._item_rows[np.maximum(items, 0)]
                                         * present[..., None]).sum(axis=1)
        n_items = present.sum(axis=1)
        with_items = n_items > 0
        rows[with_items] += (self._opening
                             + (n_items[with_items] - 1)[:, None] * self._separator)
        sums, counts = rows[:, :dim], rows[:, dim]
        whole = np.flatnonzero((counts <= 0) | (counts > self.max_pieces))
        out = unit_rows(sums)
        if whole.size:  # empty or truncated texts: the encoder's own rule
            out[whole] = encode_checked(self.encoder, [self.text(heads[r], items[r])
                                                       for r in whole], "state texts")
        return out

    def _fill(self, rows: np.ndarray, texts: list[str], wanted: np.ndarray) -> None:
        missing = np.unique(wanted[rows[wanted, -1] < 0])
        if missing.size:
            rows[missing] = self._rows([texts[i] for i in missing])
            self.pieces_encoded += int(missing.size)
