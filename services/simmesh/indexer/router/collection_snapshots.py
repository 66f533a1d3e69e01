"""Collection snapshots on demand, kept in the object store past the collection, and restored into new collections.

A snapshot lives under `backups/snapshots/{snapshot}/`: each shard's newest shard snapshot copied to
`shards/{n}/`, then `manifest.json` (the Snapshot and the collection's definition) written last,
so a folder without a manifest is an unfinished snapshot. Restoring copies each shard's part into
the new collection's shard snapshot folder before the collection is defined in etcd, so every shard
opens it from there as after a restart. The router reaches the same object store as the shards
(SIMMESH_BLOB_URL); where it does not, snapshots fail with FAILED_PRECONDITION.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from simmesh.indexer.layout import decode_collection, encode, storage_of
from simmesh.indexer.router.collections import Collections
from simmesh.indexer.router.fanout import Fanout
from simmesh.indexer.snapshots import MANIFEST, SnapshotStore, copy_snapshot, snapshot_root, storage_root
from simmesh.kit import reasons, wire
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from simmesh.kit.operations import JobContext, OperationManager
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

BACKUPS = "backups/snapshots"
SNAPSHOT_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def snapshot_id_of(name: str, field: str = "snapshot") -> str:
    """`snapshots/{snapshot}` -> its id."""
    prefix, _, snapshot_id = name.partition("/")
    if prefix != "snapshots" or not SNAPSHOT_ID_RE.match(snapshot_id):
        raise InvalidArgument(
            f"{field} must be `snapshots/{{snapshot}}`, got {name!r}", reason=reasons.INVALID_SNAPSHOT, field=field
        )
    return snapshot_id


def check_snapshot_id(snapshot_id: str) -> str:
    """`snapshot_id` when it may name a new snapshot (a public id: the edge checks it; the router
    takes internal ones, `acme.{id}`)."""
    if not SNAPSHOT_ID_RE.match(snapshot_id):
        raise InvalidArgument(
            f"snapshot_id must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter; "
            f"got {snapshot_id!r}",
            reason=reasons.INVALID_SNAPSHOT,
            field="snapshot_id",
        )
    return snapshot_id


class CollectionSnapshots:
    """SnapshotCollection, RestoreCollection and ListSnapshots over `blobstore` (None: not configured)."""

    def __init__(
        self, collections: Collections, fanout: Fanout, operations: OperationManager, blobstore: BlobStore | None
    ) -> None:
        self.collections = collections
        self.shards = collections.shards
        self.fanout = fanout
        self.operations = operations
        self.blobstore = blobstore

    async def start_snapshot(self, collection_id: str, snapshot_id: str) -> Any:
        config = self.shards.config(collection_id)
        store = self._store()
        snapshot_id = snapshot_id or f"{collection_id}-{time.strftime('%Y%m%dt%H%M%Sz', time.gmtime())}"
        if await asyncio.to_thread(self._exists, snapshot_id):
            raise AlreadyExists(
                f"snapshot `snapshots/{snapshot_id}` already exists",
                reason=reasons.SNAPSHOT_EXISTS,
                field="snapshot_id",
            )
        metadata = indexer_pb2.SnapshotOperationMetadata(
            collection=config.collection.name, snapshot=f"snapshots/{snapshot_id}", stage="snapshotting"
        )

        async def job(ctx: JobContext) -> indexer_pb2.Snapshot:
            return await self._snapshot(ctx, store, collection_id, snapshot_id, metadata)

        return self.operations.start("snapshot_collection", metadata, job)

    async def _snapshot(
        self,
        ctx: JobContext,
        store: BlobStore,
        collection_id: str,
        snapshot_id: str,
        metadata: indexer_pb2.SnapshotOperationMetadata,
    ) -> indexer_pb2.Snapshot:
        config = self.shards.config(collection_id)
        storage, count = storage_of(collection_id, config), config.collection.shard_count
        replies, _ = await self.fanout.each_shard(
            config, lambda shard: self.fanout.call(config, shard, "Snapshot", shard_pb2.SnapshotRequest(), None)
        )
        metadata.stage, metadata.progress = "copying", 0.3
        ctx.report(metadata)
        base = f"{BACKUPS}/{snapshot_id}"
        for shard in range(count):
            source = SnapshotStore(store, snapshot_root(storage, shard), Path(tempfile.gettempdir()), storage, shard)
            folder = await asyncio.to_thread(source.newest_folder)
            if folder is None:
                raise FailedPrecondition(
                    f"shard {shard} of `collections/{collection_id}` wrote its snapshot where this router cannot "
                    "read it: the router and the shards need the same object store (SIMMESH_BLOB_URL)",
                    reason=reasons.SNAPSHOT_STORE_NOT_SHARED,
                )
            await asyncio.to_thread(copy_snapshot, store, folder, f"{base}/shards/{shard}")
            metadata.progress = 0.3 + 0.6 * (shard + 1) / count
            ctx.report(metadata)
        snapshot = indexer_pb2.Snapshot(
            name=f"snapshots/{snapshot_id}",
            collection=config.collection.name,
            create_time=wire.now(),
            record_count=sum(reply.record_count for reply in replies.values()),
            uri=store.uri(f"{base}/{MANIFEST}"),
            shard_count=count,
        )
        manifest = {"format": 1, "snapshot": json_format.MessageToDict(snapshot), "config": encode(config).decode()}
        await asyncio.to_thread(
            store.put_bytes, f"{base}/{MANIFEST}", json.dumps(manifest).encode(), "application/json"
        )
        metadata.stage, metadata.progress = "done", 1.0
        ctx.report(metadata)
        return snapshot

    async def start_restore(self, snapshot_id: str, collection_id: str) -> Any:
        store = self._store()
        self._check_absent(collection_id)
        snapshot, config = await asyncio.to_thread(self._read, snapshot_id)
        metadata = indexer_pb2.SnapshotOperationMetadata(
            collection=f"collections/{collection_id}", snapshot=snapshot.name, stage="copying"
        )

        async def job(ctx: JobContext) -> indexer_pb2.Collection:
            return await self._restore(ctx, store, snapshot_id, config, collection_id, metadata)

        return self.operations.start("restore_collection", metadata, job)

    async def _restore(
        self,
        ctx: JobContext,
        store: BlobStore,
        snapshot_id: str,
        config: shard_pb2.CollectionConfig,
        collection_id: str,
        metadata: indexer_pb2.SnapshotOperationMetadata,
    ) -> indexer_pb2.Collection:
        self._check_absent(collection_id)
        count = config.collection.shard_count
        await asyncio.to_thread(store.delete_prefix, f"{storage_root(collection_id)}/")
        for shard in range(count):
            source = f"{BACKUPS}/{snapshot_id}/shards/{shard}"
            seq = json.loads(await asyncio.to_thread(store.get_bytes, f"{source}/{MANIFEST}"))["seq"]
            await asyncio.to_thread(copy_snapshot, store, source, f"{snapshot_root(collection_id, shard)}/{seq:020d}")
            metadata.progress = 0.8 * (shard + 1) / count
            ctx.report(metadata)
        metadata.stage = "registering"
        ctx.report(metadata)
        spec = indexer_pb2.Collection()
        spec.CopyFrom(config.collection)
        spec.name = f"collections/{collection_id}"
        spec.record_count = 0
        spec.create_time.CopyFrom(wire.now())
        spec.update_time.CopyFrom(spec.create_time)
        await self.collections.register(collection_id, spec)
        metadata.stage, metadata.progress = "done", 1.0
        ctx.report(metadata)
        return await self.collections.get(collection_id)

    async def newest_first(self, collection: str) -> list[indexer_pb2.Snapshot]:
        """Every complete snapshot (of `collection` only, when given), newest first."""
        found = await asyncio.to_thread(self._list_all)
        kept = [s for s in found if not collection or s.collection == collection]
        return sorted(kept, key=lambda s: (s.create_time.seconds, s.create_time.nanos, s.name), reverse=True)

    def _list_all(self) -> list[indexer_pb2.Snapshot]:
        store = self._store()
        out = []
        for info in store.list(f"{BACKUPS}/"):
            parts = info.key[len(BACKUPS) + 1 :].split("/")
            if len(parts) == 2 and parts[1] == MANIFEST:
                out.append(self._read(parts[0])[0])
        return out

    def _store(self) -> BlobStore:
        if self.blobstore is None:
            raise FailedPrecondition(
                "this router has no object store for snapshots", reason=reasons.SNAPSHOT_STORE_NOT_SHARED
            )
        return self.blobstore

    def _exists(self, snapshot_id: str) -> bool:
        return self._store().exists(f"{BACKUPS}/{snapshot_id}/{MANIFEST}")

    def _read(self, snapshot_id: str) -> tuple[indexer_pb2.Snapshot, shard_pb2.CollectionConfig]:
        if not self._exists(snapshot_id):
            raise NotFound(
                f"snapshot `snapshots/{snapshot_id}` does not exist",
                reason=reasons.SNAPSHOT_NOT_FOUND,
                metadata={"snapshot": f"snapshots/{snapshot_id}"},
            )
        manifest = json.loads(self._store().get_bytes(f"{BACKUPS}/{snapshot_id}/{MANIFEST}"))
        snapshot = json_format.ParseDict(manifest["snapshot"], indexer_pb2.Snapshot(), ignore_unknown_fields=True)
        return snapshot, decode_collection(manifest["config"].encode())

    def _check_absent(self, collection_id: str) -> None:
        if self.shards.find(collection_id) is not None:
            raise AlreadyExists(
                f"collection `collections/{collection_id}` already exists",
                reason=reasons.COLLECTION_EXISTS,
                field="collection_id",
            )
