"""The storage engine of one indexer shard: one slice of one collection.

`ShardStore` keeps the slice's records (id, row, url, metadata, times) in memory as columns, their vectors
in a `VectorIndex`, an index of the collection's indexed metadata fields, and a write-ahead log
under `data_dir/wal`. Its methods mirror `simmesh.internal.v1.ShardService`.

Durability: a write or delete is validated, appended to the log and fsynced, then applied, and
only then acknowledged. Log entries carry the resolved outcome (the records to store, the ids
to delete) and are applied with upsert semantics, so replaying an entry twice leaves the same
single record. `snapshot` writes the index, the records and the log position to the blob store
(see `snapshots`) and trims the log to what the older kept snapshot still needs. Opening
restores the newest readable snapshot and replays the log after it.

Concurrency: every method is synchronous and thread-safe; the gRPC servicer calls them through
`asyncio.to_thread`. Reads (search, get, list, sample, stats) share a read lock and run in
parallel (FAISS releases the GIL). Mutations are serialised by a writer mutex and take the
exclusive lock only while applying in memory, so the fsync and snapshot uploads do not stall
searches. Training builds the new index off-lock while writes go on; they are journalled and
re-applied to the new index before it is swapped in under a short exclusive lock.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from simmesh.indexer.index_builds import IndexBuilds, check_trainable
from simmesh.indexer.memory_usage import records_bytes, resident_bytes, usage
from simmesh.indexer.rwlock import ReadWriteLock
from simmesh.indexer.shard_reads import FilterSpec, ShardReads, compile_spec
from simmesh.indexer.shard_records import RecordTable, StoredRecord, check_batch, write_entry
from simmesh.indexer.shard_recovery import collection_id_of, restore_shard
from simmesh.indexer.shard_replays import RecentWrites
from simmesh.indexer.shard_search import check_queries, hit_ids, search_rows
from simmesh.indexer.snapshots import SnapshotInfo, SnapshotStore, snapshot_root
from simmesh.indexer.vectors import COSINE, IVF_KINDS, Coarse, VectorIndex
from simmesh.indexer.wal import Op, WriteAheadLog
from simmesh.kit import reasons
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import InvalidArgument, NotFound
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2


class WriteResult(NamedTuple):
    inserted: int
    updated: int
    existing_ids: list[str]


class SearchResult(NamedTuple):
    """`ids[q][i]` / `scores[q, i]`: hit i of query q, best first; "" / -inf where missing.
    `records`: the hits' records, each once; `vectors` their vectors when asked for."""

    ids: list[list[str]]
    scores: np.ndarray
    records: list[StoredRecord]
    vectors: np.ndarray | None
    # The ids joined as packed answers send them (`packed_ids`); None where they cannot be.
    packed_ids: str | None = None


@dataclasses.dataclass(frozen=True)
class ShardStats:
    record_count: int
    index_kind: indexer_pb2.IndexKind
    index_state: indexer_pb2.IndexState
    memory_bytes: int
    wal_entries: int
    last_snapshot_time: float | None
    tombstones: int
    wal_bytes: int = 0  # the log's size on disk: it grows while snapshots cannot be written
    memory: indexer_pb2.MemoryUsage | None = None  # memory_bytes by part


