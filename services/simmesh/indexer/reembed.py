"""Re-embedding a collection with another model version, while searches and writes go on.

The job adds a second storage (`next_storage`, defined by `next`: the collection with the new
model and dimension) that the shard nodes open, re-embeds every record from its kept image (else
its `_url`) into it page by page, then swaps storages in one etcd transaction and the old storage
is dropped. Searches use the old vectors until the swap.

Writes and deletes go on meanwhile, to the current storage only; none is lost or comes back at
the swap, because the router notes every id they name (`WriteFence.touched`, noted once the shard
calls ended, so after the record landed) from before the first page is read until the swap:
- catch-up rounds re-do the noted ids (re-embedded from the current storage's record where it has
  one with an image, deleted from the next storage otherwise), until at most FENCED_IDS are left;
- then the fence closes: new writes of the collection wait, those in flight end (or, after
  FENCE_DRAIN_S, the fence opens for another round), the last noted ids are re-done, and the swap
  is written; the writes held back then go to the new storage. The fence holds for the last
  round and one etcd write (tens of milliseconds; logged).
An id is re-done after every write that named it, and the last write before the swap is followed
by a re-do under the fence, so the next storage holds exactly what the current one does. This
holds for the writes through the router running the job (a mesh runs one router).

A record with neither a kept image nor a URL that can be fetched and decoded fails the job before
the swap (UNRECOVERABLE_RECORDS, the collection as it was), unless the request allows dropping:
then such records are left out, counted and listed. The collection's definition changes by
compare-and-swap (`config_writes`), so a concurrent update is neither lost nor undoes the swap.
"""

from __future__ import annotations

import asyncio
import logging
import time

from simmesh.indexer.collection_types import type_for_model
from simmesh.indexer.layout import placement
from simmesh.indexer.router import Router
from simmesh.indexer.router.config_writes import Change
from simmesh.indexer.router.fanout import collection_id_in
from simmesh.indexer.router.plans import RecordQuery
from simmesh.kit import reasons
from simmesh.kit.errors import Aborted, FailedPrecondition, InvalidArgument, Unavailable
from simmesh.kit.operations import JobContext
from simmesh.kit.wire import now
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import common_pb2, indexer_pb2

log = logging.getLogger("simmesh.indexer.reembed")

PAGE = 256
# Images sent to the embedder in one call (kept images travel as bytes).
EMBED_CHUNK = 32
MAX_REPORTED_IDS = 1000
# Ids named in an UNRECOVERABLE_RECORDS error's message (all of them, up to MAX_REPORTED_IDS, in
# its metadata).
NAMED_IN_MESSAGE = 10
# Catch-up rounds over the ids written meanwhile, until no more than FENCED_IDS are left for the fence.
CATCH_UP_ROUNDS = 20
FENCED_IDS = 64
# How long the writes in flight may take to end once the fence is closed, before it opens again
# for another round (the last attempt waits for them however long they take).
FENCE_DRAIN_S = 0.5
FENCE_ATTEMPTS = 5


