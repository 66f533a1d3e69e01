"""Filtered search on a shard equals exact search over the records passing the filter, repeated filters included."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.filter_reference import INDEXED, LIGHT, filters_for, records, ref_match

from simmesh.indexer.store import ShardStore
from simmesh.kit.blobstore import FileBlobStore
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

DIM = 8
K = 5


def open_store(root: Path, indexed: list[str]) -> ShardStore:
    collection = indexer_pb2.Collection(
        name="collections/props", dimension=DIM, metric=indexer_pb2.METRIC_COSINE, indexed_fields=indexed
    )
    return ShardStore.open(collection, 0, root / "shard", FileBlobStore(root / "blobs"))


@pytest.fixture
def shard(tmp_path: Path) -> Iterator[ShardStore]:
    store = open_store(tmp_path, ["kind", "n"])
    yield store
    store.close()


def shard_records(docs: list[dict], start: int = 0) -> list[shard_pb2.ShardRecord]:
    out = []
    for i, doc in enumerate(docs, start):
        record = shard_pb2.ShardRecord(id=f"r{i:04d}", url=f"u{i % 3}")
        record.metadata.update({k: v for k, v in doc.items() if k not in ("_id", "_url")})
        out.append(record)
    return out


def exact_filtered(store: ShardStore, queries: np.ndarray, k: int, spec: dict) -> list[list[str]]:
    """Brute force over the rows that pass the filter, judged by the reference interpreter on the
    documents the shard holds."""
    page, vectors = store.list("", 100_000, include_vectors=True)
    passing = [j for j, r in enumerate(page) if ref_match(spec, {**r.metadata, "_id": r.id, "_url": r.url})]
    if not passing:
        return [[] for _ in queries]
    scores = queries @ vectors[passing].T
    return [[page[passing[j]].id for j in np.argsort(-row, kind="stable")[:k]] for row in scores]


def assert_exact(store: ShardStore, queries: np.ndarray, spec: dict) -> None:
    found = store.search(queries, K, filter=spec, include_records=False)
    for got, want in zip(found.ids, exact_filtered(store, queries, K, spec)):
        assert [i for i in got if i] == want, spec


@LIGHT
@given(docs=st.lists(records, min_size=1, max_size=40), seed=st.integers(0, 2**16), data=st.data())
def test_filtered_search_equals_exact_filtered_search(docs: list[dict], seed: int, data: st.DataObject) -> None:
    spec = data.draw(filters_for(docs), label="filter")
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((len(docs), DIM)).astype(np.float32)
    queries = rng.standard_normal((3, DIM)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp), INDEXED)
        try:
            store.write(shard_records(docs), vectors)
            assert_exact(store, queries, spec)
            assert_exact(store, queries, spec)  # again, from the kept plan
        finally:
            store.close()


@pytest.mark.parametrize("indexed", [["kind", "n"], []], ids=["indexed", "no-indexed-fields"])
def test_repeated_filter_follows_inserts_updates_and_deletes(tmp_path: Path, indexed: list[str]) -> None:
    shard = open_store(tmp_path, indexed)
    try:
        _repeated_filter_follows_writes(shard)
    finally:
        shard.close()


def _repeated_filter_follows_writes(shard: ShardStore) -> None:
    rng = np.random.default_rng(5)
    docs = [{"kind": f"k{i % 10}", "n": i % 100, "free": i % 7} for i in range(1000)]
    shard.write(shard_records(docs), rng.standard_normal((1000, DIM)).astype(np.float32))
    queries = rng.standard_normal((4, DIM)).astype(np.float32)
    filters = [
        {"kind": "k3"},
        {"kind": {"$in": ["k1", "k2"]}, "free": {"$ne": 2}},
        {"n": {"$gte": 10, "$lt": 12}},
        {"$or": [{"kind": "k4"}, {"n": {"$lte": 3}}], "kind": {"$ne": "k0"}},
    ]
    for spec in filters:
        assert_exact(shard, queries, spec)

    # An update moves records in and out of the filters' fields, indexed and not.
    moved = [{"kind": "k3", "n": 11, "free": 2} for _ in range(50)]
    shard.write(shard_records(moved, start=900), rng.standard_normal((50, DIM)).astype(np.float32), upsert=True)
    for spec in filters:
        assert_exact(shard, queries, spec)
    # New records, close to the queries, that match.
    near = queries + 0.01 * rng.standard_normal(queries.shape).astype(np.float32)
    shard.write(shard_records([{"kind": "k3", "n": 10, "free": 1}] * 4, start=5000), near)
    for spec in filters:
        assert_exact(shard, queries, spec)
    assert shard.search(queries, 1, filter=filters[0]).ids == [[f"r{5000 + q}"] for q in range(4)]
    # Deletes take records out of the kept answers.
    shard.delete([f"r{5000 + q}" for q in range(4)] + [f"r{i:04d}" for i in range(0, 1000, 3)])
    for spec in filters:
        assert_exact(shard, queries, spec)


def test_a_rare_indexed_filter_on_an_approximate_index_is_exact(shard: ShardStore) -> None:
    rng = np.random.default_rng(9)
    docs = [{"kind": "rare" if i % 100 == 7 else "common", "n": i} for i in range(5000)]
    shard.write(shard_records(docs), rng.standard_normal((5000, DIM)).astype(np.float32))
    shard.train(indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT, nlist=64, nprobe=1))
    queries = rng.standard_normal((6, DIM)).astype(np.float32)
    for spec in ({"kind": "rare"}, {"n": {"$gte": 1000, "$lt": 1040}}, {"kind": "rare", "n": {"$lt": 2500}}):
        assert_exact(shard, queries, spec)


def test_rows_kept_for_a_filter_follow_writes_where_no_field_is_indexed(tmp_path: Path) -> None:
    """The rows a filter matched are kept for its next use; with no indexed field no index moves
    on a write, and the next use must still see what was written and deleted in between."""
    shard = open_store(tmp_path, [])
    rng = np.random.default_rng(9)
    table = shard._table
    compiled = table.filters.compile({"kind": "a"})
    assert compiled is not None

    def matching() -> list[str]:
        return table.ids_of(table.matching_rows(compiled).tolist())

    try:
        shard.write(shard_records([{"kind": "a"}, {"kind": "b"}]), rng.standard_normal((2, DIM)).astype(np.float32))
        assert matching() == ["r0000"]
        shard.write(shard_records([{"kind": "a"}], start=7), rng.standard_normal((1, DIM)).astype(np.float32))
        assert matching() == ["r0000", "r0007"]
        shard.write(
            shard_records([{"kind": "a"}], start=1), rng.standard_normal((1, DIM)).astype(np.float32), upsert=True
        )
        assert matching() == ["r0000", "r0001", "r0007"]
        shard.delete(["r0000"])
        assert matching() == ["r0001", "r0007"]
    finally:
        shard.close()
