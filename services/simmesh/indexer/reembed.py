"""Re-embedding a collection with another model version, while searches go on.

The job adds a second storage (`next_storage`, defined by `next`: the collection with the new
model and dimension) that the shard nodes open, re-embeds every record from its kept image (else
its `_url`) into it page by page, catches up with the records written meanwhile (re-embedding the
ones updated since the pass began, deleting the ones deleted), then swaps storages in one etcd
write and the old storage is dropped. A record with neither a kept image nor a URL that can be
fetched and decoded fails the job before the swap (UNRECOVERABLE_RECORDS, the collection as it
was), unless the request allows dropping: then such records are left out, counted and listed.
Searches use the old vectors until the swap.
"""

from __future__ import annotations

import asyncio
import logging
import time

from simmesh.indexer.collection_types import type_for_model
from simmesh.indexer.layout import placement
from simmesh.indexer.router import Router
from simmesh.indexer.router.plans import RecordQuery
from simmesh.kit import reasons
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, Unavailable
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
        router = self.router
        config = router.shards.config(collection_id)
        next_storage = f"{collection_id}.g{config.generation + 1}"
        config.next.CopyFrom(config.collection)
        config.next.model, config.next.dimension = model, dimension
        config.next.type = type_for_model(config.next.type, model)
        config.next.index_state = indexer_pb2.INDEX_STATE_EXACT
        config.next_storage = next_storage
        await router.collections.save(config)
        response = indexer_pb2.ReembedResponse(collection=config.collection.name, model=model)
        try:
            if not await router.shards.wait_shards(next_storage, config.collection.shard_count, 30.0):
                raise Unavailable(
                    f"the shards of the new storage {next_storage} did not come up", reason=reasons.SHARDS_NOT_READY
                )
            stats = await router.collections.stats(collection_id, None)
            metadata.total_count, metadata.stage = stats.record_count, "re-embedding"
            ctx.report(metadata)
            started_ns = time.time_ns()
            missing: set[str] = set()
            response.reembedded_count = await self._copy(ctx, config, next_storage, model, missing, metadata, 0)
            metadata.stage = "catching up"
            ctx.report(metadata)
            await self._copy(ctx, config, next_storage, model, missing, metadata, started_ns)
            await self._drop_deleted(config, next_storage, missing)
            if missing and not allow_drop:
                raise unrecoverable(config.collection.name, sorted(missing))
            response.missing_image_count = len(missing)
            response.missing_image_ids.extend(sorted(missing)[:MAX_REPORTED_IDS])
        except BaseException:
            config = router.shards.config(collection_id)
            config.ClearField("next")
            config.next_storage = ""
            await router.collections.save(config)
            raise
        config = router.shards.config(collection_id)
        config.collection.CopyFrom(config.next)
        config.collection.update_time.CopyFrom(now())
        config.storage = next_storage
        config.ClearField("next")
        config.next_storage = ""
        await router.collections.save(config)
        metadata.stage, metadata.progress = "done", 1.0
        ctx.report(metadata)
        return response

    async def _copy(self, ctx, config, next_storage, model, missing: set[str], metadata, since_ns: int) -> int:
        """Re-embeds into the next storage every record of the current one (updated at or after
        `since_ns`), page by page in id order; returns how many it wrote. Records whose image
        cannot be had go into `missing` (and out of the next storage)."""
        router = self.router
        collection_id = config.collection.name.split("/")[-1]
        after, written = "", 0
        while True:
            ctx.check_cancelled()
            page, more = await router.reads.page(RecordQuery(collection_id), after, PAGE, None)
            if not page:
                return written
            after = page[-1].id
            if since_ns:
                page = [r for r in page if r.update_time.ToNanoseconds() >= since_ns]
            failed_ids: set[str] = set()
            for start in range(0, len(page), EMBED_CHUNK):
                chunk = page[start : start + EMBED_CHUNK]
                sources = await asyncio.gather(*(self._source(collection_id, r) for r in chunk))
                failed_ids |= {r.id for r, image in zip(chunk, sources) if image is None}
                found = [(r, image) for r, image in zip(chunk, sources) if image is not None]
                if found:
                    written += await self._embed_into(config, next_storage, model, found, missing, failed_ids)
            missing |= failed_ids
            if not since_ns:
                metadata.done_count += len(page)
            metadata.failed_count = len(missing)
            metadata.progress = min(0.99, metadata.done_count / max(metadata.total_count, 1))
            ctx.report(metadata)
            if not more:
                return written

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

    async def _drop_deleted(self, config, next_storage: str, missing: set[str]) -> None:
        """Deletes from the next storage the records deleted from the current one meanwhile, and
        those whose image could not be had after an update."""
        router = self.router
        collection_id = config.collection.name.split("/")[-1]
        for shard in range(config.collection.shard_count):
            after = ""
            while True:
                page = await router.fanout.call(
                    config, shard, "List", shard_pb2.ListRequest(after_id=after, limit=1000), None, storage=next_storage
                )
                if not page.records:
                    break
                ids = [r.id for r in page.records]
                after = ids[-1]
                _, gone = await router.reads.get(collection_id, ids, False, None)
                drop = set(gone) | (set(ids) & missing)
                if drop:
                    await router.fanout.call(
                        config, shard, "Delete", shard_pb2.DeleteRequest(ids=sorted(drop)), None, storage=next_storage
                    )


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
