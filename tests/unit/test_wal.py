"""The write-ahead log: durable appends, replay, torn tails, corruption, rotation, trimming."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from simmesh.indexer.wal import Op, WriteAheadLog
from simmesh.kit.errors import Internal
from simmesh_proto.internal.v1 import shard_pb2


def delete(*ids: str) -> shard_pb2.DeleteRequest:
    return shard_pb2.DeleteRequest(collection="c", ids=list(ids))


def write(record_id: str, size: int = 0) -> shard_pb2.WriteRequest:
    request = shard_pb2.WriteRequest(collection="c", dimension=4, vectors=b"\x01" * size)
    request.records.add(id=record_id)
    return request


def replayed(wal: WriteAheadLog, after: int = 0) -> list[tuple[int, str]]:
    out = []
    for entry in wal.replay(after):
        key = entry.message.ids[0] if entry.op == Op.DELETE else entry.message.records[0].id
        out.append((entry.seq, key))
    return out


def last_segment_after(folder: Path, names: str) -> Path:
    """The last segment of a closed log holding one 100-byte write per name."""
    wal = WriteAheadLog(folder)
    for name in names:
        wal.append(Op.WRITE, write(name, size=100))
    wal.close()
    return wal.segment_paths()[-1]


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_appends_replay_in_order_and_survive_reopening(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    assert wal.append(Op.WRITE, write("a")) == 1
    assert wal.append_many([(Op.DELETE, delete("b")), (Op.WRITE, write("c"))]) == [2, 3]
    assert wal.append_many([]) == []
    assert replayed(wal) == [(1, "a"), (2, "b"), (3, "c")]
    assert replayed(wal, after=2) == [(3, "c")]
    entries = list(wal.replay())
    assert entries[0].op == Op.WRITE and isinstance(entries[0].message, shard_pb2.WriteRequest)
    assert entries[1].op == Op.DELETE and list(entries[1].message.ids) == ["b"]
    wal.close()

    reopened = WriteAheadLog(tmp_path)
    assert reopened.last_seq == 3
    assert reopened.append(Op.WRITE, write("d")) == 4
    assert replayed(reopened, after=3) == [(4, "d")]


def test_a_torn_tail_is_truncated_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    segment = last_segment_after(tmp_path, "abc")
    intact = segment.stat().st_size
    with open(segment, "r+b") as file:  # the last append was cut short by a crash
        file.truncate(intact - 30)

    with caplog.at_level(logging.WARNING, logger="simmesh.indexer.wal"):
        reopened = WriteAheadLog(tmp_path)
    assert "truncating a torn or corrupt tail" in caplog.text
    assert reopened.last_seq == 2
    assert replayed(reopened) == [(1, "a"), (2, "b")]
    assert segment.stat().st_size < intact - 30
    assert reopened.append(Op.WRITE, write("d")) == 3
    reopened.close()
    assert replayed(WriteAheadLog(tmp_path)) == [(1, "a"), (2, "b"), (3, "d")]


def test_a_corrupt_last_entry_is_detected_by_its_checksum(tmp_path: Path) -> None:
    segment = last_segment_after(tmp_path, "abc")
    flip_byte(segment, -10)  # inside entry 3's payload

    reopened = WriteAheadLog(tmp_path)
    assert replayed(reopened) == [(1, "a"), (2, "b")]
    assert reopened.last_seq == 2


def test_damage_before_acknowledged_entries_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    segment = last_segment_after(tmp_path, "abcd")
    frame = len(segment.read_bytes()) // 4
    flip_byte(segment, frame + 60)  # entry 2 damaged, entries 3 and 4 intact
    damaged = segment.read_bytes()

    with pytest.raises(Internal) as caught:
        WriteAheadLog(tmp_path)
    assert caught.value.reason == "WAL_CORRUPT"
    assert segment.read_bytes() == damaged, "nothing is truncated"


def test_a_torn_batch_is_dropped_whole(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.append(Op.WRITE, write("a", size=50))
    wal.append_many([(Op.WRITE, write("b", size=50)), (Op.WRITE, write("c", size=50)), (Op.DELETE, delete("a"))])
    wal.close()
    segment = wal.segment_paths()[-1]
    size = segment.stat().st_size
    frame = size // 4
    with open(segment, "r+b") as file:  # the batch's second entry never reached the disk
        data = bytearray(file.read())
        data[2 * frame : 3 * frame] = b"\x00" * frame
        file.seek(0)
        file.write(bytes(data))

    reopened = WriteAheadLog(tmp_path)
    assert replayed(reopened) == [(1, "a")]
    assert reopened.append(Op.WRITE, write("e")) == 2


def test_segments_rotate_and_covered_ones_are_deleted(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=600)
    for i in range(20):
        wal.append(Op.WRITE, write(f"r{i}", size=100))
    paths = wal.segment_paths()
    assert len(paths) > 3
    firsts = [int(p.stem) for p in paths]
    assert firsts[0] == 1 and firsts == sorted(firsts)

    covered = firsts[2] - 1  # everything in the first two segments
    assert wal.truncate_before(covered + 1) == 2
    assert wal.first_seq == firsts[2]
    assert [p.name for p in wal.segment_paths()] == [p.name for p in paths[2:]]
    assert [seq for seq, _ in replayed(wal, after=covered)] == list(range(covered + 1, 21))
    assert wal.truncate_before(firsts[3] - 2) == 0, "a partly covered segment stays"
    assert wal.truncate_before(10_000) == len(paths) - 3, "the segment being appended to stays"

    wal.close()
    reopened = WriteAheadLog(tmp_path, segment_bytes=600)
    assert reopened.last_seq == 20
    assert reopened.append(Op.DELETE, delete("x")) == 21


def test_start_after_continues_numbering_past_a_snapshot(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.append(Op.WRITE, write("a"))
    wal.start_after(41)  # a snapshot at 41 covers everything the log held
    assert wal.append(Op.WRITE, write("b")) == 42
    assert replayed(wal) == [(42, "b")]
    wal.close()
    reopened = WriteAheadLog(tmp_path)
    assert reopened.last_seq == 42 and reopened.first_seq == 42


def test_a_missing_segment_is_detected(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=300)
    for i in range(10):
        wal.append(Op.WRITE, write(f"r{i}", size=100))
    wal.close()
    wal.segment_paths()[1].unlink()
    with pytest.raises(Internal, match="starts at"):
        WriteAheadLog(tmp_path, segment_bytes=300)
