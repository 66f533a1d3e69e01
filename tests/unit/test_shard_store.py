"""ShardStore: records, vectors and filters of one shard; durability through crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from simmesh.indexer.query import compile_filter
from simmesh.indexer.store import ShardStore
from simmesh.indexer.wal import Op, WriteAheadLog
from simmesh.kit.blobstore import FileBlobStore
from simmesh.kit.errors import FailedPrecondition, InvalidArgument
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

DIM = 16
COLORS = ("red", "green", "blue", "black")


def collection(metric: int = indexer_pb2.METRIC_COSINE) -> indexer_pb2.Collection:
    return indexer_pb2.Collection(
        name="collections/shoes", dimension=DIM, metric=metric, indexed_fields=["color", "price"]
    )


def records(start: int, count: int, *, version: int = 0) -> list[shard_pb2.ShardRecord]:
    out = []
    for i in range(start, start + count):
        record = shard_pb2.ShardRecord(id=f"r{i:05d}", url=f"https://img.example/{i}.jpg")
        record.metadata.update(
            {
                "color": COLORS[i % 4],
                "price": float(i % 50),
                "n": i,
                "version": version,
                "brand": {"name": "acme" if i % 3 else "zeta"},
            }
        )
        out.append(record)
    return out


def vectors(start: int, count: int, *, version: int = 0) -> np.ndarray:
    return np.stack(
        [np.random.default_rng(i * 1000 + version).normal(size=DIM) for i in range(start, start + count)]
    ).astype(np.float32)


@pytest.fixture
def blobs(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


@pytest.fixture
def store(tmp_path: Path, blobs: FileBlobStore):
    shard = ShardStore.open(collection(), 0, tmp_path / "shard", blobs)
    yield shard
    shard.close()


def reopen(tmp_path: Path, blobs: FileBlobStore, **kwargs) -> ShardStore:
    return ShardStore.open(collection(**kwargs), 0, tmp_path / "shard", blobs)


def content(shard: ShardStore) -> dict[str, tuple]:
    """Every record of the shard (id -> url, metadata, vector), read through `list`."""
    out: dict[str, tuple] = {}
    after = ""
    while True:
        page, page_vectors = shard.list(after, 97, include_vectors=True)
        if not page:
            return out
        for record, vector in zip(page, page_vectors):
            assert record.id not in out, "list yields each record once"
            out[record.id] = (record.url, record.metadata, vector.tobytes())
        after = page[-1].id


def brute_force(shard: ShardStore, queries: np.ndarray, k: int, flt: dict | None) -> list[list[str]]:
    """The exact answer from the records and vectors alone."""
    everything = content(shard)
    test = compile_filter(flt)
    ids = [i for i, (url, meta, _) in everything.items() if test.matches({**meta, "_id": i, "_url": url})]
    if not ids:
        return [[] for _ in queries]
    base = np.stack([np.frombuffer(everything[i][2], dtype=np.float32) for i in ids])
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = q @ base.T
    return [[ids[j] for j in np.argsort(-row, kind="stable")[:k]] for row in scores]


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


def test_snapshot_then_more_writes_then_reopen_restores_everything(tmp_path: Path, blobs: FileBlobStore) -> None:
    shard = reopen(tmp_path, blobs)
    shard.write(records(0, 500), vectors(0, 500))
    shard.delete(["r00003"])
    info = shard.snapshot()
    assert info.record_count == 499 and info.uri.endswith("manifest.json")
    shard.write(records(450, 100, version=1), vectors(450, 100, version=1), upsert=True)
    shard.delete(filter={"color": "black"})
    shard.train(indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_HNSW))
    shard.write(records(600, 10), vectors(600, 10))
    queries = vectors(20, 4)
    expected_content = content(shard)
    expected_hits = shard.search(queries, 10, filter={"price": {"$lt": 20}}).ids
    stats = shard.stats()
    shard.close()

    restored = reopen(tmp_path, blobs)
    assert content(restored) == expected_content
    assert restored.search(queries, 10, filter={"price": {"$lt": 20}}).ids == expected_hits
    assert restored.stats().index_kind == indexer_pb2.INDEX_KIND_HNSW
    assert restored.stats().record_count == stats.record_count == restored.vector_index.count
    restored.write(records(700, 1), vectors(700, 1))  # numbering goes on after the log
    restored.close()
    assert len(content(reopen(tmp_path, blobs))) == len(expected_content) + 1


def test_snapshots_keep_two_and_trim_the_log(tmp_path: Path, blobs: FileBlobStore) -> None:
    shard = ShardStore.open(collection(), 0, tmp_path / "shard", blobs, wal_segment_bytes=4096)
    for round_ in range(4):
        shard.write(records(round_ * 50, 50), vectors(round_ * 50, 50))
        shard.snapshot()
    manifests = [i.key for i in blobs.list("snapshots/shoes/0/") if i.key.endswith("manifest.json")]
    assert len(manifests) == 2
    assert shard.stats().wal_entries == 0
    wal = shard._wal  # the log keeps only what the older kept snapshot needs
    assert wal.first_seq <= 4 and len(wal.segment_paths()) < 4
    shard.close()

    newest = sorted(manifests)[-1].rsplit("/", 1)[0]
    blobs.delete(f"{newest}/index.bin")  # the newest snapshot is unreadable: fall back
    restored = ShardStore.open(collection(), 0, tmp_path / "shard", blobs, wal_segment_bytes=4096)
    assert restored.record_count == 200


def test_a_torn_log_tail_after_a_crash_loses_only_the_unacknowledged_batch(
    tmp_path: Path, blobs: FileBlobStore
) -> None:
    shard = reopen(tmp_path, blobs)
    shard.write(records(0, 50), vectors(0, 50))
    shard.write(records(50, 50), vectors(50, 50))
    shard.close()
    segment = sorted((tmp_path / "shard" / "wal").iterdir())[-1]
    with open(segment, "r+b") as file:
        file.truncate(segment.stat().st_size - 100)

    restored = reopen(tmp_path, blobs)
    assert sorted(content(restored)) == [f"r{i:05d}" for i in range(50)]
    restored.write(records(50, 50), vectors(50, 50))
    restored.close()
    assert len(content(reopen(tmp_path, blobs))) == 100


def test_write_times_survive_replay_and_older_log_entries_still_replay(tmp_path: Path, blobs: FileBlobStore) -> None:
    shard = reopen(tmp_path, blobs)
    shard.write(records(0, 3), vectors(0, 3))
    kept = records(3, 1)[0]
    kept.create_time.FromNanoseconds(1_000_000_000)  # a record that keeps its creation time (an update)
    shard.write([kept], vectors(3, 1))
    ids = [f"r{i:05d}" for i in range(4)]
    times = {r.id: (r.create_ns, r.update_ns) for r in shard.get(ids).records}
    assert len({times[i] for i in ids[:3]}) == 1, "one time for the batch, as create and update time"
    assert times["r00000"][0] == times["r00000"][1] > 0
    assert times["r00003"][0] == 1_000_000_000 < times["r00003"][1]
    shard.close()

    # Entries logged before `write_time` existed carry the times on every record.
    older = shard_pb2.WriteRequest(
        collection="shoes", shard=0, dimension=DIM, upsert=True, vectors=vectors(10, 2, version=1).tobytes()
    )
    for record in records(10, 1, version=1) + records(0, 1, version=1):
        record.create_time.FromNanoseconds(5_000_000_000)
        record.update_time.FromNanoseconds(6_000_000_000)
        older.records.append(record)
    wal = WriteAheadLog(tmp_path / "shard" / "wal")
    wal.append(Op.WRITE, older)
    wal.close()

    restored = reopen(tmp_path, blobs)
    replayed = {r.id: r for r in restored.get([*ids, "r00010"]).records}
    assert {i: (r.create_ns, r.update_ns) for i, r in replayed.items() if i in ids[1:]} == {
        i: times[i] for i in ids[1:]
    }
    assert (replayed["r00010"].create_ns, replayed["r00010"].update_ns) == (5_000_000_000, 6_000_000_000)
    assert (replayed["r00000"].create_ns, replayed["r00000"].update_ns) == (times["r00000"][0], 6_000_000_000), (
        "an update keeps the creation time"
    )
    assert replayed["r00000"].metadata["version"] == 1 and replayed["r00010"].url == "https://img.example/10.jpg"
    assert restored.search(vectors(10, 1, version=1), 1).ids[0] == ["r00010"]
    restored.close()


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from test_shard_store import collection, records, vectors
    from simmesh.indexer.store import ShardStore
    from simmesh.kit.blobstore import FileBlobStore

    root = Path(sys.argv[1])
    shard = ShardStore.open(collection(), 0, root / "shard", FileBlobStore(root / "blobs"))
    batch = 0
    while True:
        start = (batch * 70) % 2000  # later batches overwrite earlier ids with upsert
        shard.write(records(start, 100, version=batch), vectors(start, 100, version=batch), upsert=True)
        print(f"ack {batch} {start}", flush=True)
        if batch % 7 == 6:
            shard.snapshot()
        batch += 1
""")


