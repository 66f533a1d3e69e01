"""A shard node: serves slice `ordinal` of every collection defined in etcd.

The node watches `{prefix}/collections/`. Each collection's records live in a storage (its
`storage`, and while re-embedding also its `next_storage`); for each storage with more than
`ordinal` shards the node opens (restores) its `ShardStore` and registers
`{prefix}/shards/{storage}/{ordinal}` under its lease. A storage no collection refers to any more
is dropped, data and all. Every
`snapshot_interval` seconds, slices with log entries since their last snapshot are snapshotted.
If the lease is lost the node stops serving (its owner exits; a supervisor restarts it).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from google.protobuf import timestamp_pb2

from simmesh.indexer.layout import Layout, encode, storages
from simmesh.indexer.store import ShardStore
from simmesh.kit import reasons
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.discovery import EtcdClient, PrefixWatcher, Session
from simmesh.kit.errors import NotFound, Unavailable
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

log = logging.getLogger("simmesh.indexer.shard")


class ShardNode:
    def __init__(
        self,
        ordinal: int,
        address: str,
        data_dir: Path,
        blobstore: BlobStore,
        etcd: EtcdClient,
        layout: Layout,
        *,
        lease_ttl: int = 5,
        snapshot_interval: float = 60.0,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.ordinal = ordinal
        self.address = address
        self.data_dir = Path(data_dir)
        self.blobstore = blobstore
        self.etcd = etcd
        self.layout = layout
        self.lease_ttl = lease_ttl
        self.snapshot_interval = snapshot_interval
        self._on_lost = on_lost
        self._stores: dict[str, ShardStore] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._session: Session | None = None
        self._watcher: PrefixWatcher | None = None
        self._snapshotter: threading.Thread | None = None
        self._started = timestamp_pb2.Timestamp()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._started.GetCurrentTime()
        self._session = Session(self.etcd, self.lease_ttl, on_lost=self._lost)
        self._session.put(self.layout.node_key(self.ordinal), encode(self._info("", shard_pb2.ShardInfo.STATE_SERVING)))
        self._watcher = PrefixWatcher(self.etcd, self.layout.collections, on_change=self._collections_changed)
        self._collections_changed({})
        self._snapshotter = threading.Thread(target=self._snapshot_loop, name="snapshots", daemon=True)
        self._snapshotter.start()
        log.info("shard node %d serving %d collection slices", self.ordinal, len(self._stores))

    def mark_stopping(self) -> None:
        """Drain: tell routers this node is going away (they stop sending it work)."""
        if self._session is None or self._session.lost:
            return
        with self._lock:
            for collection_id in self._stores:
                self._register(collection_id, shard_pb2.ShardInfo.STATE_STOPPING)

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.close()
        if self._snapshotter is not None:
            self._snapshotter.join(timeout=30)
        if self._session is not None and not self._session.lost:
            self._session.close(revoke=True)
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()

    def _lost(self) -> None:
        log.error("shard node %d lost its etcd lease; it stops serving", self.ordinal)
        if self._on_lost is not None:
            self._on_lost()

    # -- slices -----------------------------------------------------------------------------

    def store(self, collection_id: str, shard: int) -> ShardStore:
        if shard != self.ordinal:
            raise NotFound(f"this node serves shard {self.ordinal}, not {shard}", reason=reasons.SHARD_NOT_HERE)
        with self._lock:
            store = self._stores.get(collection_id)
        if store is None:
            raise NotFound(
                f"collection {collection_id!r} has no shard {shard} on this node",
                reason=reasons.SHARD_NOT_HERE,
                metadata={"collection": collection_id, "shard": shard},
            )
        return store

    def stores(self) -> dict[str, ShardStore]:
        with self._lock:
            return dict(self._stores)

    def _collections_changed(self, _changes: Mapping[str, bytes | None]) -> None:
        """Brings the open stores in line with the storages the collections refer to."""
        if self._watcher is None:
            return
        wanted = storages(self.layout, self._watcher.snapshot())
        for storage, collection in wanted.items():
            if collection.shard_count > self.ordinal:
                try:
                    self._open(storage, collection)
                except Exception:  # one bad storage must not stop the others
                    log.exception("could not open storage %s shard %d", storage, self.ordinal)
        for storage in set(self.stores()) - set(wanted):
            try:
                self._drop(storage)
            except Exception:
                log.exception("could not drop storage %s shard %d", storage, self.ordinal)

    def _open(self, storage: str, collection: indexer_pb2.Collection) -> None:
        with self._lock:
            if storage in self._stores:
                return
            started = time.monotonic()
            store = ShardStore.open(
                collection, self.ordinal, self.data_dir / storage / str(self.ordinal), self.blobstore
            )
            self._stores[storage] = store
            self._register(storage, shard_pb2.ShardInfo.STATE_SERVING)
        log.info(
            "serving %s shard %d (%d records, restored in %.2fs)",
            storage,
            self.ordinal,
            store.record_count,
            time.monotonic() - started,
        )

    def _drop(self, collection_id: str) -> None:
        with self._lock:
            store = self._stores.pop(collection_id, None)
            if store is None:
                return
            if self._session is not None and not self._session.lost:
                self._session.delete(self.layout.shard_key(collection_id, self.ordinal))
        store.drop()
        log.info("dropped %s shard %d", collection_id, self.ordinal)

    def _info(self, collection_id: str, state: shard_pb2.ShardInfo.State, records: int = 0) -> shard_pb2.ShardInfo:
        return shard_pb2.ShardInfo(
            collection=collection_id,
            shard=self.ordinal,
            address=self.address,
            state=state,
            record_count=records,
            start_time=self._started,
            pid=os.getpid(),
        )

    def _register(self, collection_id: str, state: shard_pb2.ShardInfo.State) -> None:
        if self._session is None:
            raise Unavailable("the node has no etcd session", reason=reasons.SHARD_NOT_REGISTERED)
        store = self._stores[collection_id]
        self._session.put(
            self.layout.shard_key(collection_id, self.ordinal),
            encode(self._info(collection_id, state, store.record_count)),
        )

    def _snapshot_loop(self) -> None:
        while not self._stop.wait(self.snapshot_interval):
            for collection_id, store in self.stores().items():
                if self._stop.is_set():
                    return
                try:
                    if store.stats().wal_entries > 0:
                        info = store.snapshot()
                        log.info(
                            "snapshot of %s shard %d: %d records at %s",
                            collection_id,
                            self.ordinal,
                            info.record_count,
                            info.uri,
                        )
                except Exception:  # retried at the next interval
                    log.exception("snapshot of %s shard %d failed", collection_id, self.ordinal)
