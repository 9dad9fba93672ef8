"""Tests for marlrec.encoder.static_encoder: the static encoder distilled from the packaged
all-MiniLM-L6-v2 (real model, real distillation, once per test session into a tmp cache)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from marlrec.encoder import static_encoder
from marlrec.encoder.static_encoder import StaticTextEncoder, model_fingerprint

DIM = 384
SIMILAR = [
    ("A thriller about a detective hunting a serial killer.",
     "Crime thriller: a police investigator tracks down a murderer."),
    ("Space adventure with aliens, starships and laser battles.",
     "Science fiction: an intergalactic war between spaceships and aliens."),
    ("A horror film: a haunted house, ghosts and terrifying screams.",
     "Scary movie about a ghost haunting a family in their house."),
    ("Western: cowboys, a sheriff and a gunfight in a desert town.",
     "A cowboy outlaw duels the sheriff in the old west."),
    ("Recently watched: Toy Story; Aladdin; The Lion King.",
     "Recently watched: Beauty and the Beast; Pinocchio; Toy Story."),
]
TEXTS = [a for a, _ in SIMILAR] + [b for _, b in SIMILAR] + [
    "", "   ", "🎬🍿", "\x00\x01", "Usual Suspects, The", "a b c", "x" * 5000,
    "Recently watched: " + "; ".join(["Star Wars", "Contact", "Fargo"] * 100) + ".",
]


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tmp cache root holding the table, distilled once for the session (the printed
    seconds show in ``pytest -s``)."""
    root = tmp_path_factory.mktemp("static-cache")
    started = time.perf_counter()
    StaticTextEncoder(cache_dir=root)
    print(f"\nstatic encoder distilled in {time.perf_counter() - started:.1f} s")
    return root


@pytest.fixture
def encoder(cache_root: Path) -> StaticTextEncoder:
    return StaticTextEncoder(cache_dir=cache_root)


def _table_folders(root: Path) -> list[Path]:
    return sorted(p for p in (root / "static_encoders").iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name != "fingerprints")


def test_unit_rows_and_shape(encoder: StaticTextEncoder):
    vectors = encoder(TEXTS)
    assert encoder.dim == DIM and encoder.max_length == 256
    assert vectors.shape == (len(TEXTS), DIM) and vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder([]).shape == (0, DIM)


def test_interface_errors(encoder: StaticTextEncoder):
    with pytest.raises(TypeError, match="single str"):
        encoder("a text")
    with pytest.raises(TypeError, match=r"texts\[1\] must be str, got int"):
        encoder(["ok", 3])
    with pytest.raises(ValueError, match="pca_dims"):
        StaticTextEncoder(pca_dims=1)


def test_deterministic_across_instances(encoder: StaticTextEncoder, cache_root: Path):
    other = StaticTextEncoder(cache_dir=cache_root, cache_size=0)
    np.testing.assert_array_equal(encoder(TEXTS), other(TEXTS))
    np.testing.assert_array_equal(encoder(TEXTS), encoder(TEXTS))  # second call from cache


def test_batch_equals_one_by_one(cache_root: Path):
    encoder = StaticTextEncoder(cache_dir=cache_root, cache_size=0)
    batch = encoder(TEXTS)
    single = np.concatenate([encoder([t]) for t in TEXTS])
    np.testing.assert_array_equal(batch, single)
    shuffled = list(reversed(TEXTS))
    np.testing.assert_array_equal(encoder(shuffled), batch[::-1])


def test_similar_texts_closer_than_unrelated(encoder: StaticTextEncoder):
    a = encoder([p[0] for p in SIMILAR])
    b = encoder([p[1] for p in SIMILAR])
    cross = a @ b.T
    for i in range(len(SIMILAR)):
        unrelated = np.delete(cross[i], i)
        assert cross[i, i] > unrelated.max(), (SIMILAR[i], cross[i])
    off_diagonal = cross[~np.eye(len(SIMILAR), dtype=bool)]
    assert np.diag(cross).mean() > off_diagonal.mean() + 0.2


def test_empty_and_unknown_characters(encoder: StaticTextEncoder):
    vectors = encoder(["", "   ", "🎬🍿", "\x00\x01", "[UNK]", "hello"])
    # Nothing known to the vocabulary: the empty-text vector (a unit vector, never NaN).
    for row in vectors[1:5]:
        np.testing.assert_array_equal(row, vectors[0])
    np.testing.assert_allclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
    assert not np.allclose(vectors[5], vectors[0])
    # Unknown characters inside a text are ignored.
    np.testing.assert_array_equal(encoder(["hello 🎬"]), encoder(["hello"]))


def test_long_texts_truncated_like_the_transformer(encoder: StaticTextEncoder):
    words = " ".join(["comedy"] * 254)
    assert np.array_equal(encoder([words + " horror"]), encoder([words + " western"]))
    assert not np.array_equal(encoder(["comedy horror"]), encoder(["comedy western"]))


