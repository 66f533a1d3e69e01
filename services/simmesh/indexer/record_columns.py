"""A shard's records as arrays: growing columns, byte strings in one blob, ids' rows by hash, rows in id order.

A shard's records are rows 0.. handed out densely. Their ids, urls and metadata live as bytes in
append-only blobs with a start and length per row (length -1: none), so a record costs a few
dozen bytes rather than the few hundred of a Python object per record.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Sequence

import numpy as np

NONE = -1
Alive = Callable[[np.ndarray], np.ndarray]  # which of some rows hold a record, as a bool array


def _grown(array: np.ndarray, size: int, fill: int) -> np.ndarray:
    if size <= len(array):
        return array
    out = np.full(max(size, 2 * len(array), 1024), fill, dtype=array.dtype)
    out[: len(array)] = array
    return out


class Column:
    """An integer per row, `fill` where none was set."""

    def __init__(self, fill: int = 0, dtype: type = np.int64) -> None:
        self.fill = fill
        self.values: np.ndarray = np.empty(0, dtype=dtype)

    def set(self, row: int, value: int) -> None:
        self.values = _grown(self.values, row + 1, self.fill)
        self.values[row] = value

    def get(self, row: int) -> int:
        return int(self.values[row]) if row < len(self.values) else self.fill

    def put(self, start: int, values: np.ndarray | Sequence[int]) -> None:
        """Sets rows `start`, `start + 1`, ... to `values`, in one array operation."""
        self.values = _grown(self.values, start + len(values), self.fill)
        self.values[start : start + len(values)] = values

    def frozen(self, size: int) -> np.ndarray:
        return _grown(self.values, size, self.fill)[:size].copy()


class BytesColumn:
    """A byte string (or none) per row: the bytes in one append-only blob, a start and a length per
    row. Replaced and cleared values leave garbage, compacted away once it outweighs the rest."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.starts = Column(0)
        self.lengths = Column(NONE, np.int32)
        self._garbage = 0

    def set(self, row: int, value: bytes | None) -> None:
        old = self.lengths.get(row)
        if old > 0:
            self._garbage += old
        if value is None:
            self.lengths.set(row, NONE)
        else:
            self.starts.set(row, len(self.blob))
            self.lengths.set(row, len(value))
            self.blob += value
        if self._garbage > max(1 << 20, len(self.blob) // 2):
            self._compact()

    def put_new(self, start: int, values: Sequence[bytes | None]) -> None:
        """Sets rows `start`, `start + 1`, ..., which hold no value yet, to `values` (one blob append)."""
        lengths = np.fromiter((NONE if v is None else len(v) for v in values), dtype=np.int64, count=len(values))
        offsets = np.cumsum(np.maximum(lengths, 0)) - np.maximum(lengths, 0) + len(self.blob)
        self.starts.put(start, offsets)
        self.lengths.put(start, lengths)
        self.blob += b"".join(v for v in values if v is not None)

    def get(self, row: int) -> bytes | None:
        length = self.lengths.get(row)
        if length < 0:
            return None
        start = int(self.starts.values[row])
        return bytes(self.blob[start : start + length])

    def has(self, row: int) -> bool:
        return self.lengths.get(row) >= 0

    def nbytes(self) -> int:
        return len(self.blob) + self.starts.values.nbytes + self.lengths.values.nbytes

    def frozen(self, size: int) -> FrozenBytes:
        """The values of rows below `size` as they are now, unchanged by later writes (the blob is
        only appended to, and compaction makes a new one)."""
        return FrozenBytes(self.blob, self.starts.frozen(size), self.lengths.frozen(size))

    def _compact(self) -> None:
        lengths = self.lengths.values
        blob, starts = bytearray(), np.zeros_like(self.starts.values)
        for row in np.flatnonzero(lengths >= 0).tolist():
            start, length = int(self.starts.values[row]), int(lengths[row])
            starts[row] = len(blob)
            blob += self.blob[start : start + length]
        self.blob, self.starts.values, self._garbage = blob, starts, 0


class FrozenBytes:
    def __init__(self, blob: bytearray, starts: np.ndarray, lengths: np.ndarray) -> None:
        self._blob, self._starts, self._lengths = blob, starts, lengths

    def get(self, row: int) -> bytes | None:
        length = int(self._lengths[row])
        if length < 0:
            return None
        start = int(self._starts[row])
        return bytes(self._blob[start : start + length])


def id_hashes(ids: Iterable[str], count: int = -1) -> np.ndarray:
    return np.fromiter(map(hash, ids), dtype=np.int64, count=count)


class IdLookup:
    """The row of each id: ids' 64-bit hashes sorted with their rows (16 bytes an id), plus a dict
    of the latest additions folded in once it grows. A hash is confirmed against the stored id
    (`id_at`, None for a deleted row), so collisions and deleted rows are told apart; `alive`
    says which of some rows still hold a record."""

    def __init__(self, id_at: Callable[[int], str | None], alive: Alive) -> None:
        self._id_at, self._alive = id_at, alive
        self._hashes = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.int64)
        self._recent: dict[str, int] = {}

    def nbytes(self) -> int:
        return self._hashes.nbytes + self._rows.nbytes + 100 * len(self._recent)

    def add(self, record_id: str, row: int) -> None:
        self._recent[record_id] = row
        if len(self._recent) > max(4096, len(self._hashes) // 8):
            self._fold()

    def remove(self, record_id: str) -> None:
        """Forgets the id; call it after its row is marked deleted (stale hashes are dropped when folding)."""
        self._recent.pop(record_id, None)

    def get(self, record_id: str) -> int:
        row = self._recent.get(record_id)
        if row is not None:
            return row
        return self._find(record_id, hash(record_id), int(np.searchsorted(self._hashes, hash(record_id))))

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each id; -1 for those not stored."""
        out = np.full(len(ids), NONE, dtype=np.int64)
        if len(self._hashes) and len(ids):
            hashes = id_hashes(ids, len(ids))
            at = np.searchsorted(self._hashes, hashes)
            hit = self._hashes[np.minimum(at, len(self._hashes) - 1)] == hashes
            for i in np.flatnonzero(hit).tolist():
                out[i] = self._find(ids[i], int(hashes[i]), int(at[i]))
        if self._recent:
            recent = self._recent
            for i, record_id in enumerate(ids):
                row = recent.get(record_id)
                if row is not None:
                    out[i] = row
        return out

    def _find(self, record_id: str, hashed: int, at: int) -> int:
        hashes, rows = self._hashes, self._rows
        while at < len(hashes) and hashes[at] == hashed:
            row = int(rows[at])
            if self._id_at(row) == record_id:
                return row
            at += 1
        return NONE

    def _fold(self) -> None:
        live = self._alive(self._rows)
        hashes, rows = self._hashes[live], self._rows[live]
        added = id_hashes(self._recent, len(self._recent))
        added_rows = np.fromiter(self._recent.values(), dtype=np.int64, count=len(self._recent))
        order = np.argsort(added, kind="stable")
        at = np.searchsorted(hashes, added[order])
        self._hashes = np.insert(hashes, at, added[order])
        self._rows = np.insert(rows, at, added_rows[order])
        self._recent = {}

    def clear(self) -> None:
        self.__init__(self._id_at, self._alive)  # type: ignore[misc]


class RowOrder:
    """Rows in the order of their ids, kept lazily: added rows are noted and merged in by the next
    reader; deleted rows are dropped then."""

    def __init__(self, id_at: Callable[[int], str | None], alive: Alive) -> None:
        self._id_at, self._alive = id_at, alive
        self._sorted = np.empty(0, dtype=np.int64)
        self._added: list[int] = []
        self._removed = 0
        self._lock = threading.Lock()

    def nbytes(self) -> int:
        return self._sorted.nbytes + 36 * len(self._added)

    def add_many(self, rows: Iterable[int]) -> None:
        self._added.extend(rows)

    def removed(self, count: int) -> None:
        self._removed += count

    def rows(self) -> np.ndarray:
        with self._lock:
            key = self._key
            if self._removed:
                self._sorted = self._sorted[self._alive(self._sorted)]
                self._removed = 0
            if self._added:
                added_rows = np.asarray(self._added, dtype=np.int64)
                added = sorted(added_rows[self._alive(added_rows)].tolist(), key=key)
                if len(added) * 16 > len(self._sorted):
                    merged = sorted(self._sorted.tolist() + added, key=key)
                    self._sorted = np.asarray(merged, dtype=np.int64)
                else:
                    ordered = self._sorted.tolist()
                    at = [bisect.bisect_left(ordered, key(r), key=key) for r in added]
                    self._sorted = np.insert(self._sorted, at, added)
                self._added = []
            return self._sorted

    def _key(self, row: int) -> str:
        return self._id_at(row) or ""

    def clear(self) -> None:
        self.__init__(self._id_at, self._alive)  # type: ignore[misc]
