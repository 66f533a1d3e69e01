"""A shard node: serves slice `ordinal` of every collection defined in etcd.

The node watches `{prefix}/collections/`. Each collection's records live in a storage (its
`storage`, and while re-embedding also its `next_storage`); for each storage with more than
`ordinal` shards the node opens (restores) its `ShardStore` and registers
`{prefix}/shards/{storage}/{ordinal}` under its lease. A storage no collection refers to any more
is dropped, data and all. Every
`snapshot_interval` seconds, slices with log entries since their last snapshot are snapshotted.

Neither etcd nor the object store has to answer for the node to start or keep going: the
registration is written (and after a lost lease, written again) in the background; the
collections view keeps its last state while etcd is away; slices whose data cannot be opened yet
(the object store is down) are tried again with backoff. `on_serving(False)` until the
collections have been listed and every slice opened once, `on_serving(True)` from then on.
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
from simmesh.indexer.shard_upkeep import ShardUpkeep
from simmesh.indexer.store import ShardStore
from simmesh.kit import reasons
from simmesh.kit.backoff import Backoff
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.discovery import EtcdClient, PrefixWatcher
from simmesh.kit.errors import NotFound, Unavailable
from simmesh.kit.metrics import Metrics
from simmesh.kit.registration import Registration
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

log = logging.getLogger("simmesh.indexer.shard")


class ShardNode:
    def __init__(
        self,
        ordinal: int,
        address: str,
        data_dir: Path,
        blobstore: BlobStore | Callable[[], BlobStore],
        etcd: EtcdClient,
        layout: Layout,
        *,
        lease_ttl: int = 5,
        snapshot_interval: float = 60.0,
        on_serving: Callable[[bool], None] | None = None,
        metrics: Metrics | None = None,
        wal_warn_bytes: int = 0,
        open_backoff: Backoff | None = None,
    ) -> None:
        self.ordinal = ordinal
        self.address = address
        self.data_dir = Path(data_dir)
        # A callable opens the blob store on first need, again after each failure (the object store may be down).
        self._blobstore = blobstore
        self.etcd = etcd
        self.layout = layout
        self.lease_ttl = lease_ttl
        self.snapshot_interval = snapshot_interval
        self._on_serving = on_serving
        self._open_backoff = open_backoff or Backoff(0.2, 3.0)
        self._stores: dict[str, ShardStore] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._changed = threading.Event()  # the collections changed, or the node is closing
        self._registration = Registration(etcd, lease_ttl)
        self._watcher: PrefixWatcher | None = None
        self._upkeep = ShardUpkeep(
            self.stores, ordinal, interval=snapshot_interval, metrics=metrics, wal_warn_bytes=wal_warn_bytes
        )
        self._reconciler = threading.Thread(target=self._reconcile_loop, name="shard-slices", daemon=True)
        self._serving: bool | None = None
        self._unopened: frozenset[str] = frozenset()  # storages wanted here that could not be opened yet
        self._started = timestamp_pb2.Timestamp()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Starts registering, following the collections and opening slices, all in the background."""
        self._started.GetCurrentTime()
        self._registration.put(
            self.layout.node_key(self.ordinal), encode(self._info("", shard_pb2.ShardInfo.STATE_SERVING))
        )
        self._registration.start()
        self._watcher = PrefixWatcher(
            self.etcd, self.layout.collections, on_change=self._collections_changed, wait_for_etcd=True
        )
        self._reconciler.start()
        self._upkeep.start()

    @property
    def registered(self) -> bool:
        """True while a live etcd lease holds this node's registrations."""
        return self._registration.registered

    def mark_stopping(self) -> None:
        """Drain: tell routers this node is going away (they stop sending it work)."""
        with self._lock:
            for collection_id in self._stores:
                self._register(collection_id, shard_pb2.ShardInfo.STATE_STOPPING)

    def close(self) -> None:
        self._stop.set()
        self._changed.set()
        if self._watcher is not None:
            self._watcher.close()
        if self._reconciler.is_alive():
            self._reconciler.join(timeout=30)
        self._upkeep.close()
        self._registration.close(revoke=True)
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()

    @property
    def blobstore(self) -> BlobStore:
        """The blob store, opened now if it was given as a callable that has not succeeded yet."""
        if callable(self._blobstore):
            self._blobstore = self._blobstore()
        return self._blobstore

    # -- slices -----------------------------------------------------------------------------

    def store(self, collection_id: str, shard: int) -> ShardStore:
        if shard != self.ordinal:
            raise NotFound(f"this node serves shard {self.ordinal}, not {shard}", reason=reasons.SHARD_NOT_HERE)
        with self._lock:
            store = self._stores.get(collection_id)
        if store is None and (not self._serving or collection_id in self._unopened):
            # Restarting, or its data not readable yet (S3 away): a retry will find it open.
            raise Unavailable(
                f"shard {shard} of collection {collection_id!r} is not open on this node yet",
                reason=reasons.SHARD_UNAVAILABLE,
                metadata={"collection": collection_id, "shard": shard},
            )
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
        self._changed.set()

    def _reconcile_loop(self) -> None:
        """Reconciles after each change of the collections, and again with backoff while some
        slice could not be opened or the collections have not been listed yet."""
        while not self._stop.is_set():
            self._changed.clear()
            done = self._reconcile()
            if done and not self._serving:
                log.info("shard node %d serving %d collection slices", self.ordinal, len(self._stores))
            if done or not self._serving:
                self._set_serving(done)
            if done:
                self._open_backoff.reset()
                self._changed.wait()
            else:
                self._changed.wait(self._open_backoff.next())

    def _set_serving(self, serving: bool) -> None:
        if serving != self._serving:
            self._serving = serving
            if self._on_serving is not None:
                self._on_serving(serving)

    def _reconcile(self) -> bool:
        """Brings the open stores in line with the storages the collections refer to; False while
        the collections are not listed yet or a slice could not be opened."""
        if self._watcher is None or not self._watcher.listed:
            return False
        wanted = storages(self.layout, self._watcher.snapshot())
        unopened: set[str] = set()
        for storage, collection in wanted.items():
            if collection.shard_count > self.ordinal and not self._stop.is_set():
                try:
                    self._open(storage, collection)
                except Exception as error:  # one storage must not stop the others; tried again
                    unopened.add(storage)
                    log.warning("could not open storage %s shard %d (trying again): %r", storage, self.ordinal, error)
        self._unopened = frozenset(unopened)
        for storage in set(self.stores()) - set(wanted):
            try:
                self._drop(storage)
            except Exception:
                log.exception("could not drop storage %s shard %d", storage, self.ordinal)
        return not unopened

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
            self._registration.delete(self.layout.shard_key(collection_id, self.ordinal))
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
        store = self._stores[collection_id]
        self._registration.put(
            self.layout.shard_key(collection_id, self.ordinal),
            encode(self._info(collection_id, state, store.record_count)),
        )
