"""One client insert stream and the router's search streams through a shard node killed (kill -9)
and restarted: once the new process is registered, the same client stream writes to it again and
searches answer from every shard, without the client reopening anything."""

from __future__ import annotations

import queue
import time

import grpc
import numpy as np
import pytest
from fixtures.status import reason_of
from test_indexer import DIM, create

from simmesh.indexer.layout import Layout, decode_shard
from simmesh.kit.discovery import EtcdConfig
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc

pytestmark = pytest.mark.integration

BATCH = 100
# Seconds a shard's registration outlives its process (SIMMESH_LEASE_TTL in the devstack).
REGISTRATION_INTERVAL = 2.0


class InsertStream:
    """One StreamInsertRecords call on a raw stub. The router answers a batch once the next one
    has come (or the stream ends), so `send` returns the reply to the batch sent before."""

    def __init__(self, channel: grpc.Channel, collection: str) -> None:
        self.collection = collection
        self._requests: queue.Queue[indexer_pb2.InsertRecordsRequest | None] = queue.Queue()
        self._sent: list[list[str]] = []
        self._replies = indexer_pb2_grpc.IndexerServiceStub(channel).StreamInsertRecords(
            iter(self._requests.get, None), timeout=300
        )

    def send(self, ids: list[str], vectors: np.ndarray) -> tuple[list[str], indexer_pb2.InsertRecordsResponse] | None:
        """Sends a batch; the ids and reply of the batch before it (None for the first)."""
        records = [
            indexer_pb2.RecordInput(id=i, vector=common_pb2.Vector(dimension=DIM, data=v.tobytes()))
            for i, v in zip(ids, vectors)
        ]
        self._requests.put(indexer_pb2.InsertRecordsRequest(collection=self.collection, records=records))
        self._sent.append(ids)
        return (self._sent.pop(0), next(self._replies)) if len(self._sent) > 1 else None

    def close(self) -> list[tuple[list[str], indexer_pb2.InsertRecordsResponse]]:
        """Ends the stream; the replies still owed."""
        self._requests.put(None)
        return list(zip(self._sent, self._replies))


def registered_pid(etcd_endpoint: str, prefix: str, storage: str, shard: int) -> int:
    """The pid of the serving node registered for the shard; 0 when none is."""
    client = EtcdConfig(etcd_endpoint).connect()
    try:
        found = client.get_prefix_response(Layout(prefix).shard_key(storage, shard)).kvs
    finally:
        client.close()
    if not found:
        return 0
    info = decode_shard(found[0].value)
    return info.pid if info.state == shard_pb2.ShardInfo.STATE_SERVING else 0


def search(stub, vector: np.ndarray) -> indexer_pb2.SearchResponse:
    query = indexer_pb2.Query(vector=common_pb2.Vector(dimension=DIM, data=vector.tobytes()))
    request = indexer_pb2.SearchRequest(collection="collections/heal", queries=[query], k=1, allow_partial=True)
    return stub.Search(request, timeout=5)


def test_a_restarted_shard_is_written_and_searched_again_inside_open_streams(indexer_cluster) -> None:
    cluster = indexer_cluster(shards=2)
    etcd = cluster.common["SIMMESH_ETCD_ENDPOINTS"]
    rng = np.random.default_rng(11)
    vectors: dict[str, np.ndarray] = {}
    sent_at: dict[str, float] = {}  # by a batch's first id
    acknowledged: set[str] = set()
    failed: set[str] = set()
    numbers = iter(range(10_000))

    def settle(answered: tuple[list[str], indexer_pb2.InsertRecordsResponse] | None) -> tuple[float, list[str]]:
        """A batch's reply noted: when it was sent and the reasons of its failed items."""
        if answered is None:
            return 0.0, []
        ids, reply = answered
        failed_at = {error.index for error in reply.errors}
        for i, record_id in enumerate(ids):
            (failed if i in failed_at else acknowledged).add(record_id)
        return sent_at[ids[0]], [reason_of(error.status) for error in reply.errors]

    with grpc.insecure_channel(cluster.router_address) as channel:
        stub = indexer_pb2_grpc.IndexerServiceStub(channel)
        create(stub, "heal", indexed_fields=[])
        stream = InsertStream(channel, "collections/heal")

        def send() -> tuple[float, list[str]]:
            """Sends one batch on the stream; when the batch before it was sent, and its failures."""
            n = next(numbers)
            ids = [f"b{n}-{i}" for i in range(BATCH)]
            batch = rng.standard_normal((BATCH, DIM)).astype("<f4")
            vectors.update(zip(ids, batch))
            sent_at[ids[0]] = time.monotonic()
            return settle(stream.send(ids, batch))

        for _ in range(4):
            assert send()[1] == []
        # Searches now ride the router's search stream to each node.
        first = vectors["b0-0"]
        assert not search(stub, first).partial

        old_pid = registered_pid(etcd, cluster.prefix, "heal", 0)
        cluster.kill_shard(0)
        killed = time.monotonic()
        down: list[str] = []
        while not down:  # the batch sent before the kill may have landed
            sent, down = send()
            assert sent < killed or (set(down) == {"SHARD_UNAVAILABLE"} and len(down) < BATCH), "shard 0's items"
        assert search(stub, first).partial, "answers from the live shard meanwhile"

        restarted = time.monotonic()
        cluster.start_shard(0, wait=False)
        healed = registered = None
        while time.monotonic() - restarted < 60 and (healed is None or registered is None):
            sent, reasons_then = send()
            assert set(reasons_then) <= {"SHARD_UNAVAILABLE"}
            if healed is None and sent > restarted and not reasons_then:
                healed = sent
            if registered is None and registered_pid(etcd, cluster.prefix, "heal", 0) not in (0, old_pid):
                registered = time.monotonic()
            time.sleep(0.05)
        assert healed is not None and registered is not None, cluster.logs()
        print(
            f"\nstream healed {healed - restarted:.2f} s after the restart, "
            f"{healed - registered:+.2f} s from the registration seen in etcd"
        )
        assert healed - registered < REGISTRATION_INTERVAL

        # From now on every batch on the same stream lands whole, and searches are not partial.
        for _ in range(20):
            assert send()[1] == []
        for answered in stream.close():
            assert settle(answered)[1] == []
        for record_id in list(acknowledged)[::97]:
            reply = search(stub, vectors[record_id])
            assert not reply.partial and not reply.unavailable_shards
            assert reply.results[0].hits[0].id == record_id

        listed: list[str] = []
        token = ""
        while True:
            page = stub.ListRecords(
                indexer_pb2.ListRecordsRequest(collection="collections/heal", page_size=1000, page_token=token)
            )
            listed += [record.id for record in page.records]
            token = page.next_page_token
            if not token:
                break
    assert len(listed) == len(set(listed)), "every record once"
    assert acknowledged <= set(listed), "every acknowledged record present"
    assert set(listed) - acknowledged <= failed
