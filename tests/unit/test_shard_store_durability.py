"""ShardStore durability: snapshots, log replay, crashes mid-write and dropping a shard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from fixtures.shard_store import DIM, collection, content, records, reopen, vectors

from simmesh.indexer.store import ShardStore
from simmesh.indexer.wal import Op, WriteAheadLog
from simmesh.kit.blobstore import FileBlobStore
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2


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


def test_an_ivf_flat_shard_reopened_from_its_training_snapshot_answers_as_before(
    tmp_path: Path, blobs: FileBlobStore
) -> None:
    shard = reopen(tmp_path, blobs)
    shard.write(records(0, 1500), vectors(0, 1500))
    shard.delete(["r00007"])
    shard.train(indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT, nlist=16, nprobe=2))  # snapshots
    queries = vectors(30, 5)
    expected_content = content(shard)
    expected_hits = shard.search(queries, 10).ids
    shard.close()

    restored = reopen(tmp_path, blobs)
    assert content(restored) == expected_content
    assert restored.search(queries, 10).ids == expected_hits
    assert restored.stats().index_kind == indexer_pb2.INDEX_KIND_IVF_FLAT
    assert restored.vector_index.count == 1499
    restored.close()


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
    from fixtures.shard_store import collection, records, vectors
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
            [sys.executable, str(script), str(tmp_path), str(Path(__file__).parents[1])],
            stdout=subprocess.PIPE,
            text=True,
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


def test_drop_deletes_log_and_snapshots(tmp_path: Path, blobs: FileBlobStore) -> None:
    shard = reopen(tmp_path, blobs)
    shard.write(records(0, 10), vectors(0, 10))
    shard.snapshot()
    shard.drop()
    assert not list(blobs.list("snapshots/shoes/0/"))
    assert not (tmp_path / "shard").exists()
    assert reopen(tmp_path, blobs).record_count == 0
