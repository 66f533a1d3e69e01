"""A write-ahead log: append-only segment files of checksummed, sequence-numbered entries.

Each entry is a frame

    u32 length | u32 crc32 | u64 seq | u64 batch_first | u64 batch_last | u8 op | payload

little-endian, where `length` counts the bytes after the crc, the crc covers those same bytes,
and the payload is a serialised protobuf message whose type the op names (`WRITE`:
`shard_pb2.WriteRequest`, `DELETE`: `shard_pb2.DeleteRequest`). Sequence numbers increase by
one from entry to entry across segments; `batch_first`..`batch_last` are the sequence numbers
of the batch the entry was appended with.

`append_many` writes a batch with one `write` and one `fdatasync`, and returns only once the
batch is on disk; a batch is atomic: after a crash it is replayed whole or not at all. A
segment is named after its first sequence number (`00000000000000000042.wal`); a new one starts
once the current one passes `segment_bytes` (batches never straddle segments).

Opening the log checks every segment. The last one may end in a torn batch (cut short by a
crash, so never acknowledged): its frames are truncated and a warning logged. A bad frame
followed by a valid frame of a later batch, or a bad frame in an older segment, is damage to
acknowledged entries and raises `Internal(reason=reasons.WAL_CORRUPT)` instead of dropping them.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import Message

from simmesh.kit import reasons
from simmesh.kit.blobstore import fsync_dir
from simmesh.kit.errors import Internal
from simmesh_proto.internal.v1 import shard_pb2

log = logging.getLogger(__name__)

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
MAX_ENTRY_BYTES = 1 << 30
SUFFIX = ".wal"
_HEAD = struct.Struct("<II")  # length, crc
_BODY = struct.Struct("<QQQB")  # seq, batch_first, batch_last, op


class Op(enum.IntEnum):
    WRITE = 1
    DELETE = 2


_MESSAGE_TYPES: dict[Op, type[Message]] = {Op.WRITE: shard_pb2.WriteRequest, Op.DELETE: shard_pb2.DeleteRequest}


@dataclasses.dataclass(frozen=True)
class Entry:
    seq: int
    op: Op
    message: Message


@dataclasses.dataclass(frozen=True)
class _Segment:
    first_seq: int
    path: Path


class WriteAheadLog:
    """The log in `directory` (created if missing). Thread-safe: appends are serialised."""

    def __init__(self, directory: Path, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._segments = self._scan_segments()
        self._last_seq = 0
        self._file: BinaryIO | None = None
        self._recover()

    # ------------------------------------------------------------------------------ queries

    @property
    def last_seq(self) -> int:
        """The sequence number of the last entry (0 when none was ever written)."""
        return self._last_seq

    @property
    def first_seq(self) -> int:
        """The first sequence number still in the log (last_seq + 1 when it holds none)."""
        return self._segments[0].first_seq if self._segments else self._last_seq + 1

    def segment_paths(self) -> list[Path]:
        return [s.path for s in self._segments]

    def size_bytes(self) -> int:
        return sum(s.path.stat().st_size for s in self._segments if s.path.exists())

    # ------------------------------------------------------------------------------ writing

    def append(self, op: Op, message: Message) -> int:
        """Appends one entry durably; returns its sequence number."""
        return self.append_many([(op, message)])[-1]

    def append_many(self, entries: Sequence[tuple[Op, Message]]) -> list[int]:
        """Appends entries with one write and one fsync; returns their sequence numbers."""
        if not entries:
            return []
        with self._lock:
            file = self._file
            if file is None:
                raise Internal("the write-ahead log is closed", reason=reasons.WAL_CLOSED)
            if file.tell() >= self.segment_bytes:
                file.close()
                file = self._open_segment(self._last_seq + 1)
            seqs = list(range(self._last_seq + 1, self._last_seq + 1 + len(entries)))
            first, last = seqs[0], seqs[-1]
            # Frames as header and payload pieces: a large payload goes to the file uncopied.
            pieces = [
                piece
                for seq, (op, message) in zip(seqs, entries)
                for piece in _frame(seq, first, last, op, message.SerializeToString())
            ]
            start = file.tell()
            try:
                file.writelines(pieces)
                file.flush()
                os.fdatasync(file.fileno())
            except BaseException:
                _undo_partial_write(file, start)
                raise
            self._last_seq = seqs[-1]
            return seqs

    def start_after(self, seq: int) -> None:
        """Makes the next entry's sequence number at least seq + 1. For a snapshot newer than
        the whole log: the log's entries, all covered by it, are deleted."""
        with self._lock:
            if seq <= self._last_seq:
                return
            # Every entry held is covered: start over with an empty segment numbered after `seq`.
            if self._file is not None:
                self._file.close()
            for segment in self._segments:
                segment.path.unlink(missing_ok=True)
            self._segments.clear()
            self._last_seq = seq
            self._open_segment(seq + 1)

    def _open_segment(self, first_seq: int) -> BinaryIO:
        """Opens the segment starting at `first_seq` for appends, created if new; returns its file."""
        path = self.directory / f"{first_seq:020d}{SUFFIX}"
        self._file = _open_for_append(path)
        if not (self._segments and self._segments[-1].path == path):
            self._segments.append(_Segment(first_seq, path))
            fsync_dir(self.directory)
        return self._file

    # ------------------------------------------------------------------------------ reading

    def replay(self, after_seq: int = 0) -> Iterator[Entry]:
        """The entries with sequence numbers above `after_seq`, in order."""
        segments = list(self._segments)
        for i, segment in enumerate(segments):
            following = segments[i + 1].first_seq if i + 1 < len(segments) else None
            if following is not None and following <= after_seq + 1:
                continue
            end = segment.path.stat().st_size if i + 1 == len(segments) else None
            for seq, op, payload, _, _ in _read_frames(segment.path, end):
                if seq > after_seq:
                    yield Entry(seq, Op(op), _MESSAGE_TYPES[Op(op)].FromString(payload))

    # ---------------------------------------------------------------------------- trimming

    def truncate_before(self, seq: int) -> int:
        """Deletes the segments whose entries all have sequence numbers <= `seq` (never the one
        being appended to); returns how many were deleted."""
        with self._lock:
            removed = 0
            while len(self._segments) > 1 and self._segments[1].first_seq <= seq + 1:
                self._segments.pop(0).path.unlink(missing_ok=True)
                removed += 1
            if removed:
                fsync_dir(self.directory)
            return removed

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def delete(self) -> None:
        """Closes the log and deletes its segment files."""
        self.close()
        with self._lock:
            for segment in self._segments:
                segment.path.unlink(missing_ok=True)
            self._segments.clear()
            fsync_dir(self.directory)

    # ---------------------------------------------------------------------------- recovery

    def _scan_segments(self) -> list[_Segment]:
        segments = []
        for path in self.directory.iterdir():
            if path.suffix == SUFFIX and path.stem.isdigit():
                segments.append(_Segment(int(path.stem), path))
        return sorted(segments, key=lambda s: s.first_seq)

    def _recover(self) -> None:
        """Checks every segment, truncates a torn tail of the last one, opens it for appends."""
        expected: int | None = None
        for i, segment in enumerate(self._segments):
            last = i + 1 == len(self._segments)
            if expected is not None and segment.first_seq != expected:
                raise Internal(
                    f"write-ahead log segment {segment.path.name} starts at {segment.first_seq}, expected {expected}",
                    reason=reasons.WAL_CORRUPT,
                )
            seq, good_end, open_batch = segment.first_seq - 1, 0, None
            size = segment.path.stat().st_size
            for frame_seq, _, _, end, (batch_first, batch_last) in _read_frames(segment.path, size, strict=not last):
                if frame_seq == batch_last:
                    seq, good_end, open_batch = frame_seq, end, None
                else:
                    open_batch = batch_first
            if good_end < size:
                if not last:
                    raise Internal(
                        f"write-ahead log segment {segment.path.name} ends inside a batch", reason=reasons.WAL_CORRUPT
                    )
                self._cut_tail(segment.path, good_end, size, torn_batch=open_batch or seq + 1)
            expected = seq + 1
            self._last_seq = seq
        if self._segments:
            self._file = _open_for_append(self._segments[-1].path)
        else:
            self._open_segment(1)

    def _cut_tail(self, path: Path, good_end: int, size: int, torn_batch: int) -> None:
        with open(path, "rb") as file:
            file.seek(good_end)
            tail = file.read()
        if _later_batch_in(tail, torn_batch):
            raise Internal(
                f"write-ahead log {path.name} has a corrupt entry after byte {good_end} followed by "
                f"entries of later batches",
                reason=reasons.WAL_CORRUPT,
            )
        log.warning(
            "write-ahead log: truncating a torn or corrupt tail",
            extra={"segment": path.name, "offset": good_end, "dropped_bytes": size - good_end},
        )
        with open(path, "r+b") as file:
            file.truncate(good_end)
            os.fsync(file.fileno())


