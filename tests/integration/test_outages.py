"""The indexer through etcd and S3 outages: real etcd, S3, shard node and router processes.

Each test runs its own etcd and S3 server (they are stopped and started on purpose here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from fixtures.infra import started
from support.waiting import seconds_until

from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.indexer import IndexerCluster
from simmesh.devstack.mesh import serving
from simmesh.devstack.s3 import S3Server
from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc

pytestmark = pytest.mark.integration

DIM = 8


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    with started(EtcdServer(tmp_path / "etcd", tmp_path / "logs")) as server:
        yield server


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    with started(S3Server(tmp_path / "s3", tmp_path / "logs")) as server:
        yield server


@pytest.fixture
def cluster(tmp_path: Path, etcd: EtcdServer, s3: S3Server) -> Iterator[IndexerCluster]:
    made = IndexerCluster(tmp_path / "cluster", etcd.endpoint, s3, shards=2)
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def stub(cluster: IndexerCluster) -> Iterator[indexer_pb2_grpc.IndexerServiceStub]:
    with grpc.insecure_channel(cluster.router_address) as channel:
        yield indexer_pb2_grpc.IndexerServiceStub(channel)


def create(stub: indexer_pb2_grpc.IndexerServiceStub, name: str) -> None:
    stub.CreateCollection(
        indexer_pb2.CreateCollectionRequest(
            collection_id=name, collection=indexer_pb2.Collection(dimension=DIM, shard_count=2)
        ),
        timeout=10,
    )


def insert(stub: indexer_pb2_grpc.IndexerServiceStub, name: str, count: int) -> np.ndarray:
    data = np.random.default_rng(3).standard_normal((count, DIM)).astype("<f4")
    records = [
        indexer_pb2.RecordInput(id=f"r{i}", vector=common_pb2.Vector(dimension=DIM, data=v.tobytes()))
        for i, v in enumerate(data)
    ]
    reply = stub.InsertRecords(indexer_pb2.InsertRecordsRequest(collection=f"collections/{name}", records=records))
    assert reply.inserted_count == count and not reply.errors
    return data


def started_with_items(cluster: IndexerCluster, stub: indexer_pb2_grpc.IndexerServiceStub) -> np.ndarray:
    """The cluster started, with collection `items` holding 200 records; their vectors."""
    cluster.start()
    create(stub, "items")
    return insert(stub, "items", 200)


def top_id(stub: indexer_pb2_grpc.IndexerServiceStub, name: str, vector: np.ndarray) -> str:
    query = indexer_pb2.Query(vector=common_pb2.Vector(dimension=DIM, data=vector.tobytes()))
    reply = stub.Search(indexer_pb2.SearchRequest(collection=f"collections/{name}", queries=[query], k=1), timeout=5)
    return reply.results[0].hits[0].id


def creatable(stub: indexer_pb2_grpc.IndexerServiceStub, name: str) -> Callable[[], bool]:
    def attempt() -> bool:
        try:
            create(stub, name)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        return stub.GetCollection(indexer_pb2.GetCollectionRequest(name=f"collections/{name}"), timeout=5) is not None

    return attempt


def test_an_etcd_outage_of_15s_stops_no_shard_and_searches_keep_answering(
    cluster: IndexerCluster, stub: indexer_pb2_grpc.IndexerServiceStub, etcd: EtcdServer
) -> None:
    data = started_with_items(cluster, stub)
    etcd.stop()
    outage_ends = time.monotonic() + 15
    searches = 0
    while time.monotonic() < outage_ends:
        assert top_id(stub, "items", data[searches % 200]) == f"r{searches % 200}"
        searches += 1
        time.sleep(0.5)
    assert all(shard.alive() for shard in cluster.shards.values()), cluster.logs()
    etcd.start()
    took = seconds_until(creatable(stub, "after"), timeout=10)
    print(f"\n{searches} searches answered during the outage; a new collection created {took:.1f}s after etcd's return")
    insert(stub, "after", 20)  # both shards serve the new collection: registered again
    assert top_id(stub, "items", data[7]) == "r7"


def test_a_shard_and_a_router_started_while_etcd_is_down_serve_once_it_starts(
    cluster: IndexerCluster, stub: indexer_pb2_grpc.IndexerServiceStub, etcd: EtcdServer
) -> None:
    etcd.stop()
    for ordinal in range(2):
        cluster.start_shard(ordinal, wait=False)
    cluster.start_router(wait=False)
    time.sleep(3)
    processes = [cluster.router, *cluster.shards.values()]
    assert all(p is not None and p.alive() for p in processes), cluster.logs()
    assert not serving(cluster.router_address, timeout=1)
    etcd.start()
    took = seconds_until(
        lambda: all(serving(a, timeout=1) for a in [cluster.router_address, *map(cluster.shard_address, (0, 1))]), 10
    )
    print(f"\nshards and router serving {took:.1f}s after etcd started")
    seconds_until(creatable(stub, "items"), timeout=10)
    data = insert(stub, "items", 50)
    assert top_id(stub, "items", data[9]) == "r9"


def test_a_shard_restarted_while_s3_is_down_is_not_serving_until_s3_returns(
    cluster: IndexerCluster, stub: indexer_pb2_grpc.IndexerServiceStub, s3: S3Server
) -> None:
    data = started_with_items(cluster, stub)
    cluster.kill_shard(0)
    s3.stop()
    cluster.start_shard(0, wait=False)
    time.sleep(4)
    assert cluster.shards[0].alive(), cluster.logs()
    assert not serving(cluster.shard_address(0), timeout=1)
    s3.start()
    took = seconds_until(lambda: serving(cluster.shard_address(0), timeout=1), timeout=10)
    print(f"\nthe restarted shard serving {took:.1f}s after S3's return")
    seconds_until(lambda: all(top_id(stub, "items", data[i]) == f"r{i}" for i in range(0, 200, 10)), timeout=10)
