"""The records one shard holds, by id, by row and in id order, with their metadata index; checks on a write batch."""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from simmesh.indexer.filter_cache import FilterCache
from simmesh.indexer.metadata_index import MetadataIndex
from simmesh.indexer.query import Filter
from simmesh.indexer.vectors import COSINE
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh.kit.wire import struct_to_dict
from simmesh_proto.internal.v1 import shard_pb2

RESERVED = ("_id", "_url")


@dataclasses.dataclass(slots=True)
class StoredRecord:
    """A record as the shard holds it. `doc` is the metadata plus `_id` (and `_url` when set):
    the document filters run on. Read-only by convention: not frozen, because a frozen
    dataclass costs several times as much to construct, once per record written."""

    id: str
    row: int
    url: str
    doc: dict[str, Any]
    create_ns: int
    update_ns: int

    @property
    def metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self.doc.items() if k not in RESERVED}

    def to_proto(self, *, metadata: bool = True, fields: Sequence[str] = ()) -> shard_pb2.ShardRecord:
        """The record as a ShardRecord: all metadata, or only the top-level fields that the
        (dotted) `fields` start with, or none."""
        out = shard_pb2.ShardRecord(id=self.id, url=self.url)
        out.create_time.FromNanoseconds(self.create_ns)
        out.update_time.FromNanoseconds(self.update_ns)
        if metadata:
            out.metadata.update(self.metadata)
        elif fields:
            tops = {f.split(".", 1)[0] for f in fields}
            out.metadata.update({k: v for k, v in self.doc.items() if k in tops and k not in RESERVED})
        return out


