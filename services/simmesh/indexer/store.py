"""The storage engine of one indexer shard: one slice of one collection.

`ShardStore` keeps the slice's records (id, row, url, metadata, times) in memory, their vectors
in a `VectorIndex`, an index of the collection's indexed metadata fields, and a write-ahead log
under `data_dir/wal`. Its methods mirror `simmesh.internal.v1.ShardService`.

Durability: a write or delete is validated, appended to the log and fsynced, then applied, and
only then acknowledged. Log entries carry the resolved outcome (the records to store, the ids
to delete) and are applied with upsert semantics, so replaying an entry twice leaves the same
single record. `snapshot` writes the index, the records and the log position to the blob store
under `{snapshot_prefix}/{collection}/{shard}/{seq}/`, the manifest last, so a snapshot without
a manifest is ignored; the two newest snapshots are kept and the log is trimmed to what the
older of them still needs. Opening restores the newest readable snapshot and replays the log
after it.

Concurrency: every method is synchronous and thread-safe; the gRPC servicer calls them through
`asyncio.to_thread`. Reads (search, get, list, sample, stats) share a read lock and run in
parallel (FAISS releases the GIL). Mutations are serialised by a writer mutex and take the
exclusive lock only while applying in memory, so the fsync and snapshot uploads do not stall
searches. Training builds the new index off-lock while writes go on; they are journalled and
re-applied to the new index before it is swapped in under a short exclusive lock.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import heapq
import json
import logging
import math
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from google.protobuf import struct_pb2
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

from simmesh.indexer.metadata_index import MetadataIndex
from simmesh.indexer.query import Filter, compile_filter
from simmesh.indexer.vectors import COSINE, EXACT, IVF_KINDS, Coarse, VectorIndex
from simmesh.indexer.wal import Op, WriteAheadLog
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import FailedPrecondition, Internal, InvalidArgument, NotFound
from simmesh.kit.wire import struct_to_dict

log = logging.getLogger(__name__)

DEFAULT_MIN_TRAIN_VECTORS = 1000
SNAPSHOTS_KEPT = 2
MANIFEST = "manifest.json"
INDEX_FILE = "index.bin"
RECORDS_FILE = "records.jsonl"
# Filters whose indexed candidates number at most max(this, 4 * sqrt(queries * k * records)) are
# searched among their verified candidates; broader ones by post-filtering wider and wider hits.
CANDIDATE_SEARCH_MIN = 2048
_RESERVED = ("_id", "_url")

FilterSpec = Mapping[str, Any] | struct_pb2.Struct | Filter | None


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
        return {k: v for k, v in self.doc.items() if k not in _RESERVED}

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
            out.metadata.update({k: v for k, v in self.doc.items() if k in tops and k not in _RESERVED})
        return out


class WriteResult(NamedTuple):
    inserted: int
    updated: int
    existing_ids: list[str]


class GetResult(NamedTuple):
    records: list[StoredRecord]
    missing_ids: list[str]
    vectors: np.ndarray | None


class SampleResult(NamedTuple):
    records: list[StoredRecord]
    vectors: np.ndarray | None
    matching_count: int


class SearchResult(NamedTuple):
    """`ids[q][i]` / `scores[q, i]`: hit i of query q, best first; "" / -inf where missing.
    `records`: the hits' records, each once; `vectors` their vectors when asked for."""

    ids: list[list[str]]
    scores: np.ndarray
    records: list[StoredRecord]
    vectors: np.ndarray | None


@dataclasses.dataclass(frozen=True)
class ShardStats:
    record_count: int
    index_kind: int
    index_state: int
    memory_bytes: int
    wal_entries: int
    last_snapshot_time: float | None
    tombstones: int


@dataclasses.dataclass(frozen=True)
class SnapshotInfo:
    uri: str
    seq: int
    record_count: int