def test_cache_info_and_clear(cache_root: Path):
    encoder = StaticTextEncoder(cache_dir=cache_root, cache_size=2)
    encoder(["a", "b", "a"])
    assert encoder.cache_info() == {"hits": 1, "misses": 2, "size": 2, "maxsize": 2}
    encoder(["c"])
    assert encoder.cache_info()["size"] == 2
    encoder.cache_clear()
    assert encoder.cache_info() == {"hits": 0, "misses": 0, "size": 0, "maxsize": 2}


def test_cache_written_once_and_reused(cache_root: Path, monkeypatch: pytest.MonkeyPatch):
    (folder,) = _table_folders(cache_root)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["vocab"] == 30522 and meta["dim"] == DIM
    assert meta["model_fingerprint"] == model_fingerprint(static_encoder.default_model_dir(),
                                                          cache_root)

    def no_distill(*args, **kwargs):
        raise AssertionError("distilled again although the cache is warm")

    monkeypatch.setattr(static_encoder, "distill_table", no_distill)
    mtime = (folder / "vectors.npy").stat().st_mtime_ns
    StaticTextEncoder(cache_dir=cache_root)(["warm"])
    assert (folder / "vectors.npy").stat().st_mtime_ns == mtime
    assert _table_folders(cache_root) == [folder]
    assert not [p for p in (cache_root / "static_encoders").iterdir() if ".tmp-" in p.name]