class RecordTable:
    """The shard's records by id and by row, their ids in sorted order and the metadata index over
    them. Rows are handed out densely from 0 and never reused. The caller serialises mutations."""

    def __init__(self, indexed_fields: Sequence[str]) -> None:
        self._indexed_fields = list(indexed_fields)
        self.meta_lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.by_id: dict[str, StoredRecord] = {}
        self.id_of_row: dict[int, str] = {}
        self.order = IdOrder()
        self.next_row = 0
        self.meta = MetadataIndex(self._indexed_fields)
        self.filters = FilterCache()

    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self.by_id

    def apply_write(self, entry: shard_pb2.WriteRequest, dim: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Stores the entry's records, replacing existing ids (idempotent). Records without
        times take the entry's `write_time` (older entries carry them on every record).
        Returns the rows written, their vectors and how many records are new."""
        records = entry.records
        matrix = np.frombuffer(entry.vectors, dtype=np.float32).reshape(len(records), dim)
        write_ns = entry.write_time.ToNanoseconds()
        stored, id_of_row, meta = self.by_id, self.id_of_row, self.meta
        placed: list[int] = []
        added: list[str] = []
        for record in records:
            record_id, url = record.id, record.url
            doc = struct_to_dict(record.metadata) if record.HasField("metadata") else {}
            doc["_id"] = record_id
            if url:
                doc["_url"] = url
            old = stored.get(record_id)
            if old is None:
                row = self.next_row
                self.next_row += 1
                create_ns = record.create_time.ToNanoseconds() if record.HasField("create_time") else write_ns
                added.append(record_id)
            else:
                row, create_ns = old.row, old.create_ns
                meta.remove(row)
            update_ns = record.update_time.ToNanoseconds() if record.HasField("update_time") else write_ns
            stored[record_id] = StoredRecord(record_id, row, url, doc, create_ns, update_ns)
            id_of_row[row] = record_id
            meta.add(row, doc)
            placed.append(row)
        self.order.add_many(added)
        return np.asarray(placed, dtype=np.int64), matrix, len(added)

    def apply_delete(self, ids: Iterable[str]) -> list[int]:
        """Removes the ids that exist (idempotent); returns their rows."""
        rows = []
        for record_id in ids:
            old = self.by_id.pop(record_id, None)
            if old is None:
                continue
            del self.id_of_row[old.row]
            self.meta.remove(old.row)
            self.order.remove(record_id)
            rows.append(old.row)
        return rows

    def load(self, records: Iterable[StoredRecord], next_row: int) -> None:
        """Adds the records of a snapshot."""
        for record in records:
            self.by_id[record.id] = record
            self.id_of_row[record.row] = record.id
            self.order.add(record.id)
            self.meta.add(record.row, record.doc)
        self.next_row = next_row

    def selectivity(self, compiled: Filter) -> int | None:
        """An upper bound on the records the metadata index lets through; None when it cannot narrow."""
        with self.meta_lock:
            return compiled.selectivity(self.meta)

    def matching_rows(self, compiled: Filter) -> np.ndarray:
        """The rows of the records that match, sorted (from the metadata index when it narrows
        the filter, else by checking every record); kept for a repeated filter until the records
        change. The caller must not change the array."""
        with self.meta_lock:
            return self.filters.rows(compiled, self.meta.generation, lambda: self._matching_rows(compiled))

    def _matching_rows(self, compiled: Filter) -> np.ndarray:
        id_of, records = self.id_of_row, self.by_id

        def doc_of(row: int) -> dict[str, Any] | None:
            record_id = id_of.get(row)
            return None if record_id is None else records[record_id].doc

        found = compiled.matching_rows(self.meta, doc_of)
        if found is None:
            matches = compiled.matches
            found = np.asarray(sorted(r.row for r in records.values() if matches(r.doc)), dtype=np.int64)
        return found

    def page(self, after_id: str, limit: int, compiled: Filter | None) -> list[StoredRecord]:
        """Up to `limit` records with ids above `after_id`, in id order, matching the filter."""
        ordered, by_id = self.order.ids(), self.by_id
        out: list[StoredRecord] = []
        for at in range(bisect.bisect_right(ordered, after_id), len(ordered)):
            record = by_id.get(ordered[at])
            if record is None or (compiled is not None and not compiled.matches(record.doc)):
                continue
            out.append(record)
            if len(out) == limit:
                break
        return out

    def sample(self, count: int, compiled: Filter | None, seed: int) -> tuple[list[StoredRecord], int]:
        """A uniform sample of up to `count` matching records in id order, and how many match."""
        if compiled is None:
            pool = self.order.ids()
        else:
            pool = sorted(self.id_of_row[row] for row in self.matching_rows(compiled))
        rng = np.random.default_rng(seed or None)
        picks = np.sort(rng.choice(len(pool), size=min(count, len(pool)), replace=False))
        return [self.by_id[pool[i]] for i in picks.tolist()], len(pool)

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        return np.asarray([self.by_id[i].row for i in ids if i in self.by_id], dtype=np.int64)


class IdOrder:
    """Record ids in sorted order, kept lazily: additions and removals are noted in O(1) and
    folded in (one linear merge) by the next reader."""

    def __init__(self) -> None:
        self._sorted: list[str] = []
        self._added: set[str] = set()
        self._removed: set[str] = set()
        self._lock = threading.Lock()

    def add(self, record_id: str) -> None:
        if record_id in self._removed:
            self._removed.discard(record_id)
        else:
            self._added.add(record_id)

    def add_many(self, record_ids: Sequence[str]) -> None:
        if self._removed:
            for record_id in record_ids:
                self.add(record_id)
        else:
            self._added.update(record_ids)

    def remove(self, record_id: str) -> None:
        if record_id in self._added:
            self._added.discard(record_id)
        else:
            self._removed.add(record_id)

    def ids(self) -> list[str]:
        with self._lock:
            if self._removed:
                removed = self._removed
                self._sorted = [i for i in self._sorted if i not in removed]
                self._removed = set()
            if self._added:
                self._sorted = list(heapq.merge(self._sorted, sorted(self._added)))
                self._added = set()
            return self._sorted


def check_batch(
    records: Sequence[shard_pb2.ShardRecord], vectors: np.ndarray | bytes, dim: int, metric: int
) -> tuple[np.ndarray, list[str]]:
    """The batch's vectors as a matrix and its ids, once they are checked."""
    if isinstance(vectors, (bytes, bytearray, memoryview)):
        raw = np.frombuffer(vectors, dtype=np.float32) if len(vectors) % 4 == 0 else None
        if raw is None or raw.size != len(records) * dim:
            raise InvalidArgument(
                f"vectors hold {len(vectors)} bytes; {len(records)} records of dimension "
                f"{dim} need {len(records) * dim * 4}",
                reason=reasons.DIMENSION_MISMATCH,
                field="vectors",
            )
        matrix = raw.reshape(len(records), dim)
    else:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != dim:
            raise InvalidArgument(
                f"vectors must have dimension {dim}, got shape {matrix.shape}",
                reason=reasons.DIMENSION_MISMATCH,
                field="vectors",
            )
        if len(matrix) != len(records):
            raise InvalidArgument(
                f"{len(matrix)} vectors for {len(records)} records",
                reason=reasons.VECTOR_COUNT_MISMATCH,
                field="vectors",
            )
    ids = [record.id for record in records]
    unique = set(ids)
    if len(unique) != len(ids) or "" in unique:  # find the first offender
        seen: set[str] = set()
        for i, record_id in enumerate(ids):
            if not record_id:
                raise InvalidArgument(f"record {i} has no id", reason=reasons.MISSING_ID, field=f"records[{i}].id")
            if record_id in seen:
                raise InvalidArgument(
                    f"id {record_id!r} appears more than once in the batch",
                    reason=reasons.DUPLICATE_ID,
                    field=f"records[{i}].id",
                    metadata={"id": record_id},
                )
            seen.add(record_id)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise InvalidArgument(
            f"vector of record {records[i].id!r} has NaN or infinite values",
            reason=reasons.INVALID_VECTOR,
            field=f"records[{i}].vector",
            metadata={"id": records[i].id},
        )
    if metric == COSINE:
        zero = ~matrix.any(axis=1)
        if zero.any():
            i = int(np.flatnonzero(zero)[0])
            raise InvalidArgument(
                f"vector of record {records[i].id!r} is all zeros, which has no cosine similarity",
                reason=reasons.INVALID_VECTOR,
                field=f"records[{i}].vector",
                metadata={"id": records[i].id},
            )
    return matrix, ids


def write_entry(
    records: Sequence[shard_pb2.ShardRecord],
    vectors: np.ndarray | bytes,
    matrix: np.ndarray,
    kept: list[bool] | None,
    request: shard_pb2.WriteRequest | None,
) -> shard_pb2.WriteRequest:
    """The log entry of a write: the batch as given (records without times take `write_time`),
    less the records refused (`kept[i]` is False for those); `request` itself when none is."""
    if kept is not None:
        keep = [i for i, wanted in enumerate(kept) if wanted]
        return shard_pb2.WriteRequest(records=[records[i] for i in keep], vectors=matrix[keep].tobytes())
    if request is not None:
        return request
    return shard_pb2.WriteRequest(records=records, vectors=vectors if isinstance(vectors, bytes) else matrix.tobytes())
