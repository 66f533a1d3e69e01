"""The record reads of a shard store: get, list and sample, under the store's read lock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TypeAlias

import numpy as np
from google.protobuf import struct_pb2

from simmesh.indexer.query import Filter, compile_filter
from simmesh.indexer.rwlock import ReadWriteLock
from simmesh.indexer.shard_records import RecordTable, StoredRecord
from simmesh.indexer.vectors import VectorIndex
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument

FilterSpec: TypeAlias = Mapping[str, Any] | struct_pb2.Struct | Filter | None


class GetResult(NamedTuple):
    records: list[StoredRecord]
    missing_ids: list[str]
    vectors: np.ndarray | None


class SampleResult(NamedTuple):
    records: list[StoredRecord]
    vectors: np.ndarray | None
    matching_count: int


class ShardReads:
    """`ShardStore`'s reads of records by id, by page and by sample; see `simmesh.indexer.store`."""

    dim: int
    _rw: ReadWriteLock
    _table: RecordTable
    _vectors: VectorIndex

    def get(self, ids: Sequence[str], include_vectors: bool = False) -> GetResult:
        """The records of `ids` that exist, in request order, and the ids that do not."""
        with self._rw.read():
            rows = self._table.row_array(ids)
            found = self._table.records_of(rows[rows >= 0].tolist())
            missing = [i for i, row in zip(ids, rows.tolist()) if row < 0]
            return GetResult(found, missing, self._vectors_of(found) if include_vectors else None)

    def list(
        self, after_id: str = "", limit: int = 100, filter: FilterSpec = None, include_vectors: bool = False
    ) -> tuple[list[StoredRecord], np.ndarray | None]:
        """Up to `limit` records with ids above `after_id`, in id order, matching the filter."""
        if limit <= 0:
            raise InvalidArgument(f"limit must be positive, got {limit}", reason=reasons.INVALID_LIMIT, field="limit")
        compiled = compile_spec(filter)
        with self._rw.read():
            out = self._table.page(after_id, limit, compiled)
            return out, self._vectors_of(out) if include_vectors else None

    def sample(
        self, count: int, filter: FilterSpec = None, seed: int = 0, include_vectors: bool = False
    ) -> SampleResult:
        """A uniform sample of up to `count` matching records, in id order; the same `seed`
        gives the same sample while the shard is unchanged (0: a random one)."""
        if count < 0:
            raise InvalidArgument(
                f"count must not be negative, got {count}", reason=reasons.INVALID_COUNT, field="count"
            )
        compiled = compile_spec(filter)
        with self._rw.read():
            records, matching = self._table.sample(count, compiled, seed)
            return SampleResult(records, self._vectors_of(records) if include_vectors else None, matching)

    def sample_vectors(self, count: int, seed: int = 0) -> tuple[np.ndarray, int]:
        """Up to `count` stored vectors drawn uniformly (for training), and how many there are."""
        with self._rw.read():
            store = self._vectors.store
            rng = np.random.default_rng(seed or None)
            picks = np.sort(rng.choice(store.count, size=min(max(count, 0), store.count), replace=False))
            return store.vectors[picks], store.count

    def _vectors_of(self, records: Sequence[StoredRecord]) -> np.ndarray:
        rows = np.asarray([r.row for r in records], dtype=np.int64)
        return self._vectors.store.get(rows) if len(rows) else np.empty((0, self.dim), dtype=np.float32)


def compile_spec(spec: FilterSpec) -> Filter | None:
    """The filter `spec` compiles to; None when it matches everything."""
    if spec is None:
        return None
    compiled = spec if isinstance(spec, Filter) else compile_filter(spec)
    return None if compiled.matches_all else compiled
