"""The indexer as users run it: a router and shard node processes on real etcd and S3."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from fixtures.status import fields_of, outcome, reason_of
from google.protobuf import field_mask_pb2, json_format, struct_pb2

from simmesh_proto.v1 import common_pb2, indexer_pb2

pytestmark = pytest.mark.integration

DIM = 16


def vec(values: np.ndarray) -> common_pb2.Vector:
    values = np.asarray(values, dtype="<f4")
    return common_pb2.Vector(dimension=values.shape[-1], data=values.tobytes())


def struct(value: dict) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def records(vectors: np.ndarray, start: int = 0, **extra) -> list[indexer_pb2.RecordInput]:
    out = []
    for i, v in enumerate(vectors):
        n = start + i
        metadata = {
            "color": ["red", "green", "blue"][n % 3],
            "price": float(n % 100),
            "pid": f"p{n // 4}",
            "tags": [f"t{n % 5}", f"t{n % 7}"],
            "dims": {"w": n % 10},
        }
        metadata.update(extra)
        out.append(indexer_pb2.RecordInput(id=f"r{n}", vector=vec(v), metadata=struct(metadata)))
    return out


def all_ids(stub, collection: str) -> list[str]:
    ids, token = [], ""
    while True:
        page = stub.ListRecords(indexer_pb2.ListRecordsRequest(collection=collection, page_size=500, page_token=token))
        ids += [r.id for r in page.records]
        token = page.next_page_token
        if not token:
            return ids


def searched(stub, query: indexer_pb2.Query, **fields) -> indexer_pb2.QueryResult:
    """The result of a search of `collections/items` for one query."""
    return stub.Search(indexer_pb2.SearchRequest(collection="collections/items", queries=[query], **fields)).results[0]


def create(stub, name="items", **fields) -> indexer_pb2.Collection:
    spec = dict(
        dimension=DIM, shard_count=2, product_id_field="pid", tags_field="tags", indexed_fields=["color", "price"]
    )
    spec.update(fields)
    return stub.CreateCollection(
        indexer_pb2.CreateCollectionRequest(collection_id=name, collection=indexer_pb2.Collection(**spec))
    )


def test_records_and_search_across_two_shards(stub):
    collection = create(stub)
    assert (collection.name, collection.shard_count, collection.index_state) == (
        "collections/items",
        2,
        indexer_pb2.INDEX_STATE_EXACT,
    )
    rng = np.random.default_rng(1)
    data = rng.standard_normal((300, DIM)).astype(np.float32)
    reply = stub.InsertRecords(indexer_pb2.InsertRecordsRequest(collection="collections/items", records=records(data)))
    assert reply.inserted_count == 300 and not reply.errors and reply.ids[7] == "r7"
    stats = stub.GetCollectionStats(indexer_pb2.GetCollectionStatsRequest(name="collections/items"))
    assert stats.record_count == 300 and len(stats.shards) == 2 and all(s.record_count > 100 for s in stats.shards)

    # Search by vector equals exact cosine search over everything.
    normed = data / np.linalg.norm(data, axis=1, keepdims=True)
    query = rng.standard_normal(DIM).astype(np.float32)
    hits = searched(stub, indexer_pb2.Query(vector=vec(query)), k=10).hits
    expected = np.argsort(-(normed @ (query / np.linalg.norm(query))))[:10]
    assert [h.id for h in hits] == [f"r{i}" for i in expected]

    # By record id: the record itself is left out.
    hits = searched(stub, indexer_pb2.Query(record_id="r3"), k=5).hits
    assert "r3" not in [h.id for h in hits]
    assert [h.id for h in hits] == [f"r{i}" for i in np.argsort(-(normed @ normed[3]))[1:6]]

    # A filter with dotted paths and arrays, evaluated exactly.
    query_filter = {
        "color": {"$in": ["red", "blue"]},
        "price": {"$gte": 10, "$lt": 60},
        "dims.w": {"$ne": 3},
        "tags": "t1",
    }
    hits = searched(
        stub, indexer_pb2.Query(vector=vec(query)), k=1000, filter=struct(query_filter), include_metadata=True
    ).hits
    allowed = [
        n
        for n in range(300)
        if n % 3 in (0, 2) and 10 <= n % 100 < 60 and n % 10 != 3 and "t1" in (f"t{n % 5}", f"t{n % 7}")
    ]
    assert sorted(h.id for h in hits) == sorted(f"r{n}" for n in allowed)
    assert all(h.metadata["color"] in ("red", "blue") for h in hits)

    # Group by product: one hit per product by default, group_size when asked.
    groups = searched(stub, indexer_pb2.Query(vector=vec(query)), k=8, group_by_product=True).groups
    assert len(groups) == 8 and all(len(g.hits) == 1 for g in groups)
    assert len({g.product_id for g in groups}) == 8
    groups = searched(
        stub, indexer_pb2.Query(vector=vec(query)), k=3, group_by_product=True, group_size=4, include_metadata=True
    ).groups
    for group in groups:
        assert 1 <= len(group.hits) <= 4 and {h.metadata["pid"] for h in group.hits} == {group.product_id}

    # Tags blended with the visual score; min_score drops weak hits.
    tagged = searched(
        stub, indexer_pb2.Query(vector=vec(query), tags=["t2", "t3"]), k=10, tag_weight=0.9, include_metadata=True
    ).hits
    assert all(h.score >= tagged[-1].score for h in tagged)
    assert sum(1 for h in tagged if {"t2", "t3"} & set(h.metadata["tags"])) >= 8
    best = searched(stub, indexer_pb2.Query(vector=vec(query)), min_score=0.3, k=50)
    assert all(h.score >= 0.3 for h in best.hits)

    # A batch of queries in one call.
    batch = stub.Search(
        indexer_pb2.SearchRequest(
            collection="collections/items", queries=[indexer_pb2.Query(record_id=f"r{i}") for i in range(20)], k=3
        )
    )
    assert len(batch.results) == 20 and all(len(r.hits) == 3 for r in batch.results)

    # A batch larger than a chunk answers each query as if it came alone, tags and all.
    many = rng.standard_normal((600, DIM)).astype(np.float32)
    tags = [["t1"] if (i // 7) % 2 else ["t4"] for i in range(600)]

    def seen(hit: indexer_pb2.Hit) -> tuple:
        return hit.id, round(hit.score, 5), hit.url, json_format.MessageToDict(hit.metadata), hit.vector.data

    for extra in (
        {},
        {"tag_weight": 0.5, "include_metadata": True},
        {"min_score": 0.2},
        {"include_metadata": True, "include_vectors": True},
    ):
        batch = stub.Search(
            indexer_pb2.SearchRequest(
                collection="collections/items",
                k=5,
                **extra,
                queries=[indexer_pb2.Query(vector=vec(q), tags=t) for q, t in zip(many, tags)],
            )
        )
        assert len(batch.results) == 600
        for i in (0, 255, 256, 301, 599):
            alone = searched(stub, indexer_pb2.Query(vector=vec(many[i]), tags=tags[i]), k=5, **extra)
            assert [seen(h) for h in batch.results[i].hits] == [seen(h) for h in alone.hits]
            if extra.get("include_vectors"):
                assert alone.hits and all(len(h.vector.data) == DIM * 4 and h.metadata for h in alone.hits)
            else:
                assert not any(h.vector.data for h in alone.hits)

    # Listing pages through every record once, in id order.
    ids = all_ids(stub, "collections/items")
    assert ids == sorted(f"r{i}" for i in range(300))

    # Sample, get, update, delete.
    sample = stub.SampleRecords(indexer_pb2.SampleRecordsRequest(collection="collections/items", count=25, seed=3))
    assert len({r.id for r in sample.records}) == 25
    got = stub.BatchGetRecords(
        indexer_pb2.BatchGetRecordsRequest(
            collection="collections/items", ids=["r5", "nope", "r6"], include_vectors=True
        )
    )
    assert [r.id for r in got.records] == ["r5", "r6"] and list(got.missing_ids) == ["nope"]
    np.testing.assert_allclose(np.frombuffer(got.records[0].vector.data, "<f4"), normed[5], atol=1e-6)
    updated = stub.UpdateRecord(
        indexer_pb2.UpdateRecordRequest(
            record=indexer_pb2.Record(name="collections/items/records/r5", metadata=struct({"color": "gold"})),
            update_mask=field_mask_pb2.FieldMask(paths=["metadata.color"]),
        )
    )
    assert updated.metadata["color"] == "gold" and updated.metadata["pid"] == "p1"
    gold = searched(stub, indexer_pb2.Query(vector=vec(query)), k=5, filter=struct({"color": "gold"}))
    assert [h.id for h in gold.hits] == ["r5"]
    deleted = stub.DeleteRecords(
        indexer_pb2.DeleteRecordsRequest(collection="collections/items", ids=["r1", "r2", "ghost"])
    )
    assert deleted.deleted_count == 2 and list(deleted.missing_ids) == ["ghost"]
    deleted = stub.DeleteRecords(
        indexer_pb2.DeleteRecordsRequest(collection="collections/items", filter=struct({"color": "green"}))
    )
    remaining = all_ids(stub, "collections/items")
    assert deleted.deleted_count == 99 and len(remaining) == 300 - 2 - 99
    assert not {f"r{n}" for n in range(300) if n % 3 == 1} & set(remaining)


def test_bad_input_is_refused_precisely_and_changes_nothing(stub):
    create(stub)
    rng = np.random.default_rng(2)
    data = rng.standard_normal((40, DIM)).astype(np.float32)
    stub.InsertRecords(indexer_pb2.InsertRecordsRequest(collection="collections/items", records=records(data)))
    before = stub.ListRecords(
        indexer_pb2.ListRecordsRequest(collection="collections/items", page_size=1000, include_vectors=True)
    )

    def refused(call, request, code, reason, field=None):
        with pytest.raises(grpc.RpcError) as caught:
            call(request)
        got_code, got_reason, fields = outcome(caught.value)
        assert (got_code, got_reason) == (code, reason), caught.value.details()
        if field:
            assert field in fields

    query = indexer_pb2.Query(vector=vec(data[0]))
    zero = np.zeros(DIM, dtype=np.float32)
    refused(
        stub.Search,
        indexer_pb2.SearchRequest(collection="collections/nope", queries=[query]),
        grpc.StatusCode.NOT_FOUND,
        "COLLECTION_NOT_FOUND",
    )
    refused(
        stub.Search,
        indexer_pb2.SearchRequest(collection="collections/items", queries=[indexer_pb2.Query(record_id="ghost")]),
        grpc.StatusCode.NOT_FOUND,
        "RECORD_NOT_FOUND",
        "queries[0].record_id",
    )
    refused(
        stub.Search,
        indexer_pb2.SearchRequest(
            collection="collections/items", queries=[query], filter=struct({"price": {"$regex": "x"}})
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FILTER",
    )
    refused(
        stub.Search,
        indexer_pb2.SearchRequest(collection="collections/items", queries=[query], k=1001),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_K",
        "k",
    )
    refused(
        stub.Search,
        indexer_pb2.SearchRequest(collection="collections/items", queries=[query], k=-1),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_K",
        "k",
    )
    refused(
        stub.Search,
        indexer_pb2.SearchRequest(collection="collections/items", queries=[indexer_pb2.Query(vector=vec(data[0][:5]))]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DIMENSION_MISMATCH",
        "queries[0].vector",
    )
    duplicate = records(rng.standard_normal((3, DIM)).astype(np.float32), start=100)
    duplicate[2].id = duplicate[0].id
    refused(
        stub.InsertRecords,
        indexer_pb2.InsertRecordsRequest(collection="collections/items", records=duplicate),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DUPLICATE_ID",
        "records[2].id",
    )
    refused(
        stub.InsertRecords,
        indexer_pb2.InsertRecordsRequest(collection="collections/nope", records=duplicate[:1]),
        grpc.StatusCode.NOT_FOUND,
        "COLLECTION_NOT_FOUND",
    )
    refused(
        stub.CreateCollection,
        indexer_pb2.CreateCollectionRequest(collection_id="items", collection=indexer_pb2.Collection(dimension=DIM)),
        grpc.StatusCode.ALREADY_EXISTS,
        "COLLECTION_EXISTS",
    )
    refused(
        stub.CreateCollection,
        indexer_pb2.CreateCollectionRequest(collection_id="Bad Name", collection=indexer_pb2.Collection(dimension=DIM)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_COLLECTION_ID",
        "collection_id",
    )
    refused(
        stub.CreateCollection,
        indexer_pb2.CreateCollectionRequest(
            collection_id="wide", collection=indexer_pb2.Collection(dimension=DIM, shard_count=5)
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "NOT_ENOUGH_SHARD_NODES",
    )

    refused(
        stub.Search,
        indexer_pb2.SearchRequest(collection="collections/items", queries=[query, indexer_pb2.Query(vector=vec(zero))]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_VECTOR",
        "queries[1].vector",
    )

    # Per item: a wrong dimension, a NaN vector, an existing id without upsert, an all-zero vector
    # (no cosine), ids with a '/', a control character or over the 256-byte cap; the good items,
    # on both shards, land.
    bad = records(rng.standard_normal((11, DIM)).astype(np.float32), start=200)
    bad[0].vector.CopyFrom(vec(np.ones(DIM - 1)))
    nan = np.ones(DIM, dtype=np.float32)
    nan[3] = np.nan
    bad[1].vector.CopyFrom(vec(nan))
    bad[2].id = "r7"
    bad[3].vector.CopyFrom(vec(zero))
    bad[4].id, bad[5].id, bad[6].id = "a/b", "bell\x07", "x" * 257
    reply = stub.InsertRecords(indexer_pb2.InsertRecordsRequest(collection="collections/items", records=bad))
    failures = {e.index: reason_of(e.status) for e in reply.errors}
    assert failures == {0: "DIMENSION_MISMATCH", 1: "INVALID_VECTOR", 2: "RECORD_EXISTS", 3: "INVALID_VECTOR"} | {
        i: "INVALID_RECORD_ID" for i in (4, 5, 6)
    }
    fields = {e.index: fields_of(e.status) for e in reply.errors if e.index >= 3}
    assert fields == {3: ["records[3].vector"], 4: ["records[4].id"], 5: ["records[5].id"], 6: ["records[6].id"]}
    landed = [f"r{n}" for n in range(207, 211)]
    assert reply.inserted_count == 4 and list(reply.ids) == [""] * 7 + landed

    after = stub.ListRecords(
        indexer_pb2.ListRecordsRequest(collection="collections/items", page_size=1000, include_vectors=True)
    )
    assert [r for r in after.records if r.id not in landed] == list(before.records)


def test_streamed_batches_land_in_order_and_a_failing_one_ends_the_stream(stub):
    create(stub, "streamed", indexed_fields=[])
    rng = np.random.default_rng(5)
    data = rng.standard_normal((3, 100, DIM)).astype(np.float32)

    def batches():
        yield indexer_pb2.InsertRecordsRequest(collection="collections/streamed", records=records(data[0], version=0))
        yield indexer_pb2.InsertRecordsRequest(
            collection="collections/streamed", upsert=True, records=records(data[1], version=1)
        )
        yield indexer_pb2.InsertRecordsRequest(
            collection="collections/streamed", upsert=True, records=records(data[2][:50], version=2)
        )
        yield indexer_pb2.InsertRecordsRequest(collection="collections/nope", records=records(data[0][:1]))
        yield indexer_pb2.InsertRecordsRequest(collection="collections/streamed", records=records(data[0], 500))

    replies = []
    with pytest.raises(grpc.RpcError) as caught:
        for reply in stub.StreamInsertRecords(batches()):
            replies.append(reply)
    assert outcome(caught.value)[:2] == (grpc.StatusCode.NOT_FOUND, "COLLECTION_NOT_FOUND")
    assert [(r.inserted_count, r.updated_count, len(r.ids)) for r in replies] == [
        (100, 0, 100),
        (0, 100, 100),
        (0, 50, 50),
    ]
    assert all(list(r.ids) == [f"r{n}" for n in range(len(r.ids))] for r in replies)

    # The later upsert of an id wins; nothing after the failed batch is written.
    assert sorted(all_ids(stub, "collections/streamed")) == sorted(f"r{n}" for n in range(100))
    got = stub.BatchGetRecords(
        indexer_pb2.BatchGetRecordsRequest(
            collection="collections/streamed", ids=[f"r{n}" for n in range(100)], include_vectors=True
        )
    ).records
    for n, record in enumerate(got):
        version = 2 if n < 50 else 1
        expected = data[version][n] / np.linalg.norm(data[version][n])
        assert record.metadata["version"] == version
        np.testing.assert_allclose(np.frombuffer(record.vector.data, "<f4"), expected, atol=1e-6)