class ShardStore:
    """One shard's records, vectors, metadata index and log; see the module docstring.

    Constructing a store restores it from `data_dir` and the blob store (`open` is the same).
    """

    def __init__(self, collection: indexer_pb2.Collection, shard: int, data_dir: Path, blobstore: BlobStore, *,
                 snapshot_prefix: str = "snapshots", wal_segment_bytes: int = 64 * 1024 * 1024) -> None:
        name = collection.name.rsplit("/", 1)[-1]
        if not name:
            raise InvalidArgument("collection has no name", reason="INVALID_COLLECTION", field="collection.name")
        if collection.dimension <= 0:
            raise InvalidArgument(f"collection dimension must be positive, got {collection.dimension}",
                                  reason="INVALID_DIMENSION", field="collection.dimension")
        self.collection = collection
        self.collection_id = name
        self.shard = shard
        self.dim = collection.dimension
        self.metric = collection.metric or COSINE
        self.data_dir = Path(data_dir)
        self.blobstore = blobstore
        self.snapshot_root = f"{snapshot_prefix.strip('/')}/{name}/{shard}"
        self._rw = _ReadWriteLock()
        self._writer = threading.RLock()
        self._snapshotting = threading.Lock()
        self._meta_lock = threading.Lock()
        self._records: dict[str, StoredRecord] = {}
        self._id_of_row: dict[int, str] = {}
        self._order = _IdOrder()
        self._next_row = 0
        self._vectors = VectorIndex(self.dim, self.metric)
        self._meta = MetadataIndex(list(collection.indexed_fields))
        self._journal: list[tuple[np.ndarray, np.ndarray | None]] | None = None
        self._snapshot_seq = 0
        self._snapshot_time: float | None = None
        self._dropped = False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._wal = WriteAheadLog(self.data_dir / "wal", segment_bytes=wal_segment_bytes)
        try:
            self._restore()
        except BaseException:
            self._wal.close()
            raise

    @classmethod
    def open(cls, collection: indexer_pb2.Collection, shard: int, data_dir: Path, blobstore: BlobStore,
             **options: Any) -> ShardStore:
        """The shard restored from its newest snapshot and its log."""
        return cls(collection, shard, data_dir, blobstore, **options)

    def close(self) -> None:
        with self._writer:
            self._wal.close()

    # ---------------------------------------------------------------------------- properties

    @property
    def record_count(self) -> int:
        return len(self._records)

    @property
    def index_state(self) -> int:
        if self._journal is not None:
            return indexer_pb2.INDEX_STATE_TRAINING
        return indexer_pb2.INDEX_STATE_TRAINED if self._vectors.is_trained else indexer_pb2.INDEX_STATE_EXACT

    @property
    def vector_index(self) -> VectorIndex:
        return self._vectors

    # -------------------------------------------------------------------------------- writes

    def write(self, records: Sequence[shard_pb2.ShardRecord], vectors: np.ndarray | bytes,
              upsert: bool = False) -> WriteResult:
        """Stores records with their vectors (row i for record i). Without `upsert`, records
        whose id exists are left alone and reported in `existing_ids`. Durable on return."""
        return self._write(records, vectors, upsert, None)

    def write_request(self, request: shard_pb2.WriteRequest) -> WriteResult:
        """`write` of a Write call's batch. The request itself becomes the log entry when none
        of its records is refused, so the caller gives it up."""
        return self._write(request.records, request.vectors, request.upsert, request)

    def _write(self, records: Sequence[shard_pb2.ShardRecord], vectors: np.ndarray | bytes, upsert: bool,
               request: shard_pb2.WriteRequest | None) -> WriteResult:
        matrix, ids = self._check_batch(records, vectors)
        now = time.time_ns()
        with self._writer:
            self._check_open()
            stored = self._records
            existing = [] if upsert else [i for i in ids if i in stored]
            # The log entry is the batch as given (records without times take `write_time`),
            # less the existing ids refused.
            if existing:
                keep = [i for i, record_id in enumerate(ids) if record_id not in stored]
                if not keep:
                    return WriteResult(0, 0, existing)
                entry = shard_pb2.WriteRequest(records=[records[i] for i in keep], vectors=matrix[keep].tobytes())
            elif request is not None:
                entry = request
            else:
                entry = shard_pb2.WriteRequest(records=records, vectors=vectors if isinstance(vectors, bytes)
                                               else matrix.tobytes())
            entry.collection, entry.shard, entry.dimension = self.collection_id, self.shard, self.dim
            entry.upsert = True
            entry.write_time.FromNanoseconds(now)
            self._wal.append(Op.WRITE, entry)
            with self._rw.write():
                inserted, updated = self._apply_write(entry)
        self._maybe_rebuild()
        return WriteResult(inserted, updated, existing)

    def delete(self, ids: Sequence[str] = (), filter: FilterSpec = None) -> list[str]:
        """Deletes the given ids (those that exist) or, with a filter, every matching record
        (with both, the given ids that match). Returns the deleted ids. Durable on return."""
        compiled = _compile(filter)
        with self._writer:
            self._check_open()
            if ids:
                targets = list(dict.fromkeys(i for i in ids if i in self._records))
                if compiled is not None:
                    targets = [i for i in targets if compiled.matches(self._records[i].doc)]
            elif compiled is not None:
                with self._rw.read():
                    targets = [self._id_of_row[row] for row in self._matching_rows(compiled)]
            else:
                targets = []
            if not targets:
                return []
            entry = shard_pb2.DeleteRequest(collection=self.collection_id, shard=self.shard, ids=targets)
            self._wal.append(Op.DELETE, entry)
            with self._rw.write():
                self._apply_delete(entry)
        self._maybe_rebuild()
        return targets

    def _check_batch(self, records: Sequence[shard_pb2.ShardRecord], vectors: np.ndarray | bytes
                     ) -> tuple[np.ndarray, list[str]]:
        """The batch's vectors as a matrix and its ids, once they are checked."""
        if isinstance(vectors, (bytes, bytearray, memoryview)):
            raw = np.frombuffer(vectors, dtype=np.float32) if len(vectors) % 4 == 0 else None
            if raw is None or raw.size != len(records) * self.dim:
                raise InvalidArgument(f"vectors hold {len(vectors)} bytes; {len(records)} records of dimension "
                                      f"{self.dim} need {len(records) * self.dim * 4}", reason="DIMENSION_MISMATCH",
                                      field="vectors")
            matrix = raw.reshape(len(records), self.dim)
        else:
            matrix = np.ascontiguousarray(vectors, dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape[1] != self.dim:
                raise InvalidArgument(f"vectors must have dimension {self.dim}, got shape {matrix.shape}",
                                      reason="DIMENSION_MISMATCH", field="vectors")
            if len(matrix) != len(records):
                raise InvalidArgument(f"{len(matrix)} vectors for {len(records)} records",
                                      reason="VECTOR_COUNT_MISMATCH", field="vectors")
        ids = [record.id for record in records]
        unique = set(ids)
        if len(unique) != len(ids) or "" in unique:  # find the first offender
            seen: set[str] = set()
            for i, record_id in enumerate(ids):
                if not record_id:
                    raise InvalidArgument(f"record {i} has no id", reason="MISSING_ID", field=f"records[{i}].id")
                if record_id in seen:
                    raise InvalidArgument(f"id {record_id!r} appears more than once in the batch",
                                          reason="DUPLICATE_ID", field=f"records[{i}].id", metadata={"id": record_id})
                seen.add(record_id)
        finite = np.isfinite(matrix).all(axis=1)
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            raise InvalidArgument(f"vector of record {records[i].id!r} has NaN or infinite values",
                                  reason="INVALID_VECTOR", field=f"records[{i}].vector", metadata={"id": records[i].id})
        if self.metric == COSINE:
            zero = ~matrix.any(axis=1)
            if zero.any():
                i = int(np.flatnonzero(zero)[0])
                raise InvalidArgument(f"vector of record {records[i].id!r} is all zeros, which has no cosine "
                                      f"similarity", reason="INVALID_VECTOR", field=f"records[{i}].vector",
                                      metadata={"id": records[i].id})
        return matrix, ids

    def _apply_write(self, entry: shard_pb2.WriteRequest) -> tuple[int, int]:
        """Stores the entry's records, replacing existing ids (idempotent). Records without
        times take the entry's `write_time` (older entries carry them on every record)."""
        records = entry.records
        matrix = np.frombuffer(entry.vectors, dtype=np.float32).reshape(len(records), self.dim)
        write_ns = entry.write_time.ToNanoseconds()
        stored, id_of_row, meta = self._records, self._id_of_row, self._meta
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
                row = self._next_row
                self._next_row += 1
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
        self._order.add_many(added)
        inserted, updated = len(added), len(placed) - len(added)
        rows = np.asarray(placed, dtype=np.int64)
        self._vectors.add(rows, matrix)
        if self._journal is not None:
            self._journal.append((rows, matrix))
        return inserted, updated

    def _apply_delete(self, entry: shard_pb2.DeleteRequest) -> int:
        """Removes the entry's ids that exist (idempotent)."""
        rows = []
        for record_id in entry.ids:
            old = self._records.pop(record_id, None)
            if old is None:
                continue
            del self._id_of_row[old.row]
            self._meta.remove(old.row)
            self._order.remove(record_id)
            rows.append(old.row)
        if rows:
            array = np.asarray(rows, dtype=np.int64)
            self._vectors.remove(array)
            if self._journal is not None:
                self._journal.append((array, None))
        return len(rows)

    # --------------------------------------------------------------------------------- reads

    def get(self, ids: Sequence[str], include_vectors: bool = False) -> GetResult:
        """The records of `ids` that exist, in request order, and the ids that do not."""
        with self._rw.read():
            found = [self._records[i] for i in ids if i in self._records]
            missing = [i for i in ids if i not in self._records]
            return GetResult(found, missing, self._vectors_of(found) if include_vectors else None)

    def list(self, after_id: str = "", limit: int = 100, filter: FilterSpec = None,
             include_vectors: bool = False) -> tuple[list[StoredRecord], np.ndarray | None]:
        """Up to `limit` records with ids above `after_id`, in id order, matching the filter."""
        if limit <= 0:
            raise InvalidArgument(f"limit must be positive, got {limit}", reason="INVALID_LIMIT", field="limit")
        compiled = _compile(filter)
        with self._rw.read():
            ordered = self._order.ids()
            out: list[StoredRecord] = []
            for at in range(bisect.bisect_right(ordered, after_id), len(ordered)):
                record = self._records.get(ordered[at])
                if record is None or (compiled is not None and not compiled.matches(record.doc)):
                    continue
                out.append(record)
                if len(out) == limit:
                    break
            return out, self._vectors_of(out) if include_vectors else None

    def sample(self, count: int, filter: FilterSpec = None, seed: int = 0,
               include_vectors: bool = False) -> SampleResult:
        """A uniform sample of up to `count` matching records, in id order; the same `seed`
        gives the same sample while the shard is unchanged (0: a random one)."""
        if count < 0:
            raise InvalidArgument(f"count must not be negative, got {count}", reason="INVALID_COUNT", field="count")
        compiled = _compile(filter)
        with self._rw.read():
            if compiled is None:
                pool = self._order.ids()
            else:
                pool = sorted(self._id_of_row[row] for row in self._matching_rows(compiled))
            rng = np.random.default_rng(seed or None)
            picks = np.sort(rng.choice(len(pool), size=min(count, len(pool)), replace=False))
            records = [self._records[pool[i]] for i in picks.tolist()]
            return SampleResult(records, self._vectors_of(records) if include_vectors else None, len(pool))

    def sample_vectors(self, count: int, seed: int = 0) -> tuple[np.ndarray, int]:
        """Up to `count` stored vectors drawn uniformly (for training), and how many there are."""
        with self._rw.read():
            store = self._vectors.store
            rng = np.random.default_rng(seed or None)
            picks = np.sort(rng.choice(store.count, size=min(max(count, 0), store.count), replace=False))
            return store.vectors[picks], store.count

    def search(self, queries: np.ndarray | bytes, k: int, *, filter: FilterSpec = None, nprobe: int = 0,
               ef_search: int = 0, exclude: Sequence[Sequence[str]] | None = None,
               include_vectors: bool = False, coarse: Coarse | None = None,
               include_records: bool = True) -> SearchResult:
        """The k best records per query that match the filter. `exclude[q]` lists ids left out
        of query q's hits. Filtered results always match and number k whenever k records
        match (within the approximate index's reach, else found by exact search). `coarse`:
        the queries' IVF lists, assigned by the router (see `VectorIndex.search`). Without
        `include_records` (nor `include_vectors`), `records` is left empty."""
        compiled = _compile(filter)
        matrix = self._check_queries(queries)
        if k <= 0:
            raise InvalidArgument(f"k must be positive, got {k}", reason="INVALID_K", field="k")
        if exclude is not None and len(exclude) not in (0, len(matrix)):
            raise InvalidArgument(f"{len(exclude)} exclusion lists for {len(matrix)} queries",
                                  reason="EXCLUDE_COUNT_MISMATCH", field="exclude")
        with self._rw.read():
            excluded = [self._rows_of(ids) for ids in exclude] if exclude else None
            if compiled is None:
                scores, rows = self._vectors.search(matrix, k, nprobe=nprobe, ef_search=ef_search, exclude=excluded,
                                                    coarse=coarse)
            else:
                scores, rows = self._filtered_search(matrix, k, compiled, nprobe, ef_search, excluded, coarse)
            id_of = self._id_of_row
            flat = [id_of.get(r, "") for r in rows.ravel().tolist()]
            width = rows.shape[1]
            ids = [flat[at:at + width] for at in range(0, len(flat), width)]
            if not (include_records or include_vectors):
                return SearchResult(ids, scores, [], None)
            unique = list(dict.fromkeys(r for r in rows.ravel().tolist() if r >= 0))
            records = [self._records[id_of[r]] for r in unique]
            return SearchResult(ids, scores, records, self._vectors_of(records) if include_vectors else None)

    def _filtered_search(self, queries: np.ndarray, k: int, compiled: Filter, nprobe: int, ef_search: int,
                         excluded: list[np.ndarray] | None, coarse: Coarse | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        vectors, total = self._vectors, self._vectors.count
        with self._meta_lock:
            estimate = compiled.selectivity(self._meta)
        if estimate is not None and estimate <= max(CANDIDATE_SEARCH_MIN, 4 * math.isqrt(len(queries) * k * total)):
            allowed = self._matching_rows(compiled)
            return vectors.search(queries, k, nprobe=nprobe, ef_search=ef_search, candidate_ids=allowed,
                                  exclude=excluded, coarse=coarse)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        records, id_of, matches = self._records, self._id_of_row, compiled.matches
        pending, unreached = list(range(len(queries))), []
        fetch = min(total, max(4 * k, 32))
        while pending and fetch:
            found_scores, found_rows = vectors.search(
                queries[pending], fetch, nprobe=nprobe, ef_search=ef_search,
                exclude=[excluded[q] for q in pending] if excluded else None, coarse=_subset(coarse, pending))
            still = []
            for j, q in enumerate(pending):
                hits = found_rows[j]
                returned = int((hits >= 0).sum())
                keep = [i for i in range(returned) if matches(records[id_of[int(hits[i])]].doc)][:k]
                rows[q, :len(keep)], scores[q, :len(keep)] = hits[keep], found_scores[j][keep]
                if len(keep) == k:
                    continue
                if returned < fetch or fetch >= total:
                    skipped = len(excluded[q]) if excluded else 0
                    if vectors.kind != EXACT and returned + skipped < total:
                        unreached.append(q)
                else:
                    still.append(q)
            pending, fetch = still, min(total, fetch * 4)
        if unreached:
            allowed = self._matching_rows(compiled)
            found_scores, found_rows = vectors.search(
                queries[unreached], k, nprobe=nprobe, ef_search=ef_search, candidate_ids=allowed,
                exclude=[excluded[q] for q in unreached] if excluded else None, coarse=_subset(coarse, unreached))
            scores[unreached], rows[unreached] = found_scores, found_rows
        return scores, rows

    def _matching_rows(self, compiled: Filter) -> np.ndarray:
        """The rows of the records that match (from the metadata index's candidates when it
        narrows the filter, else by checking every record)."""
        with self._meta_lock:
            candidates = compiled.candidates(self._meta)
        id_of, records, matches = self._id_of_row, self._records, compiled.matches
        if candidates is None:
            found = [r.row for r in records.values() if matches(r.doc)]
        else:
            found = [row for row in candidates if row in id_of and matches(records[id_of[row]].doc)]
        return np.asarray(sorted(found), dtype=np.int64)

    def _rows_of(self, ids: Sequence[str]) -> np.ndarray:
        return np.asarray([self._records[i].row for i in ids if i in self._records], dtype=np.int64)

    def _vectors_of(self, records: Sequence[StoredRecord]) -> np.ndarray:
        rows = np.asarray([r.row for r in records], dtype=np.int64)
        return self._vectors.store.get(rows) if len(rows) else np.empty((0, self.dim), dtype=np.float32)

    def _check_queries(self, queries: np.ndarray | bytes) -> np.ndarray:
        if isinstance(queries, (bytes, bytearray, memoryview)):
            if len(queries) % (4 * self.dim):
                raise InvalidArgument(f"queries hold {len(queries)} bytes, not a whole number of {self.dim}-float "
                                      f"vectors", reason="DIMENSION_MISMATCH", field="queries")
            matrix = np.frombuffer(queries, dtype=np.float32).reshape(-1, self.dim)
        else:
            matrix = np.ascontiguousarray(queries, dtype=np.float32)
            if matrix.ndim == 1:
                matrix = matrix.reshape(1, -1)
            if matrix.ndim != 2 or matrix.shape[1] != self.dim:
                raise InvalidArgument(f"queries must have dimension {self.dim}, got shape {matrix.shape}",
                                      reason="DIMENSION_MISMATCH", field="queries")
        if not np.isfinite(matrix).all():
            raise InvalidArgument("queries have NaN or infinite values", reason="INVALID_VECTOR", field="queries")
        return matrix

    def trained_index(self) -> tuple[bytes, int, str]:
        """The shared trained empty index, the lists probed by default and the quantiser's
        digest; empty for exact and HNSW indexes."""
        with self._rw.read():
            vectors = self._vectors
            if vectors.kind not in IVF_KINDS:
                return b"", 0, ""
            return vectors.trained_bytes, vectors.settings.nprobe, vectors.coarse_digest

    # ------------------------------------------------------------------------------ training

    def train(self, spec: indexer_pb2.IndexSpec, vectors: np.ndarray | None = None, trained: bytes = b"") -> int:
        """Builds the index `spec` asks for, trained on `vectors` (default: this shard's own)
        or from `trained` (a trained empty index shared by the router), and swaps it in; then
        snapshots. Searches and writes go on meanwhile. Returns the vectors indexed."""
        if spec.kind == indexer_pb2.INDEX_KIND_UNSPECIFIED:
            raise InvalidArgument("index kind is required", reason="INVALID_INDEX_KIND", field="index.kind")
        if spec.kind in IVF_KINDS and not trained:
            have = len(vectors) if vectors is not None else self._vectors.count
            need = spec.min_train_vectors or DEFAULT_MIN_TRAIN_VECTORS
            if have < need:
                raise FailedPrecondition(f"need at least {need} vectors to train, have {have}",
                                         reason="NEED_MORE_SAMPLES", metadata={"need": need, "have": have})
        self._swap_in(lambda rows, matrix: VectorIndex.build(self.dim, self.metric, spec, rows, matrix,
                                                              training_vectors=vectors, trained=trained))
        self.snapshot()
        return self._vectors.count

    def _swap_in(self, build) -> None:
        with self._writer:
            self._check_open()
            if self._journal is not None:
                raise FailedPrecondition("the shard's index is already being built", reason="TRAINING_IN_PROGRESS")
            rows, matrix = self._vectors.export()
            self._journal = []
        try:
            fresh = build(rows, matrix)
            with self._writer:
                for journal_rows, journal_vectors in self._journal:
                    if journal_vectors is None:
                        fresh.remove(journal_rows)
                    else:
                        fresh.add(journal_rows, journal_vectors)
                with self._rw.write():
                    self._vectors = fresh
                    self._journal = None
        except BaseException:
            with self._writer:
                self._journal = None
            raise

    def _maybe_rebuild(self) -> None:
        """Rebuilds an HNSW index in the background once its tombstones pile up."""
        if not self._vectors.wants_rebuild or self._journal is not None:
            return

        spec, trained = self._vectors.settings.to_spec(), self._vectors.trained_bytes

        def rebuild() -> None:
            try:
                self._swap_in(lambda rows, matrix: VectorIndex.build(self.dim, self.metric, spec, rows, matrix,
                                                                      trained=trained))
            except FailedPrecondition:
                pass  # another build is already running
            except Exception:
                log.exception("rebuilding the shard's index failed", extra={"collection": self.collection_id,
                                                                             "shard": self.shard})

        threading.Thread(target=rebuild, name=f"rebuild-{self.collection_id}-{self.shard}", daemon=True).start()

    # ----------------------------------------------------------------------------- snapshots

    def snapshot(self) -> SnapshotInfo:
        """Writes the shard's state to the blob store and trims the log it makes redundant."""
        with self._snapshotting:
            tmp = self.data_dir / "tmp"
            tmp.mkdir(exist_ok=True)
            index_path, records_path = tmp / INDEX_FILE, tmp / RECORDS_FILE
            with self._writer:
                self._check_open()
                seq = self._wal.last_seq
                with open(index_path, "wb") as out:
                    self._vectors.dump(out)
                records = list(self._records.values())
                next_row, kind, state = self._next_row, self._vectors.kind, self.index_state
            with open(records_path, "w", encoding="utf-8") as out:
                for record in records:
                    out.write(json.dumps([record.row, record.create_ns, record.update_ns, record.doc],
                                         separators=(",", ":")))
                    out.write("\n")
            base = f"{self.snapshot_root}/{seq:020d}"
            self.blobstore.put_file(f"{base}/{INDEX_FILE}", index_path)
            self.blobstore.put_file(f"{base}/{RECORDS_FILE}", records_path)
            manifest = {"format": 1, "collection": self.collection_id, "shard": self.shard, "seq": seq,
                        "record_count": len(records), "next_row": next_row, "index_kind": kind,
                        "index_state": state, "time": time.time(),
                        "files": {INDEX_FILE: index_path.stat().st_size, RECORDS_FILE: records_path.stat().st_size}}
            self.blobstore.put_bytes(f"{base}/{MANIFEST}", json.dumps(manifest).encode(), "application/json")
            shutil.rmtree(tmp, ignore_errors=True)
            self._snapshot_seq, self._snapshot_time = seq, manifest["time"]
            self._prune_snapshots()
            return SnapshotInfo(self.blobstore.uri(f"{base}/{MANIFEST}"), seq, len(records))

    def _snapshot_seqs(self) -> tuple[list[int], list[int]]:
        """Sequence numbers of complete snapshots and of every snapshot folder, newest first."""
        complete, every = set(), set()
        for info in self.blobstore.list(f"{self.snapshot_root}/"):
            parts = info.key[len(self.snapshot_root) + 1:].split("/")
            if len(parts) == 2 and parts[0].isdigit():
                every.add(int(parts[0]))
                if parts[1] == MANIFEST:
                    complete.add(int(parts[0]))
        return sorted(complete, reverse=True), sorted(every, reverse=True)

    def _prune_snapshots(self) -> None:
        complete, every = self._snapshot_seqs()
        kept = complete[:SNAPSHOTS_KEPT]
        for seq in every:
            if seq not in kept and (not kept or seq < kept[0]):
                self.blobstore.delete_prefix(f"{self.snapshot_root}/{seq:020d}/")
        if kept:
            self._wal.truncate_before(kept[-1])

    def _restore(self) -> None:
        complete, _ = self._snapshot_seqs()
        for seq in complete:
            try:
                self._load_snapshot(seq)
                break
            except Exception as error:  # an unreadable snapshot: fall back to the one before
                log.warning("skipping an unreadable snapshot", extra={
                    "collection": self.collection_id, "shard": self.shard, "seq": seq, "error": repr(error)})
                self._reset()
        if self._wal.last_seq > self._snapshot_seq and self._wal.first_seq > self._snapshot_seq + 1:
            raise Internal(f"the write-ahead log starts at entry {self._wal.first_seq} but the snapshot ends at "
                           f"{self._snapshot_seq}: entries are missing", reason="WAL_GAP")
        self._wal.start_after(self._snapshot_seq)
        replayed = 0
        for entry in self._wal.replay(self._snapshot_seq):
            if entry.op == Op.WRITE:
                self._apply_write(entry.message)
            else:
                self._apply_delete(entry.message)
            replayed += 1
        log.info("shard restored", extra={"collection": self.collection_id, "shard": self.shard,
                                          "snapshot_seq": self._snapshot_seq, "replayed": replayed,
                                          "records": len(self._records)})

    def _load_snapshot(self, seq: int) -> None:
        base = f"{self.snapshot_root}/{seq:020d}"
        manifest = json.loads(self.blobstore.get_bytes(f"{base}/{MANIFEST}"))
        tmp = self.data_dir / "tmp"
        tmp.mkdir(exist_ok=True)
        try:
            for name, size in manifest["files"].items():
                self.blobstore.get_to_file(f"{base}/{name}", tmp / name)
                if (tmp / name).stat().st_size != size:
                    raise Internal(f"snapshot file {name} has the wrong size", reason="SNAPSHOT_CORRUPT")
            with open(tmp / INDEX_FILE, "rb") as source:
                vectors = VectorIndex.load(source)
            with open(tmp / RECORDS_FILE, encoding="utf-8") as source:
                for line in source:
                    row, create_ns, update_ns, doc = json.loads(line)
                    record = StoredRecord(doc["_id"], row, doc.get("_url", ""), doc, create_ns, update_ns)
                    self._records[record.id] = record
                    self._id_of_row[row] = record.id
                    self._order.add(record.id)
                    self._meta.add(row, doc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if vectors.count != len(self._records):
            raise Internal(f"snapshot holds {vectors.count} vectors for {len(self._records)} records",
                           reason="SNAPSHOT_CORRUPT")
        self._vectors = vectors
        self._next_row = manifest["next_row"]
        self._snapshot_seq, self._snapshot_time = seq, manifest["time"]

    def _reset(self) -> None:
        self._records.clear()
        self._id_of_row.clear()
        self._order = _IdOrder()
        self._next_row = 0
        self._vectors = VectorIndex(self.dim, self.metric)
        self._meta = MetadataIndex(list(self.collection.indexed_fields))
        self._snapshot_seq, self._snapshot_time = 0, None

    # ---------------------------------------------------------------------------------- admin

    def stats(self) -> ShardStats:
        with self._rw.read():
            return ShardStats(
                record_count=len(self._records),
                index_kind=self._vectors.kind,
                index_state=self.index_state,
                memory_bytes=self._vectors.memory_bytes() + len(self._records) * 400,
                wal_entries=self._wal.last_seq - self._snapshot_seq,
                last_snapshot_time=self._snapshot_time,
                tombstones=self._vectors.tombstones,
            )

    def drop(self) -> None:
        """Deletes the shard's data: its log, its snapshots and its in-memory state."""
        with self._writer:
            if self._dropped:
                return
            self._dropped = True
            with self._rw.write():
                self._wal.delete()
                self.blobstore.delete_prefix(f"{self.snapshot_root}/")
                self._reset()
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _check_open(self) -> None:
        if self._dropped:
            raise NotFound(f"shard {self.shard} of collection {self.collection_id!r} was dropped",
                           reason="SHARD_DROPPED")


def _compile(spec: FilterSpec) -> Filter | None:
    if spec is None:
        return None
    compiled = spec if isinstance(spec, Filter) else compile_filter(spec)
    return None if compiled.matches_all else compiled


def _subset(coarse: Coarse | None, queries: list[int]) -> Coarse | None:
    """The coarse assignment of some of the queries."""
    if coarse is None:
        return None
    return Coarse(coarse.lists[queries], coarse.distances[queries], coarse.digest)


class _IdOrder:
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


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer holds off new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
