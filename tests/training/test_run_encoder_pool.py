"""Experiments whose spec starts the encoder pool (split from test_run.py so that the two
pytest workers can take one file each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from run_specs import TINY, tiny_spec  # noqa: E402

from marlrec.report.encoder_figures import encoder_pool_figures  # noqa: E402


def test_a_grid_of_sharing_modes_with_mappo_and_the_encoder_pool_from_the_spec(
        local_ray, tmp_path):
    """``sharing`` as a list makes one Tune experiment per algorithm x mode; the spec's
    ``encoder_pool`` serves minilm to every trial's envs and reports its figures, and is
    gone when the run ends."""
    from marlrec.encoder.pool import pool_stats
    from marlrec.training.run import run_experiment

    spec = tiny_spec(tmp_path, algorithms=["MAPPO"], sharing=["per_role", "independent"],
                     seeds=[0], stop={"env_steps": 200},
                     env={"preset": "interest_evolution", "encoder": "minilm",
                          "params": {**TINY, "user_state": "text"}},
                     encoder_pool={"num_replicas": 1, "num_cpus": 0, "name": "test-run-pool"},
                     logging={"results_dir": str(tmp_path), "wandb_mode": "disabled"})
    summaries = run_experiment(spec, verbose=0)
    assert sorted((s.algorithm, s.sharing) for s in summaries) == [
        ("MAPPO", "independent"), ("MAPPO", "per_role")]
    for s in summaries:
        result = json.loads(Path(s.path, "result.json").read_text().splitlines()[-1])
        assert result["encoder_pool"]["requests"] > 0  # the pool served the trial
        assert result["env_runners"]["encoder/texts"] > 0
        assert "slate_policy" in result["learners"] or "slate_policy_0" in result["learners"]
    with pytest.raises(ValueError, match="Failed to look up actor"):
        pool_stats(spec.encoder_pool)  # stopped with the run
    figures = encoder_pool_figures(tmp_path / "tiny")  # what the report and console show
    assert figures["runs"] == 2 and figures["texts"] > 0 and figures["texts_per_s"] > 0
    assert 0 <= figures["wait_share"] <= 1 and 0 <= figures["client_cache_hit_rate"] <= 1


def test_text_states_from_a_static_pool_encode_only_new_pieces(local_ray, tmp_path):
    """The quickstart's setting: ``env.encoder: static`` served by the pool, ``user_state:
    text``. Each env composes its states from profile and title pieces, so the replicas
    encode each piece about once: far fewer texts than the states the sessions showed."""
    from marlrec.training.run import run_experiment

    spec = tiny_spec(tmp_path, seeds=[0], stop={"env_steps": 400},
                     env={"preset": "interest_evolution", "encoder": "static",
                          "params": {**TINY, "user_state": "text"}},
                     encoder_pool={"num_replicas": 1, "num_cpus": 0, "name": "test-static"},
                     logging={"results_dir": str(tmp_path), "wandb_mode": "disabled"})
    assert spec.encoder_pool.encoder == "static"  # filled in from env.encoder
    run_experiment(spec, verbose=0)
    figures = encoder_pool_figures(tmp_path / "tiny")
    pieces = TINY["num_items"] + TINY["num_users"] + 3  # titles, profiles, glue
    states = 400 * TINY["num_sessions"]  # one state per session and step, training alone
    assert 0 < figures["texts"] and figures["texts"] < states
    # the catalog's and profiles' vectors once, each piece at most once per env: training
    # env and evaluation env (plus the in-training evaluations' envs)
    assert figures["texts"] <= 4 * pieces + TINY["num_items"] + TINY["num_users"]


def test_an_experiment_that_cannot_fit_the_cluster_is_refused_before_it_starts(
        local_ray, tmp_path):
    from marlrec.training.run import run_experiment

    spec = tiny_spec(tmp_path, env={"preset": "interest_evolution", "encoder": "minilm",
                                    "params": TINY},
                     encoder_pool={"num_replicas": 2, "num_cpus": 1})
    with pytest.raises(ValueError, match=r"the Ray cluster has 2 CPUs; one trial needs 1 .*"
                                         r"and the encoder pool 2: lower"):
        run_experiment(spec, verbose=0)
    assert not (tmp_path / "tiny").exists()  # nothing written
