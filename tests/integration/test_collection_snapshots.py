"""Collection snapshots as users take them: snapshot a collection, delete it, restore the snapshot
into a new collection and find the same records, metadata and search results."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from fixtures.status import reason_of
from google.longrunning import operations_pb2_grpc
from google.protobuf import json_format, struct_pb2

from simmesh_client.operations import wait_operation
from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc

pytestmark = pytest.mark.integration

DIM = 8


def inputs(vectors: np.ndarray) -> list[indexer_pb2.RecordInput]:
    out = []
    for i, v in enumerate(vectors):
        metadata = struct_pb2.Struct()
        metadata.update({"color": ["red", "green"][i % 2], "n": i})
        vector = common_pb2.Vector(dimension=DIM, data=np.asarray(v, "<f4").tobytes())
        out.append(indexer_pb2.RecordInput(id=f"r{i}", vector=vector, metadata=metadata))
    return out


def records_of(stub, collection: str) -> dict[str, dict]:
    page = stub.ListRecords(indexer_pb2.ListRecordsRequest(collection=collection, page_size=1000))
    return {r.id: json_format.MessageToDict(r.metadata) for r in page.records}


def hits(stub, collection: str, query: np.ndarray) -> list[tuple[str, float]]:
    red = struct_pb2.Struct()
    red.update({"color": "red"})
    request = indexer_pb2.SearchRequest(
        collection=collection,
        queries=[indexer_pb2.Query(vector=common_pb2.Vector(dimension=DIM, data=query.astype("<f4").tobytes()))],
        k=5,
        filter=red,
    )
    return [(h.id, round(h.score, 5)) for h in stub.Search(request).results[0].hits]


def finished(channel, operation, response_type):
    return wait_operation(
        operations_pb2_grpc.OperationsStub(channel),
        operation,
        response_type=response_type,
        timeout=60,
        poll_interval=0.2,
    )


def test_a_snapshot_restores_into_a_new_collection_after_the_old_one_is_deleted(cluster):
    with grpc.insecure_channel(cluster.router_address) as channel:
        stub = indexer_pb2_grpc.IndexerServiceStub(channel)
        stub.CreateCollection(
            indexer_pb2.CreateCollectionRequest(
                collection_id="items",
                collection=indexer_pb2.Collection(
                    dimension=DIM, shard_count=2, description="the shop", indexed_fields=["color"]
                ),
            )
        )
        vectors = np.random.default_rng(3).standard_normal((60, DIM)).astype(np.float32)
        assert not stub.InsertRecords(
            indexer_pb2.InsertRecordsRequest(collection="collections/items", records=inputs(vectors))
        ).errors
        before = records_of(stub, "collections/items")
        found_before = hits(stub, "collections/items", vectors[4])

        operation = stub.SnapshotCollection(
            indexer_pb2.SnapshotCollectionRequest(collection="collections/items", snapshot_id="items-1")
        )
        snapshot = finished(channel, operation, indexer_pb2.Snapshot)
        assert (snapshot.name, snapshot.collection, snapshot.record_count) == (
            "snapshots/items-1",
            "collections/items",
            60,
        )
        assert snapshot.uri.endswith("backups/snapshots/items-1/manifest.json")

        stub.DeleteCollection(indexer_pb2.DeleteCollectionRequest(name="collections/items"))
        listed = stub.ListSnapshots(indexer_pb2.ListSnapshotsRequest(collection="collections/items"))
        assert [s.name for s in listed.snapshots] == ["snapshots/items-1"]

        operation = stub.RestoreCollection(
            indexer_pb2.RestoreCollectionRequest(snapshot="snapshots/items-1", collection_id="restored")
        )
        collection = finished(channel, operation, indexer_pb2.Collection)
        assert (collection.name, collection.record_count, collection.dimension) == ("collections/restored", 60, DIM)
        assert (collection.description, list(collection.indexed_fields)) == ("the shop", ["color"])
        assert records_of(stub, "collections/restored") == before
        assert hits(stub, "collections/restored", vectors[4]) == found_before
        # the restored collection takes writes like any other
        assert not stub.InsertRecords(
            indexer_pb2.InsertRecordsRequest(
                collection="collections/restored", records=inputs(vectors[:1]), upsert=True
            )
        ).errors


def test_restoring_into_an_existing_collection_or_from_an_unknown_snapshot_is_refused(cluster):
    with grpc.insecure_channel(cluster.router_address) as channel:
        stub = indexer_pb2_grpc.IndexerServiceStub(channel)
        stub.CreateCollection(
            indexer_pb2.CreateCollectionRequest(collection_id="taken", collection=indexer_pb2.Collection(dimension=DIM))
        )
        finished(
            channel,
            stub.SnapshotCollection(
                indexer_pb2.SnapshotCollectionRequest(collection="collections/taken", snapshot_id="s1")
            ),
            indexer_pb2.Snapshot,
        )
        with pytest.raises(grpc.RpcError) as exists:
            stub.RestoreCollection(indexer_pb2.RestoreCollectionRequest(snapshot="snapshots/s1", collection_id="taken"))
        assert (exists.value.code(), reason_of(exists.value)) == (grpc.StatusCode.ALREADY_EXISTS, "COLLECTION_EXISTS")
        with pytest.raises(grpc.RpcError) as unknown:
            stub.RestoreCollection(
                indexer_pb2.RestoreCollectionRequest(snapshot="snapshots/nope", collection_id="other")
            )
        assert (unknown.value.code(), reason_of(unknown.value)) == (grpc.StatusCode.NOT_FOUND, "SNAPSHOT_NOT_FOUND")
        with pytest.raises(grpc.RpcError) as again:
            stub.SnapshotCollection(
                indexer_pb2.SnapshotCollectionRequest(collection="collections/taken", snapshot_id="s1")
            )
        assert (again.value.code(), reason_of(again.value)) == (grpc.StatusCode.ALREADY_EXISTS, "SNAPSHOT_EXISTS")
