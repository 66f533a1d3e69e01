"""The indexer of real processes with mutual TLS between router and shard nodes, and the SDK over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.certs import CertAuthority

from simmesh.devstack.indexer import IndexerCluster
from simmesh.kit.tls import ChannelTls
from simmesh_client import Client, ClientConfig, SimmeshError, TlsOptions

pytestmark = pytest.mark.integration

DIM = 8


@pytest.fixture
def certs(tmp_path: Path) -> tuple[ChannelTls, ChannelTls, TlsOptions]:
    """The nodes' certificate, a node certificate of another CA, and the SDK's client options."""
    mesh = CertAuthority.create(tmp_path / "mesh", "mesh CA")
    node, user = mesh.issue("node"), mesh.issue("user")
    rogue = CertAuthority.create(tmp_path / "rogue", "rogue CA").issue("node")
    return node, rogue, TlsOptions(user.ca_file, user.cert_file, user.key_file)


@pytest.fixture
def cluster(tmp_path: Path, etcd_server, s3_server, certs) -> Iterator[IndexerCluster]:
    node, rogue, _ = certs
    cluster = IndexerCluster(tmp_path / "cluster", etcd_server.endpoint, s3_server, shards=2, tls=node)
    try:
        cluster.start_shard(0)
        cluster.start_shard(1, tls=rogue)  # registers in etcd, but with a certificate of another CA
        cluster.start_router()
        yield cluster
    finally:
        cluster.stop()


def test_a_shard_with_a_certificate_of_another_ca_cannot_join_and_the_sdk_goes_through_tls(
    cluster: IndexerCluster, certs
) -> None:
    """Node 1 runs and registers (its own health check, over its own CA, said SERVING), but the
    router refuses its certificate at the handshake: no call reaches it, none of its shard's
    records is acknowledged, and searches answer SHARD_UNAVAILABLE rather than a partial answer.
    Restarted with the mesh's certificate, the node joins and the same records go in."""
    node, _, user = certs
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40, DIM)).astype(np.float32)
    records = [{"_id": f"r{i}", "_vector": v.tolist()} for i, v in enumerate(vectors)]
    with Client(ClientConfig(indexer_address=cluster.router_address, tls=user, timeout=20)) as client:
        client.indexer.create_collection("items", DIM, shard_count=2)
        summary = client.indexer.insert("collections/items", records)
        assert 0 < summary.inserted < len(records)
        assert summary.by_reason() == {"SHARD_UNAVAILABLE": len(records) - summary.inserted}
        assert all("CERTIFICATE_VERIFY_FAILED" in failure.message for failure in summary.failures)
        with pytest.raises(SimmeshError) as refused:
            client.indexer.search("collections/items", vector=vectors[0], k=3)
        assert refused.value.reason == "SHARD_UNAVAILABLE"
        assert "ShardService/" not in (cluster.root / "shard-1.log").read_text()

        cluster.kill_shard(1)
        cluster.start_shard(1, tls=node)
        failed = [records[failure.index] for failure in summary.failures]
        assert client.indexer.insert("collections/items", failed, retries=20, retry_backoff=0.5).ok
        hits = client.indexer.search("collections/items", vector=vectors[0], k=3)
        assert client.indexer.stats("collections/items").record_count == len(records)
    assert hits.hits[0].id == "r0"
