"""The vectors of one shard addressed by row: a float32 array (in memory or memory-mapped) and a row -> slot table."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

from simmesh.indexer.index_kinds import COSINE
from simmesh.indexer.vector_file import FrozenVectors, VectorFile
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument

# The first bytes of a serialised VectorIndex.
FORMAT = b"SMVI1\n"


class VectorStore:
    """Vectors addressed by row: a float32 array, the row of each slot, and a dense row -> slot
    table (-1 where the row is absent). Removal moves the last slot into the hole, so the live
    vectors are always `vectors[:count]`. With a `directory` the array is a `VectorFile` there
    (memory-mapped, grown in chunks), else it lives in memory and grows by doubling.

    `freeze` hands out the live vectors as they are, for a snapshot to write while writes go on."""

    def __init__(self, dim: int, capacity: int = 0, directory: Path | None = None) -> None:
        self.dim = dim
        self.count = 0
        self._file = VectorFile(directory, dim) if directory is not None else None
        self._data = self._file.mapped(capacity) if self._file else np.empty((capacity, dim), dtype=np.float32)
        self._rows = np.empty(len(self._data), dtype=np.int64)
        self._slot_of = np.full(0, -1, dtype=np.int64)
        self._frozen: list[FrozenVectors] = []

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
        self._preserve(slots[present])
        self._data[slots[present]] = vectors[present]
        new_rows = rows[~present]
        if not len(new_rows):
            return
        start, end = self.count, self.count + len(new_rows)
        self._reserve(end)
        if self._frozen:  # slots freed by removals since the freeze are taken again
            self._preserve(np.arange(start, min(end, max(frozen.count for frozen in self._frozen))))
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
            self._preserve(np.arange(int(slots.min()), kept))
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
                self._preserve(np.asarray([slot]))
                moved = self._rows[last]
                self._data[slot] = self._data[last]
                self._rows[slot] = moved
                self._slot_of[moved] = slot
            self._slot_of[row] = -1
            self.count = last
        return gone

    @property
    def mapped(self) -> bool:
        """True when the vectors live in a memory-mapped file rather than in the process's memory."""
        return self._file is not None

    def vector_bytes(self) -> int:
        """The memory the vector array takes (0 when it is memory-mapped)."""
        return 0 if self._file else self._data.nbytes

    def on_disk_bytes(self) -> int:
        """The size of the memory-mapped file (0 when the vectors are in memory)."""
        return self._file.size_bytes if self._file else 0

    def table_bytes(self) -> int:
        """The memory of the slot -> row and row -> slot tables."""
        return self._rows.nbytes + self._slot_of.nbytes

    def memory_bytes(self) -> int:
        return self.vector_bytes() + self.table_bytes()

    def freeze(self) -> FrozenVectors:
        """The live vectors as they are now, readable (slot order, as `rows` is now) while this
        store goes on changing; `thaw` it when done. Call it while nothing changes the store."""
        frozen = FrozenVectors(self._data, self.count)
        self._frozen.append(frozen)
        return frozen

    def thaw(self, frozen: FrozenVectors) -> None:
        self._frozen.remove(frozen)

    def _preserve(self, slots: np.ndarray) -> None:
        for frozen in tuple(self._frozen):
            frozen.keep(slots, self._data)

    def _reserve(self, needed: int) -> None:
        if needed > len(self._data):
            if self._file:
                self._data = self._file.mapped(needed)
            else:
                data = np.empty((max(needed, 2 * len(self._data), 1024), self.dim), dtype=np.float32)
                data[: self.count] = self._data[: self.count]
                self._data = data
        if needed > len(self._rows):
            rows = np.empty(max(needed, 2 * len(self._rows), 1024), dtype=np.int64)
            rows[: self.count] = self._rows[: self.count]
            self._rows = rows


@dataclasses.dataclass(frozen=True)
class FrozenIndex:
    """An index taken at one moment (see `VectorIndex.freeze`): its leading sections (a FAISS
    index among them is a copy, serialised by `dump`), and its vectors, frozen in `store` until
    `release`."""

    sections: list[bytes | np.ndarray | faiss.Index]
    vectors: FrozenVectors
    store: VectorStore

    def dump(self, out: BinaryIO) -> None:
        """Writes the sections (see `write_sections`); `out` must be seekable."""
        out.write(FORMAT)
        for section in self.sections:
            if isinstance(section, faiss.Index):
                write_faiss_section(out, section)
            else:
                write_section(out, section)
        write_frozen(out, self.vectors, self.store.dim)

    def release(self) -> None:
        self.store.thaw(self.vectors)


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


def read_store(source: BinaryIO, dim: int, row_bytes: bytes, directory: Path | None = None) -> VectorStore:
    """A store holding `row_bytes`' rows and the vectors of the section `source` is at (written by
    `write_frozen`), read a chunk at a time, so that a memory-mapped store never holds them all in memory."""
    rows = np.frombuffer(row_bytes, dtype=np.int64)
    size = int.from_bytes(source.read(8), "little")
    if size != len(rows) * dim * 4:
        raise ValueError("serialised VectorIndex has vectors of the wrong size")
    store = VectorStore(dim, capacity=len(rows), directory=directory)
    step = max(1, (16 << 20) // (4 * dim))
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        data = source.read(len(chunk) * dim * 4)
        if len(data) != len(chunk) * dim * 4:
            raise ValueError("serialised VectorIndex is truncated")
        store.put(chunk, np.frombuffer(data, dtype=np.float32).reshape(len(chunk), dim))
    return store


def write_frozen(out: BinaryIO, frozen: FrozenVectors, dim: int) -> None:
    """Writes the frozen vectors as one section (see `write_section`), a chunk at a time."""
    out.write((frozen.count * dim * 4).to_bytes(8, "little"))
    for chunk in frozen.chunks():
        out.write(chunk.data.cast("B"))


def write_sections(out: BinaryIO, sections: Sequence[bytes | np.ndarray]) -> None:
    """Writes `FORMAT`, then each section length-prefixed (see `write_section`)."""
    out.write(FORMAT)
    for section in sections:
        write_section(out, section)


def write_faiss_section(out: BinaryIO, index: faiss.Index) -> None:
    """Writes `index` serialised as one section, straight to `out` (seekable), with no copy in memory."""
    start = out.tell()
    out.write(bytes(8))
    writer = faiss.PyCallbackIOWriter(out.write)  # type: ignore[attr-defined]  # missing from faiss's stubs
    faiss.write_index(index, writer)
    del writer  # flushes
    end = out.tell()
    out.seek(start)
    out.write((end - start - 8).to_bytes(8, "little"))
    out.seek(end)


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
