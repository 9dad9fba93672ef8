"""Text encoders: the in-process transformers encoder and the Ray actor pool serving it.

- :class:`TransformersTextEncoder`: all-MiniLM-L6-v2 (or any local Hugging Face encoder
  directory) in this process; no Ray.
- :class:`EncoderPool` / :class:`EncoderClient` (``marlrec.encoder.pool``): the same
  encoder in named Ray actors that merge requests from many callers into one forward pass;
  the client is what env runners hold. Both are callables ``texts -> unit vectors``.
"""

from marlrec.encoder.transformers_encoder import (
    DEFAULT_MODEL,
    ModelDirectoryError,
    TransformersTextEncoder,
    check_model_dir,
    check_texts,
    default_model_dir,
)

__all__ = [
    "DEFAULT_MODEL",
    "ModelDirectoryError",
    "TransformersTextEncoder",
    "check_model_dir",
    "check_texts",
    "default_model_dir",
]