@pytest.mark.parametrize("kills", [3])
def test_killed_mid_write_keeps_every_acknowledged_record_exactly_once(
    tmp_path: Path, blobs: FileBlobStore, kills: int
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    acknowledged: dict[str, int] = {}  # id -> last acknowledged version
    for round_ in range(kills):
        child = subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), str(Path(__file__).parent)], stdout=subprocess.PIPE, text=True
        )
        target = 12 + 5 * round_
        for line in child.stdout:
            _, batch, start = line.split()
            for i in range(int(start), int(start) + 100):
                acknowledged[f"r{i:05d}"] = int(batch)
            if int(batch) >= target:
                break
        threading.Event().wait(0.005 * round_)  # land the kill at different points of a write
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        for line in child.stdout:  # acknowledged between the break and the kill
            _, batch, start = line.split()
            for i in range(int(start), int(start) + 100):
                acknowledged[f"r{i:05d}"] = int(batch)

        shard = reopen(tmp_path, blobs)
        stored = content(shard)
        assert set(acknowledged) <= set(stored), "every acknowledged record is there"
        assert len(stored) == shard.record_count == shard.vector_index.count, "nothing is duplicated"
        for record_id, version in acknowledged.items():
            # the batch in flight at the kill may have landed too, never an older version
            assert stored[record_id][1]["version"] >= version
        hits = shard.search(vectors(0, 5), 50)
        for row in hits.ids:
            found = [i for i in row if i]
            assert len(found) == len(set(found)) == 50
        shard.close()


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


def test_drop_deletes_log_and_snapshots(tmp_path: Path, blobs: FileBlobStore) -> None:
    shard = reopen(tmp_path, blobs)
    shard.write(records(0, 10), vectors(0, 10))
    shard.snapshot()
    shard.drop()
    assert not list(blobs.list("snapshots/shoes/0/"))
    assert not (tmp_path / "shard").exists()
    assert reopen(tmp_path, blobs).record_count == 0


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
