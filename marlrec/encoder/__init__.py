"""Text encoders: the in-process transformers encoder and the Ray actor pool serving it.

- :class:`TransformersTextEncoder`: all-MiniLM-L6-v2 (or any local Hugging Face encoder
  directory) in this process; no Ray.
- :class:`EncoderPool` / :class:`EncoderClient` (``marlrec.encoder.pool``): the same
  encoder in named Ray actors that merge requests from many callers into one forward pass;
  the client is what env runners hold. Both are callables ``texts -> unit vectors``.
"""

import importlib
from typing import Any

from marlrec.encoder.model_dir import (
    DEFAULT_MODEL,
    ModelDirectoryError,
    check_model_dir,
    check_texts,
    default_model_dir,
)

_TRANSFORMERS = ("TransformersTextEncoder",)


def __getattr__(name: str) -> Any:
    """The transformers encoder, imported (with torch) on first use, so that
    ``marlrec.encoder.pool_config`` and the static encoder stay light."""
    if name in _TRANSFORMERS:
        return getattr(importlib.import_module("marlrec.encoder.transformers_encoder"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_PROCESS_ENCODERS: dict[str, Any] = {}


def resolve_encoder(encoder: Any) -> Any:
    """An encoder object from an env_config value: ``None`` or ``"hashing"`` (the env's
    lexical default), ``"minilm"`` (all-MiniLM-L6-v2, loaded once per process and shared
    by its envs), ``"static"`` (the static token-embedding encoder distilled from it,
    :mod:`marlrec.encoder.static_encoder`; once per process), or an encoder object (e.g.
    the pool's client) as is."""
    if encoder is None or encoder == "hashing":
        return None
    if encoder == "minilm":
        if "minilm" not in _PROCESS_ENCODERS:
            _PROCESS_ENCODERS["minilm"] = __getattr__("TransformersTextEncoder")()
        return _PROCESS_ENCODERS["minilm"]
    if encoder == "static":
        if "static" not in _PROCESS_ENCODERS:
            from marlrec.encoder.static_encoder import StaticTextEncoder

            _PROCESS_ENCODERS["static"] = StaticTextEncoder()
        return _PROCESS_ENCODERS["static"]
    if isinstance(encoder, str):
        raise ValueError(f"encoder={encoder!r}; allowed: None, 'hashing', "
                         "'minilm', 'static' or an encoder object")
    return encoder


__all__ = [
    "DEFAULT_MODEL",
    "ModelDirectoryError",
    "TransformersTextEncoder",
    "check_model_dir",
    "check_texts",
    "default_model_dir",
    "resolve_encoder",
]
