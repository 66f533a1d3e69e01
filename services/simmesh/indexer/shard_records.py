"""The records one shard holds, as columns over rows, with their metadata index; checks on a write batch."""

from __future__ import annotations

import bisect
import dataclasses
import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from simmesh.indexer import packed_ids
from simmesh.indexer.filter_cache import FilterCache
from simmesh.indexer.metadata_index import MetadataIndex
from simmesh.indexer.query import Filter
from simmesh.indexer.record_columns import BytesColumn, Column, FrozenBytes, IdLookup, RowOrder
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
    """The shard's records as columns over rows (see `record_columns`): ids, urls and metadata as
    bytes, times as int64, the row of each id by hash, rows in id order, and the metadata index over
    them. Rows are handed out densely from 0 and never reused. The caller serialises mutations."""

    def __init__(self, indexed_fields: Sequence[str]) -> None:
        self._indexed_fields = list(indexed_fields)
        self.meta_lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self._ids, self._urls, self._metadata = BytesColumn(), BytesColumn(), BytesColumn()
        self._create_ns, self._update_ns = Column(), Column()
        self._lookup = IdLookup(self.id_at, self.alive)
        self.order = RowOrder(self.id_at, self.alive)
        self._count = 0
        self.next_row = 0
        self.meta = MetadataIndex(self._indexed_fields)
        self.filters = FilterCache()
        # Counts every stored or deleted record: rows a filter matched at one count hold until it moves.
        self.changes = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, record_id: object) -> bool:
        return isinstance(record_id, str) and self._lookup.get(record_id) >= 0

    def nbytes(self) -> int:
        """The bytes of the columns and lookups (the metadata index not counted)."""
        columns = (self._ids, self._urls, self._metadata)
        times = self._create_ns.values.nbytes + self._update_ns.values.nbytes
        return sum(c.nbytes() for c in columns) + times + self._lookup.nbytes() + self.order.nbytes()

    def alive(self, rows: np.ndarray) -> np.ndarray:
        lengths = self._ids.lengths.values
        inside = rows < len(lengths)
        return inside & (lengths[np.where(inside, rows, 0)] >= 0)

    def id_at(self, row: int) -> str | None:
        """The id of the record at `row`; None when the row holds none."""
        raw = self._ids.get(row)
        return None if raw is None else raw.decode()

    def row_of(self, record_id: str) -> int:
        """The row of `record_id`; -1 when it is not stored."""
        return self._lookup.get(record_id)

    def row_array(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each id, -1 for those not stored."""
        return self._lookup.rows_of(ids)

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The rows of those of `ids` that are stored."""
        rows = self._lookup.rows_of(ids)
        return rows[rows >= 0]

    def ids_of(self, rows: Iterable[int]) -> list[str]:
        """The id of each row; "" where a row is -1 or holds no record."""
        return [(self.id_at(r) or "") if r >= 0 else "" for r in rows]

    def joined_ids(self, rows: np.ndarray) -> str | None:
        """`ids_of(rows)` joined by NUL as `packed_ids.joined` does, in array operations."""
        column = self._ids
        return packed_ids.joined_rows(column.blob, column.starts.values, column.lengths.values, rows)

    def metadata_of(self, row: int) -> dict[str, Any]:
        raw = self._metadata.get(row)
        return {} if raw is None else json.loads(raw)

    def doc_of(self, row: int) -> dict[str, Any]:
        """The document filters run on: the metadata plus `_id` (and `_url` when set)."""
        doc = self.metadata_of(row)
        doc["_id"] = self.id_at(row)
        url = self._urls.get(row)
        if url is not None:
            doc["_url"] = url.decode()
        return doc

    def record(self, row: int) -> StoredRecord:
        doc = self.doc_of(row)
        return StoredRecord(
            doc["_id"], row, doc.get("_url", ""), doc, self._create_ns.get(row), self._update_ns.get(row)
        )

    def records_of(self, rows: Iterable[int]) -> list[StoredRecord]:
        return [self.record(r) for r in rows]

    def apply_write(self, entry: shard_pb2.WriteRequest, dim: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Stores the entry's records, replacing existing ids (idempotent). Records without
        times take the entry's `write_time` (older entries carry them on every record).
        Returns the rows written, their vectors and how many records are new."""
        records = entry.records
        matrix = np.frombuffer(entry.vectors, dtype=np.float32).reshape(len(records), dim)
        write_ns = entry.write_time.ToNanoseconds()
        ids = [record.id for record in records]
        found = self._lookup.rows_of(ids)
        if len(ids) and (found < 0).all():
            return self._append(records, ids, write_ns), matrix, len(ids)
        existing = found.tolist()
        placed: list[int] = []
        added: list[int] = []
        for record, row in zip(records, existing):
            metadata = struct_to_dict(record.metadata) if record.HasField("metadata") else {}
            new = row < 0
            if new:
                row = self.next_row
                self.next_row += 1
                create_ns = record.create_time.ToNanoseconds() if record.HasField("create_time") else write_ns
                added.append(row)
            else:
                create_ns = self._create_ns.get(row)
            update_ns = record.update_time.ToNanoseconds() if record.HasField("update_time") else write_ns
            self._store(row, record.id, record.url, metadata, create_ns, update_ns, new)
            placed.append(row)
        self.order.add_many(added)
        return np.asarray(placed, dtype=np.int64), matrix, len(added)

    def _append(self, records: Sequence[shard_pb2.ShardRecord], ids: list[str], write_ns: int) -> np.ndarray:
        """`_store` of records whose ids are all new, as column operations over their new rows."""
        start, count = self.next_row, len(ids)
        rows = np.arange(start, start + count, dtype=np.int64)
        metadata = [struct_to_dict(record.metadata) if record.HasField("metadata") else {} for record in records]
        cleans = [{k: v for k, v in doc.items() if k not in RESERVED} for doc in metadata]
        urls = [record.url for record in records]
        self._ids.put_new(start, [record_id.encode() for record_id in ids])
        self._metadata.put_new(start, [_encoded(clean) if clean else None for clean in cleans])
        self._urls.put_new(start, [url.encode() if url else None for url in urls])
        self._create_ns.put(
            start, [r.create_time.ToNanoseconds() if r.HasField("create_time") else write_ns for r in records]
        )
        self._update_ns.put(
            start, [r.update_time.ToNanoseconds() if r.HasField("update_time") else write_ns for r in records]
        )
        for record_id, row in zip(ids, rows.tolist()):
            self._lookup.add(record_id, row)
        if self.meta.fields:
            for clean, record_id, url, row in zip(cleans, ids, urls, rows.tolist()):
                clean["_id"] = record_id
                if url:
                    clean["_url"] = url
                self.meta.add(row, clean)
        self.next_row += count
        self._count += count
        self.changes += count
        self.order.add_many(rows.tolist())
        return rows

    def load_record(self, row: int, create_ns: int, update_ns: int, doc: dict[str, Any]) -> None:
        """Adds a record of a snapshot (`doc` as `StoredRecord.doc`); `row` is not yet stored."""
        metadata = {k: v for k, v in doc.items() if k not in RESERVED}
        self._store(row, doc["_id"], doc.get("_url", ""), metadata, create_ns, update_ns, True)
        self.order.add_many((row,))
        self.next_row = max(self.next_row, row + 1)

    def _store(
        self, row: int, record_id: str, url: str, metadata: dict[str, Any], create: int, update: int, new: bool
    ) -> None:
        meta = self.meta
        self.changes += 1
        if new:
            self._ids.set(row, record_id.encode())
            self._lookup.add(record_id, row)
            self._count += 1
        elif meta.fields:
            meta.remove(row)
        clean = {k: v for k, v in metadata.items() if k not in RESERVED}
        self._metadata.set(row, _encoded(clean) if clean else None)
        self._urls.set(row, url.encode() if url else None)
        self._create_ns.set(row, create)
        self._update_ns.set(row, update)
        if meta.fields:
            clean["_id"] = record_id
            if url:
                clean["_url"] = url
            meta.add(row, clean)

    def apply_delete(self, ids: Iterable[str]) -> list[int]:
        """Removes the ids that exist (idempotent); returns their rows."""
        rows = []
        for record_id in dict.fromkeys(ids):
            row = self._lookup.get(record_id)
            if row < 0:
                continue
            for column in (self._ids, self._urls, self._metadata):
                column.set(row, None)
            self._lookup.remove(record_id)
            self.meta.remove(row)
            rows.append(row)
        self._count -= len(rows)
        self.changes += len(rows)
        self.order.removed(len(rows))
        return rows

    def freeze(self) -> FrozenRecords:
        """The records as they are now, readable while writes go on (for a snapshot)."""
        size = self.next_row
        return FrozenRecords(
            self._count,
            self._ids.frozen(size),
            self._urls.frozen(size),
            self._metadata.frozen(size),
            self._create_ns.frozen(size),
            self._update_ns.frozen(size),
        )

    def selectivity(self, compiled: Filter) -> int | None:
        """An upper bound on the records the metadata index lets through; None when it cannot narrow."""
        with self.meta_lock:
            return compiled.selectivity(self.meta)

    def live_rows(self) -> np.ndarray:
        every = np.arange(self.next_row, dtype=np.int64)
        return every[self.alive(every)]

    def matching_rows(self, compiled: Filter) -> np.ndarray:
        """The rows of the records that match, sorted (from the metadata index when it narrows
        the filter, else by checking every record); kept for a repeated filter until the records
        change. The caller must not change the array."""
        with self.meta_lock:
            return self.filters.rows(compiled, self.changes, lambda: self._matching_rows(compiled))

    def _matching_rows(self, compiled: Filter) -> np.ndarray:
        ids = self._ids

        def doc_of(row: int) -> dict[str, Any] | None:
            return None if ids.get(row) is None else self.doc_of(row)

        found = compiled.matching_rows(self.meta, doc_of)
        if found is None:
            matches, docs = compiled.matches, self.doc_of
            found = np.asarray([row for row in self.live_rows().tolist() if matches(docs(row))], dtype=np.int64)
        return found

    def page(self, after_id: str, limit: int, compiled: Filter | None) -> list[StoredRecord]:
        """Up to `limit` records with ids above `after_id`, in id order, matching the filter."""
        ordered = self.order.rows()
        out: list[StoredRecord] = []
        start = bisect.bisect_right(ordered, after_id, key=lambda row: self.id_at(int(row)) or "")
        for row in ordered[start:].tolist():
            record = self.record(row)
            if compiled is not None and not compiled.matches(record.doc):
                continue
            out.append(record)
            if len(out) == limit:
                break
        return out

    def sample(self, count: int, compiled: Filter | None, seed: int) -> tuple[list[StoredRecord], int]:
        """A uniform sample of up to `count` matching records in id order, and how many match."""
        if compiled is None:
            pool = self.order.rows()
        else:
            matching = self.matching_rows(compiled).tolist()
            pool = np.asarray(sorted(matching, key=lambda row: self.id_at(row) or ""), dtype=np.int64)
        rng = np.random.default_rng(seed or None)
        picks = np.sort(rng.choice(len(pool), size=min(count, len(pool)), replace=False))
        return self.records_of(pool[picks].tolist()), len(pool)


class FrozenRecords:
    """The records of a table as they were when frozen, decoded one at a time (for a snapshot)."""

    def __init__(
        self,
        count: int,
        ids: FrozenBytes,
        urls: FrozenBytes,
        metadata: FrozenBytes,
        create_ns: np.ndarray,
        update_ns: np.ndarray,
    ) -> None:
        self._count, self._ids, self._urls, self._metadata = count, ids, urls, metadata
        self._create_ns, self._update_ns = create_ns, update_ns

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[StoredRecord]:
        for row in range(len(self._create_ns)):
            raw_id = self._ids.get(row)
            if raw_id is None:
                continue
            raw_meta, raw_url = self._metadata.get(row), self._urls.get(row)
            doc = {} if raw_meta is None else json.loads(raw_meta)
            doc["_id"] = record_id = raw_id.decode()
            url = "" if raw_url is None else raw_url.decode()
            if url:
                doc["_url"] = url
            yield StoredRecord(record_id, row, url, doc, int(self._create_ns[row]), int(self._update_ns[row]))

    def json_lines(self) -> Iterator[bytes]:
        """Each record as the line `[row, create_ns, update_ns, doc]` of a snapshot's records file,
        made from the stored bytes without decoding the metadata."""
        ids, urls, metadata = self._ids, self._urls, self._metadata
        for row in range(len(self._create_ns)):
            raw_id = ids.get(row)
            if raw_id is None:
                continue
            head = b'{"_id":' + json.dumps(raw_id.decode()).encode()
            raw_url = urls.get(row)
            if raw_url:
                head += b',"_url":' + json.dumps(raw_url.decode()).encode()
            raw_meta = metadata.get(row)
            doc = head + (b"," + raw_meta[1:] if raw_meta and raw_meta != b"{}" else b"}")
            yield b"[%d,%d,%d,%s]\n" % (row, self._create_ns[row], self._update_ns[row], doc)


def _encoded(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()


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
