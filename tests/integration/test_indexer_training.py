"""The indexer as users run it: its trained index and what a killed shard keeps."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from fixtures.status import outcome, reason_of
from google.longrunning import operations_pb2_grpc
from test_indexer import DIM, all_ids, create, vec

from simmesh.indexer.coarse import CoarseQuantizer
from simmesh_client.operations import wait_operation
from simmesh_proto.internal.v1 import shard_pb2, shard_pb2_grpc
from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc

pytestmark = pytest.mark.integration


def test_train_index_recall_and_records_join_the_trained_index(stub, cluster):
    create(stub, "big", indexed_fields=[])
    with pytest.raises(grpc.RpcError) as caught:
        stub.TrainIndex(indexer_pb2.TrainIndexRequest(collection="collections/big"))
    code, reason, _ = outcome(caught.value)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NEED_MORE_SAMPLES")
    assert "need at least 1000 vectors to train, have 0" in caught.value.details()

    rng = np.random.default_rng(3)
    centers = rng.standard_normal((200, DIM)).astype(np.float32) * 3
    data = (centers[rng.integers(0, 200, 100_000)] + rng.standard_normal((100_000, DIM))).astype(np.float32)
    for start in range(0, len(data), 10_000):
        chunk = [
            indexer_pb2.RecordInput(id=f"v{start + i}", vector=vec(v))
            for i, v in enumerate(data[start : start + 10_000])
        ]
        reply = stub.InsertRecords(
            indexer_pb2.InsertRecordsRequest(collection="collections/big", records=chunk), timeout=120
        )
        assert not reply.errors
    operation = stub.TrainIndex(
        indexer_pb2.TrainIndexRequest(
            collection="collections/big", index=indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT)
        )
    )
    progress = []
    with grpc.insecure_channel(cluster.router_address) as channel:
        trained = wait_operation(
            operations_pb2_grpc.OperationsStub(channel),
            operation,
            response_type=indexer_pb2.Collection,
            metadata_type=indexer_pb2.TrainIndexMetadata,
            timeout=300,
            poll_interval=0.5,
            on_progress=progress.append,
        )
    assert trained.index_state == indexer_pb2.INDEX_STATE_TRAINED
    assert progress and progress[-1].stage == "done"

    queries = data[rng.choice(len(data), 100, replace=False)] + rng.standard_normal((100, DIM)).astype(np.float32) * 0.1
    normed = data / np.linalg.norm(data, axis=1, keepdims=True)
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    exact = np.argsort(-(qn @ normed.T), axis=1)[:, :10]
    reply = stub.Search(
        indexer_pb2.SearchRequest(
            collection="collections/big", k=10, queries=[indexer_pb2.Query(vector=vec(q)) for q in queries]
        )
    )
    recall = np.mean(
        [len({f"v{i}" for i in exact[q]} & {h.id for h in r.hits}) / 10 for q, r in enumerate(reply.results)]
    )
    assert recall >= 0.95, recall

    # New records join the trained index without retraining; they are found at once.
    fresh = (centers[:5] + 0.01).astype(np.float32)
    stub.InsertRecords(
        indexer_pb2.InsertRecordsRequest(
            collection="collections/big",
            records=[indexer_pb2.RecordInput(id=f"new{i}", vector=vec(v)) for i, v in enumerate(fresh)],
        )
    )
    for i, v in enumerate(fresh):
        hit = (
            stub.Search(
                indexer_pb2.SearchRequest(collection="collections/big", k=1, queries=[indexer_pb2.Query(vector=vec(v))])
            )
            .results[0]
            .hits[0]
        )
        assert hit.id == f"new{i}"
    assert (
        stub.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/big")).index_state
        == indexer_pb2.INDEX_STATE_TRAINED
    )

    # Every shard holds the quantiser the router assigns queries with; a restarted router takes
    # it from a shard and answers as before.
    digests = set()
    for ordinal in range(2):
        with grpc.insecure_channel(cluster.shard_address(ordinal)) as channel:
            held = shard_pb2_grpc.ShardServiceStub(channel).GetTrainedIndex(
                shard_pb2.GetTrainedIndexRequest(collection="big", shard=ordinal)
            )
        assert held.nprobe > 0
        digests |= {held.coarse_digest, CoarseQuantizer(held.trained_index, indexer_pb2.METRIC_COSINE).digest}
    assert len(digests) == 1
    request = indexer_pb2.SearchRequest(
        collection="collections/big", k=10, queries=[indexer_pb2.Query(vector=vec(q)) for q in queries]
    )
    before = [[h.id for h in r.hits] for r in stub.Search(request).results]
    cluster.router.stop()
    cluster.start_router()
    with grpc.insecure_channel(cluster.router_address) as channel:
        restarted = indexer_pb2_grpc.IndexerServiceStub(channel)
        for _ in range(3):  # the first search starts the fetch; the later ones assign in the router
            after = [[h.id for h in r.hits] for r in restarted.Search(request).results]
            assert np.mean([a == b for a, b in zip(after, before)]) >= 0.98
            time.sleep(0.5)


def test_a_killed_shard_loses_nothing_acknowledged(stub, cluster):
    create(stub, "durable", indexed_fields=[])
    rng = np.random.default_rng(4)
    acknowledged: set[str] = set()
    stop = threading.Event()
    errors: list[str] = []

    def insert_forever():
        n = 0
        with grpc.insecure_channel(cluster.router_address) as channel:
            writer = indexer_pb2_grpc.IndexerServiceStub(channel)
            while not stop.is_set():
                batch = [
                    indexer_pb2.RecordInput(id=f"d{n + i}", vector=vec(rng.standard_normal(DIM))) for i in range(200)
                ]
                n += 200
                try:
                    reply = writer.InsertRecords(
                        indexer_pb2.InsertRecordsRequest(collection="collections/durable", records=batch, upsert=True),
                        timeout=10,
                    )
                except grpc.RpcError as error:
                    errors.append(error.code().name)
                    continue
                acknowledged.update(i for i in reply.ids if i)
                errors.extend(reason_of(e.status) for e in reply.errors)

    writer = threading.Thread(target=insert_forever)
    writer.start()
    time.sleep(3)
    cluster.kill_shard(1)
    time.sleep(1.5)
    # While shard 1 is down: searches fail naming it, or answer partially when allowed.
    query = indexer_pb2.Query(vector=vec(rng.standard_normal(DIM)))
    with pytest.raises(grpc.RpcError) as caught:
        stub.Search(indexer_pb2.SearchRequest(collection="collections/durable", queries=[query], k=5))
    code, reason, _ = outcome(caught.value)
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "SHARD_UNAVAILABLE")
    assert "collections/durable/shards/1" in caught.value.details()
    partial = stub.Search(
        indexer_pb2.SearchRequest(collection="collections/durable", queries=[query], k=5, allow_partial=True)
    )
    assert partial.partial and list(partial.unavailable_shards) == ["collections/durable/shards/1"]
    assert len(partial.results[0].hits) == 5
    cluster.start_shard(1)
    deadline = time.monotonic() + 20  # the router sees the new registration within moments
    while True:
        try:
            stub.Search(indexer_pb2.SearchRequest(collection="collections/durable", queries=[query], k=5))
            break
        except grpc.RpcError:
            assert time.monotonic() < deadline, "the restarted shard did not come back"
            time.sleep(0.2)
    time.sleep(1)
    stop.set()
    writer.join(timeout=60)
    assert "SHARD_UNAVAILABLE" in errors, "the kill should have failed some items"
    ids = all_ids(stub, "collections/durable")
    assert len(ids) == len(set(ids)), "no record may be duplicated"
    missing = acknowledged - set(ids)
    assert not missing, f"{len(missing)} acknowledged records were lost"
