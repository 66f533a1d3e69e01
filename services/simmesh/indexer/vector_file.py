"""Float32 matrices memory-mapped from a scratch file, grown in chunks, and frozen views that writes do not disturb.

A shard whose index holds its own codes (IVF, HNSW) keeps the raw vectors it needs for exact
search, re-ranking and re-training in a `VectorFile`: the pages live in the page cache, which
the kernel writes back and evicts as it needs, not in the process's own memory. The file is
unlinked as soon as it is created, so it goes with its last mapping and a crash leaves nothing
behind. Nothing fsyncs it: it is derived state, rebuilt from the snapshot and the write-ahead log
(fsynced before any write is applied) when the shard opens.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# The file grows by an eighth of its size, at least this many bytes (each growth maps the file anew; no copy).
CHUNK_BYTES = 1 << 20


class VectorFile:
    """A (capacity, dim) float32 matrix in an unlinked file under `directory`, memory-mapped.
    `size_bytes` counts the rows written and the room grown for more."""

    def __init__(self, directory: Path, dim: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="vectors-", suffix=".f32", dir=directory)
        os.unlink(path)
        self._fd = fd
        self.dim = dim
        self.size_bytes = 0
        self._chunk_rows = max(1, CHUNK_BYTES // (4 * dim))

    def mapped(self, rows: int) -> np.ndarray:
        """The whole file as a matrix of at least `rows` rows, growing the file by at least an
        eighth; rows already written keep their values (earlier mappings stay valid)."""
        held = self.size_bytes // (4 * self.dim)
        if rows > held:
            step = max(self._chunk_rows, held // 8)
            size = (held + -(-(rows - held) // step) * step) * self.dim * 4
            os.ftruncate(self._fd, size)
            self.size_bytes = size
        if not self.size_bytes:
            return np.empty((0, self.dim), dtype=np.float32)
        mapping = mmap.mmap(self._fd, self.size_bytes)
        return np.frombuffer(mapping, dtype=np.float32).reshape(-1, self.dim)

    def __del__(self) -> None:
        os.close(self._fd)


class FrozenVectors:
    """The first `count` rows of a store's matrix as they were when frozen, readable while writes
    go on: before a write changes a frozen slot, the store hands the slot's old vector to `keep`."""

    def __init__(self, data: np.ndarray, count: int) -> None:
        self._data = data
        self.count = count
        self._kept: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def keep(self, slots: np.ndarray, data: np.ndarray) -> None:
        """Saves the current vectors of `slots` (those frozen and not saved yet) from `data`."""
        with self._lock:
            for slot in slots[slots < self.count].tolist():
                if slot not in self._kept:
                    self._kept[slot] = data[slot].copy()

    def chunks(self, rows: int = 16_384) -> Iterator[np.ndarray]:
        """The frozen vectors in slot order, `rows` at a time (copies)."""
        for start in range(0, self.count, rows):
            stop = min(self.count, start + rows)
            chunk = self._data[start:stop].copy()
            with self._lock:
                for slot, vector in self._kept.items():
                    if start <= slot < stop:
                        chunk[slot - start] = vector
            yield chunk

    @property
    def kept(self) -> int:
        return len(self._kept)
