"""Writing records: insert batches (one call, or a stream of them), updating one record and
deleting records, each batch split by shard. Each write holds its collection's gate in the
`WriteFence` from reading the definition to its answer, and notes the ids it named there (see
`reembed`)."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import numpy as np
from google.protobuf import struct_pb2

from simmesh.indexer.layout import placement
from simmesh.indexer.router.embedder import Embedder
from simmesh.indexer.router.fanout import Fanout, collection_id_in
from simmesh.indexer.router.kept_images import KeptImages
from simmesh.indexer.router.plans import InsertBatch
from simmesh.indexer.router.prepare import YIELD_EVERY, PreparedWrites, prepare
from simmesh.indexer.router.reads import Reads, by_shard
from simmesh.indexer.router.replays import Replays
from simmesh.indexer.router.write_fence import WriteFence
from simmesh.indexer.router.write_streams import WriteStreams
from simmesh.indexer.shard_map import ShardMap
from simmesh.kit import errors, reasons, wire
from simmesh.kit.errors import AlreadyExists, InvalidArgument, NotFound, SimmeshError
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import common_pb2, indexer_pb2

# A batch's requests by shard, each with the positions in the batch of the records it holds.
ShardWrites = dict[int, tuple[list[int], shard_pb2.WriteRequest]]
Send = Callable[[int, shard_pb2.WriteRequest], Awaitable[shard_pb2.WriteResponse]]


class Writes:
    def __init__(self, shards: ShardMap, fanout: Fanout, embedder: Embedder, reads: Reads, kept: KeptImages) -> None:
        self.shards = shards
        self.fanout = fanout
        self.embedder = embedder
        self.reads = reads
        self.kept = kept
        self.replays = Replays()
        self.fence = WriteFence()

    async def insert(self, batch: InsertBatch, timeout: float | None) -> indexer_pb2.InsertRecordsResponse:
        async with self.fence.writing(batch.collection_id):
            config = self.shards.config(batch.collection_id)
            return await self._write(config, await self._prepare(config, batch, timeout), batch.upsert, timeout)

    async def _prepare(
        self, config: shard_pb2.CollectionConfig, batch: InsertBatch, timeout: float | None
    ) -> PreparedWrites:
        """`prepare` of the batch, with what its earlier attempts under its request id came to:
        the first reply where the batch landed whole before (nothing is written again), else,
        without upsert, the items that landed or may have."""
        attempts = self.replays.get(batch.collection_id, batch.request_id)
        if attempts is not None and attempts.reply is not None and attempts.same_batch([r.id for r in batch.records]):
            return PreparedWrites(batch.records, [], np.zeros((0, 0), np.float32), {}, reply=attempts.reply)
        prepared = await prepare(config, batch.records, self.embedder, timeout, batch.refused)
        if batch.request_id:
            prepared.request_key = (batch.collection_id, batch.request_id)
        if attempts is not None and not batch.upsert:
            prepared.landed = {i for i, record_id in enumerate(prepared.ids) if record_id in attempts.landed}
            prepared.unsure = {i for i, record_id in enumerate(prepared.ids) if record_id in attempts.unsure}
        return prepared

    async def insert_stream(
        self, batches: AsyncIterator[InsertBatch], timeout: Callable[[], float | None]
    ) -> AsyncIterator[indexer_pb2.InsertRecordsResponse]:
        """`insert` of each batch in turn, replies in batch order. A batch is validated, embedded,
        split by shard and sent to the shards (see `write_streams`) while the batch before it is
        being written, so that each shard has its next batch at hand; a shard writes its batches
        in order, so the later of two upserts of an id wins. A batch that fails as a whole ends
        the stream after the replies of the batches before it, and is not sent. `timeout()`: the
        time left."""
        streams = WriteStreams(self.shards, self._unary_write, timeout)

        async def prepared(batch: InsertBatch) -> tuple[shard_pb2.CollectionConfig, PreparedWrites, bool, ShardWrites]:
            await self.fence.enter(batch.collection_id)  # left when its write ends
            try:
                config = self.shards.config(batch.collection_id)
                ready = await self._prepare(config, batch, timeout())
                return config, ready, batch.upsert, await self._shard_writes(config, ready, batch.upsert)
            except BaseException:
                self.fence.leave(batch.collection_id)
                raise

        def write(
            config: shard_pb2.CollectionConfig, ready: PreparedWrites, upsert: bool, writes: ShardWrites
        ) -> asyncio.Future:
            def send(shard: int, request: shard_pb2.WriteRequest) -> Awaitable[shard_pb2.WriteResponse]:
                return streams.write(config, shard, request, timeout())

            written = asyncio.ensure_future(self._write(config, ready, upsert, timeout(), writes, send))
            written.add_done_callback(lambda _: self.fence.leave(collection_id_in(config)))
            return written

        preparing: asyncio.Future | None = None
        writing: collections.deque[asyncio.Future] = collections.deque()  # sent, oldest first
        finished = False
        try:
            async for batch in batches:
                preparing = asyncio.ensure_future(prepared(batch))
                try:
                    ready = await preparing
                except Exception:
                    while writing:
                        yield await writing.popleft()
                    raise
                preparing = None
                writing.append(write(*ready))
                if len(writing) > 1:
                    yield await writing.popleft()
            while writing:
                yield await writing.popleft()
            finished = True
        finally:
            await streams.close(cleanly=finished)
            for task in (preparing, *writing):
                if task is None:
                    continue
                if not task.done():
                    task.cancel()
                elif not task.cancelled():
                    task.exception()  # retrieved, so that asyncio does not report it as never retrieved

    async def _shard_writes(
        self, config: shard_pb2.CollectionConfig, prepared: PreparedWrites, upsert: bool
    ) -> ShardWrites:
        """The batch's good records by shard: their positions in the batch and the shard's Write."""
        count = config.collection.shard_count
        ids, inputs = prepared.ids, prepared.inputs
        positions: dict[int, list[int]] = {}
        for i, record_id in enumerate(ids):
            if record_id and i not in prepared.landed:
                positions.setdefault(placement(record_id, count), []).append(i)
        writes = {}
        for shard, items in positions.items():
            request = shard_pb2.WriteRequest(
                vectors=np.take(prepared.vectors, items, axis=0).tobytes(),
                dimension=config.collection.dimension,
                upsert=upsert,
                request_id=prepared.request_key[1] if prepared.request_key else "",
            )
            add = request.records.add
            for n, i in enumerate(items):
                if n and not n % YIELD_EVERY:
                    await asyncio.sleep(0)
                item = inputs[i]
                url = item.url or (item.image.url if item.HasField("image") else "")
                if item.HasField("metadata"):
                    add(id=ids[i], url=url, metadata=item.metadata)
                else:
                    add(id=ids[i], url=url)
            if prepared.create_time is not None:
                for record in request.records:
                    record.create_time.CopyFrom(prepared.create_time)
            self.fanout.address(config, shard, request)
            writes[shard] = items, request
        return writes

    def _unary_write(
        self, config: shard_pb2.CollectionConfig, shard: int, request: shard_pb2.WriteRequest, timeout: float | None
    ) -> Awaitable[shard_pb2.WriteResponse]:
        return self.fanout.call(config, shard, "Write", request, timeout)

    async def _write(
        self,
        config: shard_pb2.CollectionConfig,
        prepared: PreparedWrites,
        upsert: bool,
        timeout: float | None,
        writes: ShardWrites | None = None,
        send: Send | None = None,
    ) -> indexer_pb2.InsertRecordsResponse:
        """Sends the batch's records to their shards (`writes`: from `_shard_writes`, by default
        made here; `send(shard, request)`: by default a unary Write) and gathers the reply."""
        if prepared.reply is not None:
            return prepared.reply
        if writes is None:
            writes = await self._shard_writes(config, prepared, upsert)
        if send is None:

            def send(shard: int, request: shard_pb2.WriteRequest) -> Awaitable[shard_pb2.WriteResponse]:
                return self._unary_write(config, shard, request, timeout)

        try:
            outcomes = await asyncio.gather(
                *(send(shard, request) for shard, (_, request) in writes.items()), return_exceptions=True
            )
        finally:  # after the writes landed, or may have
            self.fence.touched(collection_id_in(config), prepared.ids)
        ids = prepared.ids
        stored = [""] * len(ids)
        response = indexer_pb2.InsertRecordsResponse()
        failures = dict(prepared.errors)
        unsure: list[str] = []  # ids that may have been written though not answered as stored
        for i in prepared.landed:  # in an earlier attempt of the batch
            stored[i] = ids[i]
            response.inserted_count += 1
        for (items, _), outcome in zip(writes.values(), outcomes):
            if isinstance(outcome, SimmeshError):  # the shard's part failed; the others stand
                for i in items:
                    failures[i] = outcome
                    unsure.append(ids[i])
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            existing = set(outcome.existing_ids)
            for i in items:
                record_id = ids[i]
                if record_id in existing and i in prepared.unsure:  # written by the attempt that failed
                    stored[i] = record_id
                    response.inserted_count += 1
                elif record_id in existing:
                    failures[i] = AlreadyExists(
                        f"record {record_id!r} already exists (set upsert to replace it)",
                        reason=reasons.RECORD_EXISTS,
                        field=f"records[{i}].id",
                    )
                else:
                    stored[i] = record_id
            response.inserted_count += outcome.inserted_count
            response.updated_count += outcome.updated_count
        written = [record_id for record_id in stored if record_id]
        await self._keep_images(config, prepared, stored, failures)
        response.ids.extend(stored)
        for i in sorted(failures):
            response.errors.append(common_pb2.ItemError(index=i, id=ids[i], status=failures[i].to_status()))
        if prepared.request_key is not None:
            unsure.extend(set(written).difference(stored))
            self.replays.record(*prepared.request_key, ids, response, unsure)
        return response

    async def _keep_images(
        self,
        config: shard_pb2.CollectionConfig,
        prepared: PreparedWrites,
        stored: list[str],
        failures: dict[int, SimmeshError],
    ) -> None:
        """Keeps the images of the stored records that came with one, before the batch is answered;
        a record whose image could not be kept is answered with that error (it is written: an
        upsert of it again keeps the image)."""
        inputs = prepared.inputs
        with_image = [
            (i, stored[i], inputs[i].image) for i in range(len(stored)) if stored[i] and inputs[i].HasField("image")
        ]
        for i, error in (await self.kept.keep(config.collection, with_image)).items():
            stored[i] = ""
            failures[i] = error

    async def update_record(
        self,
        collection_id: str,
        record_id: str,
        record: indexer_pb2.Record,
        paths: Sequence[str],
        image: common_pb2.Image | None,
        timeout: float | None,
    ) -> indexer_pb2.Record:
        """Sets the fields of record `record_id` that `paths` name, from `record` (and its vector
        from `image`, if given)."""
        if not paths and image is None:
            raise InvalidArgument("update_mask is empty", reason=reasons.INVALID_UPDATE_MASK, field="update_mask")
        async with self.fence.writing(collection_id):
            return await self._update(collection_id, record_id, record, paths, image, timeout)

    async def _update(
        self,
        collection_id: str,
        record_id: str,
        record: indexer_pb2.Record,
        paths: Sequence[str],
        image: common_pb2.Image | None,
        timeout: float | None,
    ) -> indexer_pb2.Record:
        found, _ = await self.reads.get(collection_id, [record_id], True, timeout)
        if not found:
            raise NotFound(
                f"record {record_id!r} does not exist in `collections/{collection_id}`",
                reason=reasons.RECORD_NOT_FOUND,
                field="record.name",
            )
        current = found[0]
        update = _updated(current, record, paths)
        if image is not None:
            update.ClearField("vector")
            update.image.CopyFrom(image)
        config = self.shards.config(collection_id)
        prepared = await prepare(config, [update], self.embedder, timeout)
        if prepared.errors:
            raise prepared.errors[0]
        prepared.create_time = current.create_time
        reply = await self._write(config, prepared, True, timeout)
        if reply.errors:
            raise errors.from_status(reply.errors[0].status)
        updated, _ = await self.reads.get(collection_id, [record_id], False, timeout)
        return updated[0]

    async def delete(
        self, collection_id: str, ids: Sequence[str], filter: struct_pb2.Struct | None, timeout: float | None
    ) -> tuple[int, list[str]]:
        """Deletes the records with `ids` (those matching `filter` too, where given), or all those
        matching `filter`; how many were deleted and the ids not found."""
        if not ids and filter is None:
            self.shards.config(collection_id)  # NOT_FOUND first
            raise InvalidArgument("give ids or a filter", reason=reasons.NOTHING_TO_DELETE, field="ids")
        async with self.fence.writing(collection_id):
            return await self._delete(collection_id, ids, filter, timeout)

    async def _delete(
        self, collection_id: str, ids: Sequence[str], filter: struct_pb2.Struct | None, timeout: float | None
    ) -> tuple[int, list[str]]:
        config = self.shards.config(collection_id)
        if ids:
            calls = {
                s: shard_pb2.DeleteRequest(ids=wanted, filter=filter)
                for s, wanted in by_shard(ids, config.collection.shard_count).items()
            }
        else:
            calls = {s: shard_pb2.DeleteRequest(filter=filter) for s in range(config.collection.shard_count)}
        try:
            replies = await asyncio.gather(
                *(self.fanout.call(config, s, "Delete", r, timeout) for s, r in calls.items())
            )
        finally:
            self.fence.touched(collection_id, ids)
        self.fence.touched(collection_id, (i for reply in replies for i in reply.deleted_ids))
        deleted = {i for reply in replies for i in reply.deleted_ids}
        await self.kept.forget(collection_id, sorted(deleted))
        return len(deleted), [i for i in dict.fromkeys(ids) if i not in deleted]


def _updated(current: indexer_pb2.Record, record: indexer_pb2.Record, paths: Sequence[str]) -> indexer_pb2.RecordInput:
    """The record as it is to be written: `current` with the fields of `record` that `paths` name."""
    metadata = wire.struct_to_dict(current.metadata)
    update = indexer_pb2.RecordInput(id=current.id, url=current.url, vector=current.vector)
    for path in paths:
        if path == "metadata":
            metadata = wire.struct_to_dict(record.metadata)
        elif path.startswith("metadata."):
            key = path[len("metadata.") :]
            if key in record.metadata.fields:
                metadata[key] = wire.struct_to_dict(record.metadata)[key]
            else:
                metadata.pop(key, None)
        elif path == "url":
            update.url = record.url
        elif path == "vector":
            update.vector.CopyFrom(record.vector)
        else:
            raise InvalidArgument(
                f"update_mask path {path!r} is not one of metadata, metadata.<field>, url, vector",
                reason=reasons.INVALID_UPDATE_MASK,
                field="update_mask",
            )
    update.metadata.CopyFrom(wire.dict_to_struct(metadata))
    return update
