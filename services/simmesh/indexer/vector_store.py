"""The vectors of one shard addressed by row: a float32 array with amortised growth and a row -> slot table."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import BinaryIO

import faiss
import numpy as np

from simmesh.indexer.index_kinds import COSINE
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument

# The first bytes of a serialised VectorIndex.
FORMAT = b"SMVI1\n"


class VectorStore:
    """Vectors addressed by row: a float32 array that grows by doubling, the row of each slot,
    and a dense row -> slot table (-1 where the row is absent). Removal moves the last slot into
    the hole, so the live vectors are always `vectors[:count]`."""

    def __init__(self, dim: int, capacity: int = 0) -> None:
        self.dim = dim
        self.count = 0
        self._data = np.empty((capacity, dim), dtype=np.float32)
        self._rows = np.empty(capacity, dtype=np.int64)
        self._slot_of = np.full(0, -1, dtype=np.int64)

    @property
    def rows(self) -> np.ndarray:
        """The live rows, in slot order (a view: valid until the next mutation)."""
        return self._rows[: self.count]

    @property
    def vectors(self) -> np.ndarray:
        """The live vectors, in slot order (a view: valid until the next mutation)."""
        return self._data[: self.count]

    @property
    def row_bound(self) -> int:
        """One more than the largest row ever stored."""
        return len(self._slot_of)

    def slots(self, rows: np.ndarray) -> np.ndarray:
        out = np.full(len(rows), -1, dtype=np.int64)
        inside = (rows >= 0) & (rows < len(self._slot_of))
        out[inside] = self._slot_of[rows[inside]]
        return out

    def contains(self, rows: np.ndarray) -> np.ndarray:
        return self.slots(rows) >= 0

    def get(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of `rows` (a copy); every row must be present."""
        slots = self.slots(rows)
        if (slots < 0).any():
            raise KeyError(f"rows not stored: {rows[slots < 0][:10].tolist()}")
        return self._data[slots]

    def put(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Stores `vectors` under `rows` (distinct, non-negative), replacing present rows."""
        slots = self.slots(rows)
        present = slots >= 0
        self._data[slots[present]] = vectors[present]
        new_rows = rows[~present]
        if not len(new_rows):
            return
        start, end = self.count, self.count + len(new_rows)
        self._reserve(end)
        self._data[start:end] = vectors[~present]
        self._rows[start:end] = new_rows
        self._slot_of = grown_table(self._slot_of, int(new_rows.max()) + 1)
        self._slot_of[new_rows] = np.arange(start, end, dtype=np.int64)
        self.count = end

    def delete(self, rows: np.ndarray) -> np.ndarray:
        """Removes the present ones of `rows`; returns those."""
        slots = self.slots(rows)
        gone = rows[slots >= 0]
        slots = slots[slots >= 0]
        if len(slots) > 256 and len(slots) > self.count // 64:
            keep = np.ones(self.count, dtype=bool)
            keep[slots] = False
            kept = int(keep.sum())
            self._data[:kept] = self._data[: self.count][keep]
            self._rows[:kept] = self._rows[: self.count][keep]
            self._slot_of[gone] = -1
            self._slot_of[self._rows[:kept]] = np.arange(kept, dtype=np.int64)
            self.count = kept
            return gone
        for row in gone.tolist():
            slot = self._slot_of[row]
            last = self.count - 1
            if slot != last:
                moved = self._rows[last]
                self._data[slot] = self._data[last]
                self._rows[slot] = moved
                self._slot_of[moved] = slot
            self._slot_of[row] = -1
            self.count = last
        return gone

    def memory_bytes(self) -> int:
        return self._data.nbytes + self._rows.nbytes + self._slot_of.nbytes

    def _reserve(self, needed: int) -> None:
        if needed <= len(self._data):
            return
        capacity = max(needed, 2 * len(self._data), 1024)
        data = np.empty((capacity, self.dim), dtype=np.float32)
        data[: self.count] = self._data[: self.count]
        rows = np.empty(capacity, dtype=np.int64)
        rows[: self.count] = self._rows[: self.count]
        self._data, self._rows = data, rows


def as_rows(rows: Collection[int] | np.ndarray) -> np.ndarray:
    array = np.fromiter(rows, dtype=np.int64) if isinstance(rows, (set, frozenset)) else np.asarray(rows)
    array = array.astype(np.int64, copy=False).reshape(-1)
    if len(array) and array.min() < 0:
        raise InvalidArgument("rows must be non-negative", reason=reasons.INVALID_ROW)
    return array


def grown_table(table: np.ndarray, bound: int) -> np.ndarray:
    """`table` (a row -> index table, -1 where absent) long enough for rows below `bound`,
    doubling when it grows."""
    if bound <= len(table):
        return table
    grown = np.full(max(bound, 2 * len(table)), -1, dtype=np.int64)
    grown[: len(table)] = table
    return grown


def prepared(vectors: np.ndarray, dim: int, metric: int, what: str) -> np.ndarray:
    """`vectors` as a C-contiguous float32 (n, dim) copy, normalised for COSINE; `what` names them in errors."""
    array = np.array(vectors, dtype=np.float32, copy=True, order="C")
    if array.ndim == 1 and array.size == dim:
        array = array.reshape(1, dim)
    if array.ndim != 2 or array.shape[1] != dim:
        raise InvalidArgument(
            f"{what} must have dimension {dim}, got shape {array.shape}", reason=reasons.DIMENSION_MISMATCH, field=what
        )
    if metric == COSINE and len(array):
        faiss.normalize_L2(array)
    return array


def store_from_bytes(dim: int, row_bytes: bytes, vector_bytes: bytes) -> VectorStore:
    """A store holding the rows and vectors serialised from `VectorStore.rows` / `VectorStore.vectors`."""
    rows = np.frombuffer(row_bytes, dtype=np.int64)
    store = VectorStore(dim, capacity=len(rows))
    store.put(rows, np.frombuffer(vector_bytes, dtype=np.float32).reshape(len(rows), dim))
    return store


def write_sections(out: BinaryIO, sections: Sequence[bytes | np.ndarray]) -> None:
    """Writes `FORMAT`, then each section length-prefixed (see `write_section`)."""
    out.write(FORMAT)
    for section in sections:
        write_section(out, section)


def read_sections(source: BinaryIO, count: int) -> list[bytes]:
    """The `count` sections `write_sections` wrote, after checking `FORMAT`."""
    if source.read(len(FORMAT)) != FORMAT:
        raise ValueError("not a serialised VectorIndex")
    return [read_section(source) for _ in range(count)]


def write_section(out: BinaryIO, section: bytes | np.ndarray) -> None:
    """Writes one length-prefixed section: its size as 8 little-endian bytes, then its bytes."""
    if isinstance(section, np.ndarray):
        view = section.data.cast("B") if section.size else memoryview(b"")
    else:
        view = memoryview(section)
    out.write(len(view).to_bytes(8, "little"))
    out.write(view)


def read_section(source: BinaryIO) -> bytes:
    size = int.from_bytes(source.read(8), "little")
    data = source.read(size)
    if len(data) != size:
        raise ValueError("serialised VectorIndex is truncated")
    return data