def test_warm_cache_does_not_import_torch(cache_root: Path):
    code = ("import sys; from marlrec.encoder.static_encoder import StaticTextEncoder; "
            f"v = StaticTextEncoder(cache_dir={str(cache_root)!r})(['a text', '']); "
            "assert v.shape == (2, 384); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _model_copy(tmp_path: Path, edit: str) -> Path:
    """A copy of the packaged model (weights linked, not copied) whose tokenizer_config.json
    carries ``edit``, so its fingerprint differs and nothing else does."""
    src = static_encoder.default_model_dir()
    dst = tmp_path / "model"
    dst.mkdir()
    for path in src.iterdir():
        if path.is_file():
            if path.name == "model.safetensors":
                (dst / path.name).symlink_to(path)
            else:
                shutil.copy(path, dst / path.name)
    config = json.loads((dst / "tokenizer_config.json").read_text())
    config["marlrec_test_edit"] = edit
    (dst / "tokenizer_config.json").write_text(json.dumps(config))
    return dst


def test_rebuilt_when_model_changes(cache_root: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch):
    """A model with another fingerprint distils a new table into a new folder (the
    distillation itself stubbed out here: the real one runs in the slow test below)."""
    model = _model_copy(tmp_path, "one")
    assert model_fingerprint(model, cache_root) != model_fingerprint(
        static_encoder.default_model_dir(), cache_root)
    calls = []
    real = StaticTextEncoder(cache_dir=cache_root)

    def fake_distill(model_dir, *args, **kwargs):
        calls.append(model_dir)
        return np.array(real.table), real.empty

    monkeypatch.setattr(static_encoder, "distill_table", fake_distill)
    root = tmp_path / "cache"
    first = StaticTextEncoder(model_dir=model, cache_dir=root)
    StaticTextEncoder(model_dir=model, cache_dir=root)
    assert len(calls) == 1 and len(_table_folders(root)) == 1
    np.testing.assert_array_equal(first(TEXTS), real(TEXTS))

    config = json.loads((model / "tokenizer_config.json").read_text())
    config["marlrec_test_edit"] = "two"
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    StaticTextEncoder(model_dir=model, cache_dir=root)
    assert len(calls) == 2 and len(_table_folders(root)) == 2

    # A broken table (e.g. a crash outside the atomic rename) is rebuilt, not trusted.
    newest = max(_table_folders(root), key=lambda p: p.stat().st_mtime_ns)
    (newest / "vectors.npy").write_bytes(b"garbage")
    StaticTextEncoder(model_dir=model, cache_dir=root)
    assert len(calls) == 3 and len(_table_folders(root)) == 2


@pytest.mark.slow
def test_real_rebuild_is_deterministic(cache_root: Path, tmp_path: Path):
    """A second real distillation (another fingerprint) gives the same vectors."""
    model = _model_copy(tmp_path, "rebuild")
    rebuilt = StaticTextEncoder(model_dir=model, cache_dir=tmp_path / "cache")
    original = StaticTextEncoder(cache_dir=cache_root)
    assert rebuilt.cache_folder.name != original.cache_folder.name
    np.testing.assert_allclose(rebuilt(TEXTS), original(TEXTS), atol=1e-6)


def test_missing_model_dir(tmp_path: Path):
    from marlrec.encoder import ModelDirectoryError

    with pytest.raises(ModelDirectoryError, match="does not exist"):
        StaticTextEncoder(model_dir=tmp_path / "nope", cache_dir=tmp_path)


def test_pickles_as_arguments(cache_root: Path):
    import pickle

    encoder = StaticTextEncoder(cache_dir=cache_root, cache_size=7)
    data = pickle.dumps(encoder)
    assert len(data) < 10_000
    copy = pickle.loads(data)
    assert copy.cache_info()["maxsize"] == 7
    np.testing.assert_array_equal(copy(TEXTS), encoder(TEXTS))


def test_piece_sums_of_joined_texts_add_up(encoder: StaticTextEncoder):
    """Texts joined at a word or punctuation boundary: their row sums and piece counts add
    up, and the normalised sum is the text's vector (what incremental text states use)."""
    parts = ["A 24-year-old technician.", " Recently watched: ", "Heat (1995)", "; ",
             "Usual Suspects, The (1995)", "."]
    sums, counts = encoder.piece_sums(parts + ["".join(parts)])
    assert sums.dtype == np.float32 and counts.dtype == np.int64
    np.testing.assert_allclose(sums[:-1].sum(axis=0), sums[-1], atol=1e-5)
    assert counts[:-1].sum() == counts[-1] > 0
    whole = encoder(["".join(parts)])[0]
    np.testing.assert_allclose(sums[-1] / np.linalg.norm(sums[-1]), whole, atol=1e-6)
    # not truncated: a long text counts every piece (the encoder's vector truncates)
    long_sums, long_counts = encoder.piece_sums(["x y " * 300])
    assert long_counts[0] == 600 > encoder.max_pieces
    empty_sums, empty_counts = encoder.piece_sums(["", "🎬"])
    assert (empty_counts == 0).all() and not empty_sums.any()
    assert encoder.piece_sums([])[0].shape == (0, DIM)


def _incremental(encoder, heads, items):
    from envs.ecosystem import _RECENT_END, _RECENT_PREFIX, _RECENT_SEPARATOR
    from envs.encoding import IncrementalStateTexts

    return IncrementalStateTexts(encoder, heads, items, _RECENT_PREFIX, _RECENT_SEPARATOR,
                                 _RECENT_END)


def test_incremental_state_texts_equal_encoding_the_whole_text(encoder: StaticTextEncoder,
                                                               movielens_data):
    """A state composed from cached profile and title pieces is the vector of the whole
    state text, for random histories of real MovieLens titles (including none, and texts
    past the encoder's length, which are encoded whole and truncated)."""
    from envs.ecosystem import user_state_text

    titles = list(movielens_data.titles)
    heads = ["A 24-year-old male technician.", "A 53-year-old female writer who likes noir.",
             "Cinephile. " * 200]  # the last is longer than max_pieces on its own
    states = _incremental(encoder, heads, titles)
    rng = np.random.default_rng(0)
    users = rng.integers(0, len(heads), 64)
    histories = rng.integers(0, len(titles), (64, 10))
    histories[rng.random((64, 10)) < 0.3] = -1  # empty slots, and some empty histories
    histories[:4] = -1
    got = states.encode(users, histories)
    texts = [user_state_text(heads[u], [titles[i] for i in h if i >= 0])
             for u, h in zip(users, histories, strict=True)]
    assert texts[:4] == [heads[u] for u in users[:4]]
    np.testing.assert_allclose(got, encoder(texts), atol=2e-6)
    # each piece was encoded once: a second call with the same pieces encodes none
    before = states.pieces_encoded
    assert before <= len(heads) + np.unique(histories[histories >= 0]).size
    states.encode(users[::-1], histories[::-1])
    assert states.pieces_encoded == before


def test_incremental_state_texts_need_an_additive_encoder():
    from envs.encoding import HashingTextEncoder

    with pytest.raises(TypeError, match="additive"):
        _incremental(HashingTextEncoder(), ["p"], ["t"])


def test_text_state_env_composes_states_from_pieces(encoder: StaticTextEncoder):
    """`user_state: text` with the static encoder: the env composes each state from pieces
    and its observations equal those of an env that encodes every state text whole."""
    import envs

    class Whole:  # the same encoder, seen as non-additive
        def __init__(self, inner):
            self.inner = inner

        def __call__(self, texts):
            return self.inner(texts)

    params = dict(num_sessions=4, num_items=60, num_providers=4, user_state="text",
                  horizon=12)
    composed = envs.make_env("interest_evolution", encoder=encoder, **params)
    whole = envs.make_env("interest_evolution", encoder=Whole(encoder), **params)
    assert composed._text_states is not None and whole._text_states is None
    obs_a, _ = composed.reset(seed=3)
    obs_b, _ = whole.reset(seed=3)
    for index, agent in enumerate(composed.possible_agents):  # the same actions every run
        composed.action_space(agent).seed(index)
    steps = 0
    while composed.agents:
        for agent in obs_a:
            if agent.startswith("slate_policy_"):
                for key, value in obs_a[agent].items():
                    np.testing.assert_allclose(value, obs_b[agent][key], atol=1e-5,
                                               err_msg=f"{agent}.{key}")
        actions = {a: composed.action_space(a).sample() for a in composed.agents}
        obs_a, *_ = composed.step(actions)
        steps += 1
        obs_b, *_ = whole.step(actions)
    assert steps == 12 and (composed._history >= 0).any()