class ShardStore(ShardReads):
    """One shard's records, vectors, metadata index and log; see the module docstring.

    Constructing a store restores it from `data_dir` and the blob store (`open` is the same).
    """

    def __init__(
        self,
        collection: indexer_pb2.Collection,
        shard: int,
        data_dir: Path,
        blobstore: BlobStore,
        *,
        snapshot_prefix: str = "snapshots",
        wal_segment_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        name = collection_id_of(collection)
        self.collection = collection
        self.collection_id = name
        self.shard = shard
        self.dim = collection.dimension
        self.metric = collection.metric or COSINE
        self.data_dir = Path(data_dir)
        self.blobstore = blobstore
        self.snapshot_root = snapshot_root(name, shard, snapshot_prefix)
        self._rw = ReadWriteLock()
        self._writer = threading.RLock()
        self._snapshotting = threading.Lock()
        self._table = RecordTable(collection.indexed_fields)
        self._recent = RecentWrites()
        self._spill = self.data_dir / "vectors"
        self._vectors = VectorIndex(self.dim, self.metric, spill=self._spill)
        self._builds = IndexBuilds(
            self._writer, self._rw, lambda: self._vectors, self._install, self._check_open, name, shard
        )
        self._snapshots = SnapshotStore(
            blobstore, self.snapshot_root, self.data_dir / "tmp", name, shard, spill=self._spill
        )
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
    def open(
        cls, collection: indexer_pb2.Collection, shard: int, data_dir: Path, blobstore: BlobStore, **options: Any
    ) -> ShardStore:
        """The shard restored from its newest snapshot and its log."""
        return cls(collection, shard, data_dir, blobstore, **options)

    def close(self) -> None:
        with self._writer:
            self._wal.close()

    @property
    def record_count(self) -> int:
        return len(self._table)

    @property
    def index_state(self) -> indexer_pb2.IndexState:
        if self._builds.running:
            return indexer_pb2.INDEX_STATE_TRAINING
        return indexer_pb2.INDEX_STATE_TRAINED if self._vectors.is_trained else indexer_pb2.INDEX_STATE_EXACT

    @property
    def vector_index(self) -> VectorIndex:
        return self._vectors

    def write(
        self, records: Sequence[shard_pb2.ShardRecord], vectors: np.ndarray | bytes, upsert: bool = False
    ) -> WriteResult:
        """Stores records with their vectors (row i for record i). Without `upsert`, records
        whose id exists are left alone and reported in `existing_ids`. Durable on return."""
        return self._write(records, vectors, upsert, None)

    def write_request(self, request: shard_pb2.WriteRequest) -> WriteResult:
        """`write` of a Write call's batch. The request itself becomes the log entry when none
        of its records is refused, so the caller gives it up."""
        return self._write(request.records, request.vectors, request.upsert, request)

    def _write(
        self,
        records: Sequence[shard_pb2.ShardRecord],
        vectors: np.ndarray | bytes,
        upsert: bool,
        request: shard_pb2.WriteRequest | None,
    ) -> WriteResult:
        matrix, ids = check_batch(records, vectors, self.dim, self.metric)
        now = time.time_ns()
        request_id = request.request_id if request is not None else ""
        with self._writer:
            self._check_open()
            known = [] if upsert else (self._table.row_array(ids) >= 0).tolist()
            present = [record_id for record_id, found in zip(ids, known) if found]
            replayed = set(self._recent.stored_by(request_id, present))
            existing = [i for i in present if i not in replayed]
            if present and len(present) == len(ids):
                return WriteResult(len(replayed), 0, existing)
            entry = write_entry(records, vectors, matrix, [not found for found in known] if present else None, request)
            entry.collection, entry.shard, entry.dimension = self.collection_id, self.shard, self.dim
            entry.upsert = True
            entry.request_id = request_id
            entry.write_time.FromNanoseconds(now)
            self._wal.append(Op.WRITE, entry)
            with self._rw.write():
                inserted, updated = self._apply_write(entry)
        self._builds.rebuild_if_wanted()
        return WriteResult(inserted + len(replayed), updated, existing)

    def delete(self, ids: Sequence[str] = (), filter: FilterSpec = None) -> list[str]:
        """Deletes the given ids (those that exist) or, with a filter, every matching record
        (with both, the given ids that match). Returns the deleted ids. Durable on return."""
        compiled = compile_spec(filter)
        with self._writer:
            self._check_open()
            if ids:
                table = self._table
                targets = list(dict.fromkeys(i for i in ids if i in table))
                if compiled is not None:
                    targets = [i for i in targets if compiled.matches(table.doc_of(table.row_of(i)))]
            elif compiled is not None:
                with self._rw.read():
                    targets = self._table.ids_of(self._table.matching_rows(compiled).tolist())
            else:
                targets = []
            if not targets:
                return []
            entry = shard_pb2.DeleteRequest(collection=self.collection_id, shard=self.shard, ids=targets)
            self._wal.append(Op.DELETE, entry)
            with self._rw.write():
                self._apply_delete(entry)
        self._builds.rebuild_if_wanted()
        return targets

    def _apply_write(self, entry: shard_pb2.WriteRequest) -> tuple[int, int]:
        rows, matrix, inserted = self._table.apply_write(entry, self.dim)
        written_ns = entry.write_time.ToNanoseconds() or None
        self._recent.note(entry.request_id, (record.id for record in entry.records), written_ns)
        self._vectors.add(rows, matrix)
        self._builds.note(rows, matrix)
        return inserted, len(rows) - inserted

    def _apply_delete(self, entry: shard_pb2.DeleteRequest) -> int:
        rows = self._table.apply_delete(entry.ids)
        if rows:
            array = np.asarray(rows, dtype=np.int64)
            self._vectors.remove(array)
            self._builds.note(array, None)
        return len(rows)

    def search(
        self,
        queries: np.ndarray | bytes,
        k: int,
        *,
        filter: FilterSpec = None,
        nprobe: int = 0,
        ef_search: int = 0,
        exclude: Sequence[Sequence[str]] | None = None,
        include_vectors: bool = False,
        coarse: Coarse | None = None,
        include_records: bool = True,
    ) -> SearchResult:
        """The k best records per query that match the filter. `exclude[q]` lists ids left out
        of query q's hits. Filtered results always match and number k whenever k records
        match (within the approximate index's reach, else found by exact search). `coarse`:
        the queries' IVF lists, assigned by the router (see `VectorIndex.search`). Without
        `include_records` (nor `include_vectors`), `records` is left empty."""
        compiled = self._table.filters.compile(filter)
        matrix = check_queries(queries, self.dim)
        if k <= 0:
            raise InvalidArgument(f"k must be positive, got {k}", reason=reasons.INVALID_K, field="k")
        if exclude is not None and len(exclude) not in (0, len(matrix)):
            raise InvalidArgument(
                f"{len(exclude)} exclusion lists for {len(matrix)} queries",
                reason=reasons.EXCLUDE_COUNT_MISMATCH,
                field="exclude",
            )
        with self._rw.read():
            table = self._table
            excluded = [table.rows_of(ids) for ids in exclude] if exclude else None
            scores, rows = search_rows(
                self._vectors,
                table,
                matrix,
                k,
                compiled,
                nprobe=nprobe,
                ef_search=ef_search,
                excluded=excluded,
                coarse=coarse,
            )
            ids, joined = hit_ids(rows, table)
            if not (include_records or include_vectors):
                return SearchResult(ids, scores, [], None, joined)
            records = table.records_of(dict.fromkeys(r for r in rows.ravel().tolist() if r >= 0))
            return SearchResult(ids, scores, records, self._vectors_of(records) if include_vectors else None, joined)

    def trained_index(self) -> tuple[bytes, int, str]:
        """The shared trained empty index, the lists probed by default and the quantiser's
        digest; empty for exact and HNSW indexes."""
        with self._rw.read():
            vectors = self._vectors
            if vectors.kind not in IVF_KINDS:
                return b"", 0, ""
            return vectors.trained_bytes, vectors.settings.nprobe, vectors.coarse_digest

    def train(self, spec: indexer_pb2.IndexSpec, vectors: np.ndarray | None = None, trained: bytes = b"") -> int:
        """Builds the index `spec` asks for, trained on `vectors` (default: this shard's own)
        or from `trained` (a trained empty index shared by the router), and swaps it in; then
        snapshots. Searches and writes go on meanwhile. Returns the vectors indexed."""
        check_trainable(spec, len(vectors) if vectors is not None else self._vectors.count, bool(trained))
        self._builds.swap_in(
            lambda rows, matrix: VectorIndex.build(
                self.dim, self.metric, spec, rows, matrix, training_vectors=vectors, trained=trained, spill=self._spill
            )
        )
        self.snapshot()
        return self._vectors.count

    def _install(self, vectors: VectorIndex) -> None:
        self._vectors = vectors

    def snapshot(self) -> SnapshotInfo:
        """Writes the shard's state to the blob store and trims the log it makes redundant."""
        with self._snapshotting:
            with self._writer:
                self._check_open()
                staged = self._snapshots.stage(
                    self._wal.last_seq, self._vectors, self._table.freeze(), self._table.next_row, self.index_state
                )
            info = self._snapshots.publish(staged)
            self._snapshot_seq, self._snapshot_time = info.seq, info.time
            oldest_kept = self._snapshots.prune()
            if oldest_kept is not None:
                self._wal.truncate_before(oldest_kept)
            return info

    def _restore(self) -> None:
        self._snapshot_seq, self._snapshot_time = restore_shard(
            self._snapshots,
            self._wal,
            self._table,
            self._install,
            self._apply_write,
            self._apply_delete,
            (self.collection_id, self.shard),
        )

    def _reset(self) -> None:
        self._table.clear()
        self._vectors = VectorIndex(self.dim, self.metric, spill=self._spill)
        self._snapshot_seq, self._snapshot_time = 0, None

    def stats(self) -> ShardStats:
        with self._rw.read():
            memory = usage(self._vectors.memory_parts(), records_bytes(self._table), len(self._table))
            return ShardStats(
                record_count=len(self._table),
                index_kind=self._vectors.kind,
                index_state=self.index_state,
                memory_bytes=resident_bytes(memory),
                memory=memory,
                wal_entries=self._wal.last_seq - self._snapshot_seq,
                last_snapshot_time=self._snapshot_time,
                tombstones=self._vectors.tombstones,
                wal_bytes=self._wal.size_bytes(),
            )

    def drop(self) -> None:
        """Deletes the shard's data: its log, its snapshots and its in-memory state."""
        with self._writer:
            if self._dropped:
                return
            self._dropped = True
            with self._rw.write():
                self._wal.delete()
                self._snapshots.delete_all()
                self._reset()
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _check_open(self) -> None:
        if self._dropped:
            raise NotFound(
                f"shard {self.shard} of collection {self.collection_id!r} was dropped", reason=reasons.SHARD_DROPPED
            )
