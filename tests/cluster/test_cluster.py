"""Distributed execution on a real multi-node Ray cluster on this machine: cluster.yaml
against Ray's schema, placement by custom resources, sampling through the encoder pool
across nodes, and an env runner killed mid-training."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray")

from marlrec.config.spec import parse_spec  # noqa: E402

ROOT = Path(__file__).parents[2]
TINY = {"num_sessions": 2, "num_candidates": 4, "horizon": 20, "num_items": 60,
        "num_providers": 3, "num_users": 50}


def load_cluster_yaml() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def validate(config: dict) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(config))


def test_cluster_yaml_follows_rays_schema_and_carries_the_placement_resources():
    config = load_cluster_yaml()
    validate(config)
    types = config["available_node_types"]
    assert types["cpu_rollout"]["resources"]["rollout"] > 0
    assert types["gpu_encoder"]["resources"]["encoder"] > 0
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start  # reached by port forwarding only
    assert any("constraints.txt" in c for c in config["setup_commands"])  # pinned versions


def test_the_on_prem_config_follows_rays_schema_and_the_kuberay_manifest_has_the_groups():
    validate(yaml.safe_load((ROOT / "docs" / "cluster" / "onprem.yaml").read_text()))
    manifest = yaml.safe_load((ROOT / "docs" / "cluster" / "kuberay-raycluster.yaml")
                              .read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayCluster")
    assert manifest["spec"]["rayVersion"] == ray.__version__
    groups = {g["groupName"]: g["rayStartParams"]["resources"]
              for g in manifest["spec"]["workerGroupSpecs"]}
    assert "rollout" in groups["cpu-rollout"] and "encoder" in groups["gpu-encoder"]


def test_a_typo_in_cluster_yaml_fails_validation():
    import jsonschema

    config = load_cluster_yaml()
    config["available_node_types"]["cpu_rollout"]["max_wokers"] = 3
    with pytest.raises(jsonschema.ValidationError, match="max_wokers"):
        validate(config)


@pytest.fixture(scope="module")
def three_node_cluster():
    """A head (the driver and trials), a rollout node and an encoder node."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False})
    rollout = cluster.add_node(num_cpus=2, resources={"rollout": 2})
    encoder = cluster.add_node(num_cpus=1, resources={"encoder": 1})
    ray.init(address=cluster.address, log_to_driver=False)
    yield {"rollout": rollout.node_id, "encoder": encoder.node_id}
    ray.shutdown()
    cluster.shutdown()


def placed_spec(tmp_path) -> object:
    return parse_spec({
        "name": "placed",
        "env": {"preset": "full_ecosystem", "encoder": "minilm",
                "params": {**TINY, "user_state": "text"}},
        "training": {"train_batch_size_per_learner": 120, "minibatch_size": 60,
                     "num_epochs": 1},
        "resources": {"num_env_runners": 1, "env_runner_resources": {"rollout": 1}},
        "encoder_pool": {"num_replicas": 1, "num_cpus": 1, "resources": {"encoder": 1},
                         "name": "cluster-test-pool"},
        "logging": {"results_dir": str(tmp_path), "wandb_mode": "disabled"}})


def test_runners_and_encoders_land_on_their_nodes_and_sampling_reaches_the_pool(
        three_node_cluster, tmp_path):
    from marlrec.encoder.pool import EncoderPool
    from marlrec.training.rllib_config import build_algorithm_config
    from marlrec.training.run import check_cluster_fits

    spec = placed_spec(tmp_path)
    check_cluster_fits(spec)  # the custom resources exist
    pool = EncoderPool(spec.encoder_pool)
    try:
        assert [i["node_id"] for i in pool.replica_info] == [three_node_cluster["encoder"]]
        algo = build_algorithm_config(spec, "PPO", "per_role", seed=0,
                                      encoder=pool.client()).build_algo()
        try:
            nodes = algo.env_runner_group.foreach_env_runner(
                lambda r: ray.get_runtime_context().get_node_id(), local_env_runner=False)
            assert nodes == [three_node_cluster["rollout"]]
            result = algo.train()
            assert result["env_runners"]["encoder/texts"] > 0  # the runner used the pool
            assert result["encoder_pool"]["requests"] > 0

            # an env runner dies mid-training: RLlib restarts it and training goes on
            (runner_id,) = algo.env_runner_group.healthy_worker_ids()
            actor = algo.env_runner_group._worker_manager._actors[runner_id]
            ray.kill(actor, no_restart=False)  # a crash: Ray restarts the actor
            steps_before = result["env_runners"]["num_env_steps_sampled_lifetime"]
            # Train until RLlib uses the runner again, however long Ray's restart takes (a
            # restarted runner loads MiniLM again): no clock. What is bounded is what comes
            # after the restart: once Ray reports the actor restarted and alive, RLlib's
            # next iteration pings it back into the group and samples from it.
            iterations_since_restart = 0
            def sampled() -> float:
                return result["env_runners"].get("num_env_steps_sampled_lifetime", 0)

            while not (algo.env_runner_group.num_healthy_remote_workers() == 1 and
                       sampled() > steps_before):
                info = ray._private.state.actors(actor._actor_id.hex())  # from the GCS
                assert info["State"] != "DEAD", "Ray did not restart the killed env runner"
                if info["State"] == "ALIVE" and info["NumRestarts"] > 0:
                    iterations_since_restart += 1
                    assert iterations_since_restart <= 20, (
                        "the env runner was restarted but RLlib has not sampled from it "
                        "in 20 iterations")
                result = algo.train()
        finally:
            algo.stop()
    finally:
        pool.shutdown()


def test_missing_placement_resources_are_refused_before_anything_starts(
        three_node_cluster, tmp_path):
    from marlrec.training.run import check_cluster_fits

    spec = parse_spec({"name": "x", "env": {"params": TINY},
                       "resources": {"num_env_runners": 2,
                                     "env_runner_resources": {"rollout_gpu": 1}}})
    with pytest.raises(ValueError, match=r"env_runner_resources.rollout_gpu: the env runners "
                                         r"need 2 of 'rollout_gpu' and the Ray cluster has 0"):
        check_cluster_fits(spec)
