"""Opening a shard: its collection checked, its newest snapshot restored and its write-ahead log replayed."""

from __future__ import annotations

import logging
from collections.abc import Callable

from simmesh.indexer.shard_records import RecordTable
from simmesh.indexer.snapshots import SnapshotStore
from simmesh.indexer.vectors import VectorIndex
from simmesh.indexer.wal import Op, WriteAheadLog
from simmesh.kit import reasons
from simmesh.kit.errors import Internal, InvalidArgument
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

log = logging.getLogger("simmesh.indexer.store")


def collection_id_of(collection: indexer_pb2.Collection) -> str:
    """The collection's id (the last part of its name), once its name and dimension are checked."""
    name = collection.name.rsplit("/", 1)[-1]
    if not name:
        raise InvalidArgument("collection has no name", reason=reasons.INVALID_COLLECTION, field="collection.name")
    if collection.dimension <= 0:
        raise InvalidArgument(
            f"collection dimension must be positive, got {collection.dimension}",
            reason=reasons.INVALID_DIMENSION,
            field="collection.dimension",
        )
    return name


def restore_shard(
    snapshots: SnapshotStore,
    wal: WriteAheadLog,
    table: RecordTable,
    install: Callable[[VectorIndex], None],
    apply_write: Callable[[shard_pb2.WriteRequest], object],
    apply_delete: Callable[[shard_pb2.DeleteRequest], object],
    where: tuple[str, int],
) -> tuple[int, float | None]:
    """Loads the newest readable snapshot into `table` (its index through `install`), then
    replays the log after it; returns the snapshot's log position and time (0, None: none).
    `where`: the collection id and shard number, for the log."""
    seq, when = 0, None
    loaded = snapshots.load_newest(table)
    if loaded is not None:
        install(loaded.vectors)
        seq, when = loaded.seq, loaded.time
    if wal.last_seq > seq and wal.first_seq > seq + 1:
        raise Internal(
            f"the write-ahead log starts at entry {wal.first_seq} but the snapshot ends at {seq}: entries are missing",
            reason=reasons.WAL_GAP,
        )
    wal.start_after(seq)
    replayed = 0
    for entry in wal.replay(seq):
        if entry.op == Op.WRITE:
            apply_write(entry.message)
        else:
            apply_delete(entry.message)
        replayed += 1
    collection_id, shard = where
    log.info(
        "shard restored",
        extra={
            "collection": collection_id,
            "shard": shard,
            "snapshot_seq": seq,
            "replayed": replayed,
            "records": len(table),
        },
    )
    return seq, when
