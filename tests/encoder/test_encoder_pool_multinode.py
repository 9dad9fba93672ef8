"""The encoder pool on a two-node Ray cluster (ray.cluster_utils.Cluster, one machine):
replicas pinned by the custom resource ``encoder`` and found by name from the other node."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

from marlrec.encoder.pool import EncoderPool, EncoderPoolConfig  # noqa: E402


@pytest.fixture(scope="module")
def two_nodes():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    encoder_node = cluster.add_node(num_cpus=1, resources={"encoder": 1})
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    yield cluster, encoder_node
    ray.shutdown()
    cluster.shutdown()


def test_replicas_pinned_by_custom_resource_and_reached_from_another_node(two_nodes):
    cluster, encoder_node = two_nodes
    pool = EncoderPool(EncoderPoolConfig(num_cpus=0, resources={"encoder": 1},
                                         torch_threads=1, name="pinned"))
    try:
        assert pool.replica_info[0]["node_id"] == encoder_node.node_id
        client = pool.client()

        @ray.remote(num_cpus=1)
        def encode_elsewhere(client, texts):
            return ray.get_runtime_context().get_node_id(), client(texts)

        head = cluster.head_node.node_id
        texts = ["a user who likes documentaries", "a user who likes comedies"]
        caller_node, vectors = ray.get(encode_elsewhere.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(head, soft=False)
        ).remote(client, texts))
        assert caller_node == head != encoder_node.node_id
        np.testing.assert_allclose(vectors, client(texts), atol=1e-6)
        assert vectors.shape == (2, 384)
    finally:
        pool.shutdown()
