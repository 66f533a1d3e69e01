"""The row of each position in an HNSW graph, which FAISS cannot remove from: a removed position is a tombstone."""

from __future__ import annotations

import numpy as np

from simmesh.indexer.vector_store import grown_table

# HNSW is rebuilt once tombstones exceed this share of its positions (and at least MIN count).
TOMBSTONE_REBUILD_SHARE = 0.2
TOMBSTONE_REBUILD_MIN = 1_000


class HnswPositions:
    """Position -> row (-1 once removed) and row -> position (-1 when absent)."""

    def __init__(self) -> None:
        self.labels = np.empty(0, dtype=np.int64)
        self._position_of = np.full(0, -1, dtype=np.int64)
        self.tombstones = 0

    @classmethod
    def restored(cls, labels: np.ndarray, tombstones: int, row_bound: int) -> HnswPositions:
        """The table of a graph whose position i holds row `labels[i]`."""
        positions = cls()
        positions.labels = labels
        live = np.flatnonzero(labels >= 0)
        positions._position_of = np.full(row_bound, -1, dtype=np.int64)
        positions._position_of[labels[live]] = live
        positions.tombstones = tombstones
        return positions

    @property
    def wants_rebuild(self) -> bool:
        """True when removed positions are numerous enough that a rebuild pays off."""
        return self.tombstones >= max(TOMBSTONE_REBUILD_MIN, TOMBSTONE_REBUILD_SHARE * len(self.labels))

    def append(self, rows: np.ndarray) -> None:
        """Notes `rows` as added at the end of the graph, in order."""
        start = len(self.labels)
        self.labels = np.concatenate([self.labels, rows])
        self._position_of = grown_table(self._position_of, int(rows.max()) + 1)
        self._position_of[rows] = np.arange(start, start + len(rows), dtype=np.int64)

    def remove(self, rows: np.ndarray) -> None:
        positions = self._position_of[rows]
        self.labels[positions] = -1
        self._position_of[rows] = -1
        self.tombstones += len(positions)

    def allowed(self, candidates: np.ndarray | None) -> np.ndarray | None:
        """The positions a search may return: the candidates', else the live ones when any are
        removed; None when every position is allowed."""
        if candidates is not None:
            return self._position_of[candidates]
        if self.tombstones:
            return np.flatnonzero(self.labels >= 0)
        return None

    def rows_at(self, positions: np.ndarray) -> np.ndarray:
        return np.where(positions >= 0, self.labels[np.maximum(positions, 0)], -1)

    def memory_bytes(self) -> int:
        return self.labels.nbytes + self._position_of.nbytes
