"""Two tenants with collections of the same name through the indexer of real processes (router, two
shard nodes, etcd, S3) with API keys on, as users reach it with the SDK: neither ever sees the
other's records in search, get, list or export (every record with its vector), nor its snapshots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from simmesh.devstack.indexer import IndexerCluster
from simmesh.kit.auth.etcd_store import EtcdKeyStore
from simmesh.kit.auth.identity import Role
from simmesh.kit.auth.keys import new_key
from simmesh_client import Client, ClientConfig, SimmeshError

pytestmark = pytest.mark.integration

DIM = 8
TENANTS = ("acme", "beta")


@pytest.fixture
def clients(tmp_path: Path, etcd_server, etcd_client, s3_server) -> Iterator[dict[str, Client]]:
    """An SDK client per tenant, each with an admin key of its tenant, on an indexer with API keys in etcd."""
    auth = {"SIMMESH_API_KEYS": "etcd", "SIMMESH_INTERNAL_TOKEN": "mesh-internal-credential"}
    cluster = IndexerCluster(tmp_path / "cluster", etcd_server.endpoint, s3_server, shards=2, env=auth)
    store = EtcdKeyStore(etcd_client, cluster.prefix)
    keys = {}
    for tenant in TENANTS:
        keys[tenant], record = new_key(tenant, Role.ADMIN)
        store.put(record)
    store.close()
    opened: dict[str, Client] = {}
    try:
        cluster.start()
        for tenant in TENANTS:
            config = ClientConfig(indexer_address=cluster.router_address, token=keys[tenant], timeout=20)
            opened[tenant] = Client(config)
        yield opened
    finally:
        for client in opened.values():
            client.close()
        cluster.stop()


def _records(tenant: str, vectors: np.ndarray) -> list[dict]:
    """The same ids for both tenants (r0, r1, ...), each record naming its tenant."""
    return [{"_id": f"r{i}", "_vector": v.tolist(), "tenant": tenant, "n": i} for i, v in enumerate(vectors)]


def test_two_tenants_with_collections_of_the_same_name_never_see_each_others_records(clients) -> None:
    rng = np.random.default_rng(7)
    vectors = {tenant: rng.standard_normal((30, DIM)).astype(np.float32) for tenant in TENANTS}
    for tenant, client in clients.items():
        client.indexer.create_collection("shoes", DIM, shard_count=2)
        assert client.indexer.insert("collections/shoes", _records(tenant, vectors[tenant])).ok
    acme, beta = clients["acme"].indexer, clients["beta"].indexer
    acme.insert("collections/shoes", [{"_id": "acme-only", "_vector": vectors["acme"][0].tolist(), "tenant": "acme"}])

    for tenant, indexer in (("acme", acme), ("beta", beta)):
        assert [c.name for c in indexer.list_collections()] == ["collections/shoes"]
        collection = indexer.get_collection("collections/shoes")
        assert (collection.name, collection.record_count) == ("collections/shoes", 31 if tenant == "acme" else 30)
        exported = list(indexer.list_records("collections/shoes", include_vectors=True))
        assert {r.metadata["tenant"] for r in exported} == {tenant}
        assert all(r.name == f"collections/shoes/records/{r.id}" for r in exported)
        by_id = {r.id: np.frombuffer(r.vector.data, dtype="<f4") for r in exported}
        assert np.allclose(by_id["r3"], vectors[tenant][3] / np.linalg.norm(vectors[tenant][3]), atol=1e-5)
        got = indexer.get_records("collections/shoes", ["r5", "acme-only"])
        assert [r.metadata["tenant"] for r in got.records] == [tenant] * len(got.records)
        assert list(got.missing_ids) == ([] if tenant == "acme" else ["acme-only"])
        for other in TENANTS:
            hits = indexer.search("collections/shoes", vector=vectors[other][4], k=5, include_metadata=True)
            assert {hit.metadata["tenant"] for hit in hits.hits} == {tenant}
        assert indexer.search("collections/shoes", vector=vectors[tenant][4], k=1).hits[0].id == "r4"

    acme.create_collection("boots", DIM)
    acme.snapshot_collection("collections/shoes", "shoes-1", timeout=60)
    assert [s.name for s in beta.list_snapshots()] == []
    for call in (
        lambda: beta.get_collection("collections/boots"),
        lambda: beta.list_records("collections/boots").__next__(),
        lambda: beta.restore_collection("snapshots/shoes-1", "stolen", timeout=60),
    ):
        with pytest.raises(SimmeshError) as refused:
            call()
        assert refused.value.code == grpc.StatusCode.NOT_FOUND and "beta" not in str(refused.value)
    beta.delete_records("collections/shoes", ["r1", "acme-only"])
    assert [s.name for s in acme.list_snapshots()] == ["snapshots/shoes-1"]
    assert acme.get_collection("collections/shoes").record_count == 31