class Reembedder:
    def __init__(self, router: Router) -> None:
        self.router = router

    async def start(self, collection_id: str, model: str, allow_drop: bool = False):
        router = self.router
        config = router.shards.config(collection_id)
        if not model.startswith("models/"):
            raise InvalidArgument(
                f"model must be `models/{{m}}[/versions/{{v}}]`, got {model!r}",
                reason=reasons.INVALID_MODEL_NAME,
                field="model",
            )
        if config.next_storage or collection_id in router.collections.training:
            raise FailedPrecondition(
                f"collection `collections/{collection_id}` is busy (re-embedding or training)",
                reason=reasons.COLLECTION_BUSY,
            )
        dimension = await router.embedder.model_dimension(model, "model")
        metadata = indexer_pb2.ReembedMetadata(collection=config.collection.name, model=model, stage="preparing")

        async def job(ctx: JobContext) -> indexer_pb2.ReembedResponse:
            return await self._run(ctx, collection_id, model, dimension, metadata, allow_drop)

        return router.operations.start("reembed_collection", metadata, job)

    async def _run(
        self,
        ctx: JobContext,
        collection_id: str,
        model: str,
        dimension: int,
        metadata: indexer_pb2.ReembedMetadata,
        allow_drop: bool,
    ) -> indexer_pb2.ReembedResponse:
        router, fence = self.router, self.router.writes.fence
        next_storage = ""

        def begin(config: shard_pb2.CollectionConfig) -> None:
            nonlocal next_storage
            if config.next_storage:
                raise FailedPrecondition(
                    f"collection `collections/{collection_id}` is busy (re-embedding)", reason=reasons.COLLECTION_BUSY
                )
            next_storage = f"{collection_id}.g{config.generation + 1}"
            config.next.CopyFrom(config.collection)
            config.next.model, config.next.dimension = model, dimension
            config.next.type = type_for_model(config.next.type, model)
            config.next.index_state = indexer_pb2.INDEX_STATE_EXACT
            config.next_storage = next_storage

        fence.track(collection_id)  # before anything is copied: every write from now on is noted
        try:
            config = await router.collections.change(collection_id, begin)
            response = indexer_pb2.ReembedResponse(collection=config.collection.name, model=model)
            try:
                await self._reembed(ctx, config, next_storage, model, metadata, allow_drop, response)
            except BaseException:
                await router.collections.change(collection_id, _abandoning(next_storage))
                raise
        finally:
            fence.untrack(collection_id)
        metadata.stage, metadata.progress = "done", 1.0
        ctx.report(metadata)
        return response

    async def _reembed(
        self,
        ctx: JobContext,
        config: shard_pb2.CollectionConfig,
        next_storage: str,
        model: str,
        metadata: indexer_pb2.ReembedMetadata,
        allow_drop: bool,
        response: indexer_pb2.ReembedResponse,
    ) -> None:
        """Fills the next storage, catches up with the ids written meanwhile, then swaps under the fence."""
        router, fence = self.router, self.router.writes.fence
        collection_id = collection_id_in(config)
        if not await router.shards.wait_shards(next_storage, config.collection.shard_count, 30.0):
            raise Unavailable(
                f"the shards of the new storage {next_storage} did not come up", reason=reasons.SHARDS_NOT_READY
            )
        stats = await router.collections.stats(collection_id, None)
        metadata.total_count, metadata.stage = stats.record_count, "re-embedding"
        ctx.report(metadata)
        missing: set[str] = set()
        response.reembedded_count = await self._copy(ctx, config, next_storage, model, missing, metadata)
        metadata.stage = "catching up"
        ctx.report(metadata)
        for _ in range(CATCH_UP_ROUNDS):
            if fence.pending(collection_id) <= FENCED_IDS:
                break
            await self._redo(config, next_storage, model, missing, fence.take(collection_id))
        metadata.stage = "swapping"
        ctx.report(metadata)
        for attempt in range(FENCE_ATTEMPTS):
            ctx.check_cancelled()
            last = attempt == FENCE_ATTEMPTS - 1
            if await fence.close(collection_id, None if last else FENCE_DRAIN_S):
                break
            await self._redo(config, next_storage, model, missing, fence.take(collection_id))
        try:
            fenced_at, fenced = time.monotonic(), fence.take(collection_id)
            await self._redo(config, next_storage, model, missing, fenced)
            if missing and not allow_drop:
                raise unrecoverable(config.collection.name, sorted(missing))
            await router.collections.change(collection_id, _swapping(next_storage))
        finally:
            fence.open(collection_id)
        log.info(
            "re-embedded %s into %s: writes held for %.0f ms to catch up with %d ids and swap",
            config.collection.name,
            next_storage,
            (time.monotonic() - fenced_at) * 1000,
            len(fenced),
        )
        response.missing_image_count = len(missing)
        response.missing_image_ids.extend(sorted(missing)[:MAX_REPORTED_IDS])

    async def _copy(self, ctx, config, next_storage, model, missing: set[str], metadata) -> int:
        """Re-embeds into the next storage every record of the current one, page by page in id
        order; returns how many it wrote. Records whose image cannot be had go into `missing`."""
        router = self.router
        collection_id = collection_id_in(config)
        after, written = "", 0
        while True:
            ctx.check_cancelled()
            page, more = await router.reads.page(RecordQuery(collection_id), after, PAGE, None)
            if not page:
                return written
            after = page[-1].id
            count, failed_ids = await self._reembed_records(config, next_storage, model, page, missing)
            written += count
            missing |= failed_ids
            metadata.done_count += len(page)
            metadata.failed_count = len(missing)
            metadata.progress = min(0.99, metadata.done_count / max(metadata.total_count, 1))
            ctx.report(metadata)
            if not more:
                return written

    async def _redo(self, config, next_storage: str, model: str, missing: set[str], ids: list[str]) -> None:
        """Makes the next storage hold what the current one holds for `ids`: re-embedded where the
        record is there with an image to be had, absent otherwise."""
        collection_id = collection_id_in(config)
        for start in range(0, len(ids), PAGE):
            found, gone = await self.router.reads.get(collection_id, ids[start : start + PAGE], False, None)
            _, failed_ids = await self._reembed_records(config, next_storage, model, found, missing)
            missing.difference_update(gone)
            missing |= failed_ids
            await self._delete(config, next_storage, set(gone) | failed_ids)

    async def _reembed_records(
        self, config, next_storage: str, model: str, records: list[indexer_pb2.Record], missing: set[str]
    ) -> tuple[int, set[str]]:
        """Re-embeds `records` from their images into the next storage; how many it wrote, and the
        ids of those whose image could not be had."""
        collection_id = collection_id_in(config)
        written, failed_ids = 0, set()
        for start in range(0, len(records), EMBED_CHUNK):
            chunk = records[start : start + EMBED_CHUNK]
            sources = await asyncio.gather(*(self._source(collection_id, r) for r in chunk))
            failed_ids |= {r.id for r, image in zip(chunk, sources) if image is None}
            found = [(r, image) for r, image in zip(chunk, sources) if image is not None]
            if found:
                written += await self._embed_into(config, next_storage, model, found, missing, failed_ids)
        return written, failed_ids

    async def _source(self, collection_id: str, record: indexer_pb2.Record) -> common_pb2.Image | None:
        """What to embed the record from: its kept image, else its URL; None with neither."""
        kept = await self.router.kept.load(collection_id, record.id)
        if kept is not None:
            return common_pb2.Image(content=kept)
        return common_pb2.Image(url=record.url) if record.url else None

    async def _embed_into(
        self,
        config: shard_pb2.CollectionConfig,
        next_storage: str,
        model: str,
        found: list[tuple[indexer_pb2.Record, common_pb2.Image]],
        missing: set[str],
        failed_ids: set[str],
    ) -> int:
        """Embeds the records from their images and writes them to the next storage; returns how
        many it wrote, adding those whose image failed to `failed_ids`."""
        reply = await self.router.embedder.embed(model, [image for _, image in found], None)
        failed = {e.index for e in reply.errors}
        failed_ids |= {found[j][0].id for j in failed}
        keep = [found[j][0] for j in range(len(found)) if j not in failed]
        if not keep:
            return 0
        row = reply.vectors.dimension * 4
        vectors = b"".join(reply.vectors.data[j * row : (j + 1) * row] for j in range(len(found)) if j not in failed)
        records = [
            shard_pb2.ShardRecord(id=r.id, url=r.url, metadata=r.metadata, create_time=r.create_time) for r in keep
        ]
        await self._write(config, next_storage, records, vectors, reply.vectors.dimension)
        missing.difference_update(r.id for r in records)
        return len(records)

    async def _write(self, config, next_storage: str, records, vectors: bytes, dimension: int) -> None:
        by_shard: dict[int, list[int]] = {}
        for i, record in enumerate(records):
            by_shard.setdefault(placement(record.id, config.collection.shard_count), []).append(i)
        row = dimension * 4
        for shard, items in by_shard.items():
            request = shard_pb2.WriteRequest(
                records=[records[i] for i in items],
                dimension=dimension,
                upsert=True,
                vectors=b"".join(vectors[i * row : (i + 1) * row] for i in items),
            )
            await self.router.fanout.call(config, shard, "Write", request, None, storage=next_storage)

    async def _delete(self, config, next_storage: str, ids: set[str]) -> None:
        by_shard: dict[int, list[str]] = {}
        for record_id in sorted(ids):
            by_shard.setdefault(placement(record_id, config.collection.shard_count), []).append(record_id)
        for shard, wanted in by_shard.items():
            request = shard_pb2.DeleteRequest(ids=wanted)
            await self.router.fanout.call(config, shard, "Delete", request, None, storage=next_storage)


