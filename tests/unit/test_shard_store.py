"""ShardStore: records, vectors and filters of one shard."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fixtures.shard_store import DIM, brute_force, content, records, vectors

from simmesh.indexer.store import ShardStore
from simmesh.kit.errors import FailedPrecondition, InvalidArgument
from simmesh_proto.v1 import indexer_pb2


def test_write_get_list_and_delete(store: ShardStore) -> None:
    assert store.write(records(0, 300), vectors(0, 300)) == (300, 0, [])
    assert store.record_count == 300

    got = store.get(["r00007", "nope", "r00002"], include_vectors=True)
    assert [r.id for r in got.records] == ["r00007", "r00002"]
    assert got.missing_ids == ["nope"]
    assert got.records[0].metadata == {
        "color": "black",
        "price": 7.0,
        "n": 7.0,
        "version": 0.0,
        "brand": {"name": "acme"},
    }
    assert got.records[0].url == "https://img.example/7.jpg"
    expected = vectors(7, 1)[0]
    np.testing.assert_allclose(got.vectors[0], expected / np.linalg.norm(expected), rtol=1e-5)

    page, _ = store.list("r00100", 5, filter={"color": "red"})
    assert [r.id for r in page] == ["r00104", "r00108", "r00112", "r00116", "r00120"]
    assert len(content(store)) == 300

    deleted = store.delete(["r00001", "r00001", "missing", "r00002"])
    assert deleted == ["r00001", "r00002"]
    assert store.delete(filter={"n": {"$gte": 290}}) == [f"r{i:05d}" for i in range(290, 300)]
    assert store.delete(["r00003"], filter={"color": "red"}) == [], "ids that do not match the filter stay"
    assert store.record_count == 288
    assert store.get(["r00001", "r00295"]).missing_ids == ["r00001", "r00295"]
    ids = [r.id for r in store.list("", 1000)[0]]
    assert ids == sorted(ids) and len(ids) == 288 and "r00001" not in ids


def test_upsert_replaces_and_insert_reports_existing_ids(store: ShardStore) -> None:
    store.write(records(0, 10), vectors(0, 10))
    before = store.get(["r00003"]).records[0]
    result = store.write(records(5, 10, version=1), vectors(5, 10, version=1))
    assert result == (5, 0, [f"r{i:05d}" for i in range(5, 10)])
    assert store.get(["r00007"]).records[0].metadata["version"] == 0

    result = store.write(records(0, 5, version=2), vectors(0, 5, version=2), upsert=True)
    assert result == (0, 5, [])
    after = store.get(["r00003"], include_vectors=True)
    assert store.record_count == 15
    assert after.records[0].metadata["version"] == 2
    assert after.records[0].create_ns == before.create_ns and after.records[0].update_ns >= before.update_ns
    hits = store.search(vectors(3, 1, version=2), 1)
    assert hits.ids[0] == ["r00003"] and hits.scores[0, 0] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    "flt",
    [
        None,
        {"color": "red"},  # indexed: searched among its candidates
        {"price": {"$lt": 3}, "color": {"$in": ["red", "blue"]}},
        {"n": {"$gte": 0}, "brand.name": "zeta"},  # not indexed, broad: post-filtered
        {"n": {"$in": [5, 17, 333, 401]}},  # not indexed, rare: widened until found
        {"n": {"$gt": 10_000}},  # matches nothing
    ],
)
@pytest.mark.parametrize("kind", [indexer_pb2.INDEX_KIND_EXACT, indexer_pb2.INDEX_KIND_IVF_FLAT])
def test_filtered_search_matches_brute_force(store: ShardStore, flt: dict | None, kind: int) -> None:
    store.write(records(0, 2000), vectors(0, 2000))
    if kind != indexer_pb2.INDEX_KIND_EXACT:
        store.train(indexer_pb2.IndexSpec(kind=kind, nprobe=4096))  # every list probed: exact
    queries = np.random.default_rng(42).normal(size=(5, DIM)).astype(np.float32)
    result = store.search(queries, 10, filter=flt)
    expected = brute_force(store, queries, 10, flt)
    for got, want in zip(result.ids, expected):
        assert [i for i in got if i] == want
        assert got[len(want) :] == [""] * (10 - len(want))
    assert {r.id for r in result.records} == {i for row in result.ids for i in row if i}


def test_filtered_search_on_an_approximate_index_finds_k_matches(store: ShardStore) -> None:
    store.write(records(0, 3000), vectors(0, 3000))
    store.train(indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT, nlist=64, nprobe=1))
    queries = np.random.default_rng(7).normal(size=(8, DIM)).astype(np.float32)
    rare = {"n": {"$in": [11, 1200, 2999]}}  # not indexed, too rare for one probed list
    result = store.search(queries, 10, filter=rare)
    for row in result.ids:
        assert sorted(i for i in row if i) == ["r00011", "r01200", "r02999"]
    result = store.search(queries, 10, filter={"n": {"$lt": 1500}, "brand.name": "acme"})
    for row in result.ids:
        found = store.get(row).records
        assert len(found) == 10 and all(r.metadata["n"] < 1500 and r.metadata["brand"]["name"] == "acme" for r in found)


def test_search_excludes_ids_per_query(store: ShardStore) -> None:
    store.write(records(0, 100), vectors(0, 100))
    queries = vectors(4, 2)
    result = store.search(queries, 3, exclude=[["r00004"], []])
    assert "r00004" not in result.ids[0]
    assert result.ids[1][0] == "r00005"
    result = store.search(queries, 3, filter={"color": "red"}, exclude=[["r00004"], ["r00008"]])
    assert "r00004" not in result.ids[0] and "r00008" not in result.ids[1]


def test_sample_is_uniform_filtered_and_repeatable(store: ShardStore) -> None:
    store.write(records(0, 400), vectors(0, 400))
    first = store.sample(20, filter={"color": "green"}, seed=7, include_vectors=True)
    again = store.sample(20, filter={"color": "green"}, seed=7)
    assert [r.id for r in first.records] == [r.id for r in again.records]
    assert first.matching_count == 100 and len(first.records) == 20 and first.vectors.shape == (20, DIM)
    assert all(r.metadata["color"] == "green" for r in first.records)
    assert len(store.sample(1000).records) == 400
    counts = np.zeros(400)
    for seed in range(1, 201):
        for record in store.sample(40, seed=seed).records:
            counts[int(record.metadata["n"])] += 1
    assert counts.min() > 0 and counts.max() < 60  # about 20 each
    sampled, total = store.sample_vectors(50, seed=3)
    assert sampled.shape == (50, DIM) and total == 400


@pytest.mark.parametrize("case", ["dimension", "byte_count", "count", "nan", "inf", "zero", "duplicate", "no_id"])
def test_bad_writes_are_refused_precisely_and_change_nothing(store: ShardStore, case: str) -> None:
    store.write(records(0, 10), vectors(0, 10))
    before = content(store)
    batch, matrix = records(100, 3), vectors(100, 3)
    expected = {
        "dimension": ("DIMENSION_MISMATCH", "dimension 16"),
        "byte_count": ("DIMENSION_MISMATCH", "bytes"),
        "count": ("VECTOR_COUNT_MISMATCH", "2 vectors for 3 records"),
        "nan": ("INVALID_VECTOR", "'r00101'"),
        "inf": ("INVALID_VECTOR", "'r00102'"),
        "zero": ("INVALID_VECTOR", "'r00100'"),
        "duplicate": ("DUPLICATE_ID", "'r00100' appears more than once"),
        "no_id": ("MISSING_ID", "record 1 has no id"),
    }[case]
    if case == "dimension":
        matrix = np.zeros((3, DIM + 1), dtype=np.float32)
    elif case == "byte_count":
        matrix = matrix.tobytes()[:-4]
    elif case == "count":
        matrix = matrix[:2]
    elif case == "nan":
        matrix[1, 3] = np.nan
    elif case == "inf":
        matrix[2, 0] = np.inf
    elif case == "zero":
        matrix[0] = 0
    elif case == "duplicate":
        batch[2].id = batch[0].id
    elif case == "no_id":
        batch[1].id = ""
    with pytest.raises(InvalidArgument) as caught:
        store.write(batch, matrix, upsert=True)
    assert caught.value.reason == expected[0]
    assert expected[1] in caught.value.message
    assert content(store) == before
    assert store.stats().wal_entries == 1


def test_bad_reads_are_refused_precisely(store: ShardStore) -> None:
    store.write(records(0, 10), vectors(0, 10))
    with pytest.raises(InvalidArgument, match="dimension 16"):
        store.search(np.zeros((1, 3), dtype=np.float32), 5)
    with pytest.raises(InvalidArgument, match="NaN"):
        store.search(np.full((1, DIM), np.nan, dtype=np.float32), 5)
    with pytest.raises(InvalidArgument) as caught:
        store.search(vectors(0, 1), 5, filter={"price": {"$gtx": 3}})
    assert caught.value.reason == "INVALID_FILTER"
    with pytest.raises(InvalidArgument, match="2 exclusion lists for 1 queries"):
        store.search(vectors(0, 1), 5, exclude=[[], []])
    with pytest.raises(FailedPrecondition, match="need at least 1000 vectors to train, have 10"):
        store.train(indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT))
    assert store.delete(["unknown"]) == [] and store.record_count == 10


def test_training_while_writing_loses_no_write(store: ShardStore) -> None:
    store.write(records(0, 1500), vectors(0, 1500))
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        start = 1500
        try:
            while not stop.is_set():
                store.write(records(start, 20), vectors(start, 20))
                store.delete([f"r{start - 1500:05d}"])
                written.append(start)
                start += 20
        except BaseException as error:  # surfaced below
            errors.append(error)

    def searcher() -> None:
        try:
            while not stop.is_set():
                store.search(vectors(0, 3), 5, filter={"color": "red"})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer), threading.Thread(target=searcher)]
    for thread in threads:
        thread.start()
    try:
        store.train(indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT, nprobe=4096))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert written, "writes went on during training"
    assert store.stats().index_state == indexer_pb2.INDEX_STATE_TRAINED
    assert store.vector_index.count == store.record_count
    deleted = {f"r{s - 1500:05d}" for s in written}
    last = written[-1] + 19
    probe_ids = [f"r{last:05d}", f"r{written[0]:05d}", "r01499"]
    for record_id in probe_ids:
        n = int(record_id[1:])
        assert store.search(vectors(n, 1), 1).ids[0] == [record_id]
    assert all(store.search(vectors(int(i[1:]), 1), 1).ids[0] != [i] for i in list(deleted)[:5])


def test_stats_describe_the_shard(store: ShardStore) -> None:
    store.write(records(0, 1200), vectors(0, 1200))
    stats = store.stats()
    assert (stats.record_count, stats.index_kind, stats.index_state) == (
        1200,
        indexer_pb2.INDEX_KIND_EXACT,
        indexer_pb2.INDEX_STATE_EXACT,
    )
    assert stats.wal_entries == 1 and stats.last_snapshot_time is None
    assert stats.memory_bytes >= 1200 * DIM * 4
    store.train(indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_SQ8))
    stats = store.stats()
    assert (stats.index_kind, stats.index_state, stats.wal_entries) == (
        indexer_pb2.INDEX_KIND_IVF_SQ8,
        indexer_pb2.INDEX_STATE_TRAINED,
        0,
    )
    assert stats.last_snapshot_time is not None
    proto = store.get(["r00001"]).records[0].to_proto(metadata=False, fields=["brand.name"])
    assert dict(proto.metadata).keys() == {"brand"} and proto.id == "r00001"