def _frame(seq: int, batch_first: int, batch_last: int, op: Op, payload: bytes) -> tuple[bytes, bytes]:
    """The frame's header (through the op) and its payload."""
    body = _BODY.pack(seq, batch_first, batch_last, op)
    return _HEAD.pack(len(body) + len(payload), zlib.crc32(payload, zlib.crc32(body))) + body, payload


Frame = tuple[int, int, bytes, int, tuple[int, int]]


def _read_frames(path: Path, end: int | None, *, strict: bool = True) -> Iterator[Frame]:
    """(seq, op, payload, end offset, (batch_first, batch_last)) of each valid frame, stopping at
    the first bad one: it raises WAL_CORRUPT when `strict`, else ends quietly."""
    with open(path, "rb") as file:
        data = file.read() if end is None else file.read(end)
    offset, previous = 0, None
    while offset < len(data):
        parsed = _parse(data, offset)
        if parsed is None or (previous is not None and parsed[0] != previous + 1):
            if strict:
                raise Internal(f"write-ahead log {path.name} is corrupt at byte {offset}", reason=reasons.WAL_CORRUPT)
            return
        previous, offset = parsed[0], parsed[3]
        yield parsed


def _parse(data: bytes, offset: int) -> Frame | None:
    if offset + _HEAD.size > len(data):
        return None
    length, crc = _HEAD.unpack_from(data, offset)
    start, end = offset + _HEAD.size, offset + _HEAD.size + length
    if length < _BODY.size or length > MAX_ENTRY_BYTES or end > len(data):
        return None
    body = data[start:end]
    if zlib.crc32(body) != crc:
        return None
    seq, batch_first, batch_last, op = _BODY.unpack_from(body)
    if op not in _MESSAGE_TYPES or not batch_first <= seq <= batch_last:
        return None
    return seq, op, body[_BODY.size :], end, (batch_first, batch_last)