def _abandoning(next_storage: str) -> Change:
    """The change that forgets a failed re-embed's next storage."""

    def change(config: shard_pb2.CollectionConfig) -> None:
        if config.next_storage == next_storage:
            config.ClearField("next")
            config.next_storage = ""

    return change


def _swapping(next_storage: str) -> Change:
    """The change that makes the re-embed's next storage the collection's."""

    def change(config: shard_pb2.CollectionConfig) -> None:
        if config.next_storage != next_storage:
            raise Aborted(
                f"`{config.collection.name}` no longer re-embeds into {next_storage}", reason=reasons.CONCURRENT_CHANGE
            )
        config.collection.CopyFrom(config.next)
        config.collection.update_time.CopyFrom(now())
        config.storage = next_storage
        config.ClearField("next")
        config.next_storage = ""

    return change


def unrecoverable(collection: str, ids: list[str]) -> FailedPrecondition:
    """The error of a re-embedding that would lose the records `ids` (sorted)."""
    named = ", ".join(ids[:NAMED_IN_MESSAGE]) + (", …" if len(ids) > NAMED_IN_MESSAGE else "")
    return FailedPrecondition(
        f"{len(ids)} records of `{collection}` have neither a kept image nor a reachable URL ({named}); "
        "nothing was changed: set allow_drop to re-embed without them",
        reason=reasons.UNRECOVERABLE_RECORDS,
        field="allow_drop",
        metadata={"count": len(ids), "record_ids": ",".join(ids[:MAX_REPORTED_IDS])},
    )