def _later_batch_in(tail: bytes, torn_batch: int) -> bool:
    """Whether `tail` (what follows the last complete batch) holds a valid frame of a batch
    that starts after `torn_batch`, found by stepping over the bad frame by its length field or
    by looking for the next frames' sequence numbers."""
    starts = []
    if len(tail) >= _HEAD.size:
        length, _ = _HEAD.unpack_from(tail, 0)
        if _BODY.size <= length <= MAX_ENTRY_BYTES:
            starts.append(_HEAD.size + length)
    for seq in range(torn_batch, torn_batch + 3):
        at = tail.find(struct.pack("<Q", seq))
        while at != -1:
            if at >= _HEAD.size:
                starts.append(at - _HEAD.size)
            at = tail.find(struct.pack("<Q", seq), at + 1)
    for start in starts:
        offset = start
        while (parsed := _parse(tail, offset)) is not None:
            if parsed[4][0] > torn_batch:
                return True
            offset = parsed[3]
    return False


def _open_for_append(path: Path) -> BinaryIO:
    return open(path, "ab")  # stays open for appends until the segment rotates or the log closes


def _undo_partial_write(file: BinaryIO, start: int) -> None:
    """Cuts off a frame batch whose write or fsync failed, so it cannot resurface later."""
    try:
        file.truncate(start)
        file.seek(start)
        os.fdatasync(file.fileno())
    except OSError:
        log.exception("could not cut a failed append from the write-ahead log")
