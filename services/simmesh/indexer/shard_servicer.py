"""gRPC surface of a shard node (`simmesh.internal.v1.ShardService`): proto <-> ShardStore.

Store calls run in a worker thread, so FAISS work and fsyncs never block the event loop; a
search of a few queries runs inline, where the thread hand-off would cost more than the search.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Awaitable

import numpy as np

from simmesh.indexer.shard_node import ShardNode
from simmesh.indexer.shard_records import StoredRecord
from simmesh.indexer.vectors import Coarse
from simmesh.kit.errors import Internal, SimmeshError
from simmesh_proto.internal.v1 import shard_pb2, shard_pb2_grpc
from simmesh_proto.v1 import indexer_pb2

log = logging.getLogger(__name__)

# Searches of at most this many queries (without a filter) run on the event loop thread.
INLINE_QUERIES = 4


def _inline(request: shard_pb2.SearchRequest) -> bool:
    return request.query_count <= INLINE_QUERIES and not request.HasField("filter")


def _filter(request):
    return request.filter if request.HasField("filter") else None


def _records(records: list[StoredRecord], fields=(), metadata: bool = True) -> list[shard_pb2.ShardRecord]:
    return [r.to_proto(metadata=metadata, fields=fields) for r in records]


def _coarse(request: shard_pb2.SearchRequest) -> Coarse | None:
    if not request.coarse_digest or not request.query_count:
        return None
    lists = np.frombuffer(request.coarse_lists, dtype="<i8")
    distances = np.frombuffer(request.coarse_distances, dtype="<f4")
    if not len(lists) or len(lists) % request.query_count or len(distances) != len(lists):
        return None  # malformed: the shard assigns the queries itself
    shape = (request.query_count, len(lists) // request.query_count)
    return Coarse(lists.reshape(shape), distances.reshape(shape), request.coarse_digest)


async def _answer(reply, work: Awaitable, what: str):
    """A stream's answer (`reply`, its id set) to one request: `work`'s result, or the status it
    failed with, as the unary call would have failed; one request's failure does not end the
    stream."""
    try:
        reply.result.CopyFrom(await work)
    except SimmeshError as error:
        reply.error.CopyFrom(error.to_status())
    except Exception as error:  # answered with its status, the stream goes on
        log.exception("%s %d on the stream failed", what, reply.id)
        reply.error.CopyFrom(Internal(f"{what} failed: {type(error).__name__}").to_status())
    return reply


def _bytes(vectors: np.ndarray | None) -> bytes:
    return b"" if vectors is None else np.ascontiguousarray(vectors, dtype="<f4").tobytes()


class ShardServicer(shard_pb2_grpc.ShardServiceServicer):
    def __init__(self, node: ShardNode | None = None) -> None:
        self.node = node

    @property
    def _node(self) -> ShardNode:
        """The node, which the app sets once the port is bound, before the server starts."""
        assert self.node is not None, "the shard node is set before the server starts"
        return self.node

    async def Write(self, request, context) -> shard_pb2.WriteResponse:
        return await self._write(request)

    async def WriteStream(self, requests, context) -> None:
        """Batches written one at a time in the order they arrive, while the stream goes on being
        read (so the next batch arrives while one is written), each answered with its outcome.
        When the stream ends, a batch being written is finished and those behind it are dropped."""
        arrived: asyncio.Queue = asyncio.Queue()

        async def write_in_order() -> None:
            while (item := await arrived.get()) is not None:
                reply = shard_pb2.WriteStreamResponse(id=item.id)
                await context.write(await _answer(reply, self._write(item.write), "write"))

        writer = asyncio.create_task(write_in_order())
        try:
            async for item in requests:
                arrived.put_nowait(item)
            arrived.put_nowait(None)
            await writer
        finally:
            writer.cancel()

    async def _write(self, request: shard_pb2.WriteRequest) -> shard_pb2.WriteResponse:
        store = self._node.store(request.collection, request.shard)
        result = await asyncio.to_thread(store.write_request, request)
        return shard_pb2.WriteResponse(
            inserted_count=result.inserted, updated_count=result.updated, existing_ids=result.existing_ids
        )

    async def Get(self, request, context) -> shard_pb2.GetResponse:
        store = self._node.store(request.collection, request.shard)
        result = await asyncio.to_thread(store.get, list(request.ids), request.include_vectors)
        return shard_pb2.GetResponse(
            records=_records(result.records), vectors=_bytes(result.vectors), dimension=store.dim
        )

    async def Delete(self, request, context) -> shard_pb2.DeleteResponse:
        store = self._node.store(request.collection, request.shard)
        deleted = await asyncio.to_thread(store.delete, list(request.ids), _filter(request))
        return shard_pb2.DeleteResponse(deleted_count=len(deleted), deleted_ids=deleted)

    async def List(self, request, context) -> shard_pb2.ListResponse:
        store = self._node.store(request.collection, request.shard)
        records, vectors = await asyncio.to_thread(
            store.list, request.after_id, request.limit or 100, _filter(request), request.include_vectors
        )
        return shard_pb2.ListResponse(records=_records(records), vectors=_bytes(vectors), dimension=store.dim)

    async def Sample(self, request, context) -> shard_pb2.SampleResponse:
        store = self._node.store(request.collection, request.shard)
        result = await asyncio.to_thread(
            store.sample, request.count, _filter(request), request.seed, request.include_vectors
        )
        return shard_pb2.SampleResponse(
            records=_records(result.records),
            vectors=_bytes(result.vectors),
            dimension=store.dim,
            matching_count=result.matching_count,
        )

    async def Search(self, request, context) -> shard_pb2.SearchResponse:
        return await self._search(request)

    async def SearchStream(self, requests, context) -> None:
        """Searches off one stream, each answered when it finishes. A search small enough to run
        inline is answered before the next request is read; a larger one runs in a worker
        thread, so it holds up neither the stream nor the searches behind it."""
        writing = asyncio.Lock()
        running: set[asyncio.Task] = set()

        async def answer(item: shard_pb2.SearchStreamRequest) -> None:
            reply = await _answer(shard_pb2.SearchStreamResponse(id=item.id), self._search(item.search), "search")
            async with writing:
                await context.write(reply)

        try:
            async for item in requests:
                if _inline(item.search):
                    await answer(item)
                else:
                    task = asyncio.create_task(answer(item))
                    running.add(task)
                    task.add_done_callback(running.discard)
            if running:
                await asyncio.gather(*running)
        finally:
            for task in running:
                task.cancel()

    async def _search(self, request: shard_pb2.SearchRequest) -> shard_pb2.SearchResponse:
        store = self._node.store(request.collection, request.shard)
        exclude = [list(e.ids) for e in request.exclude] or None
        wanted = request.include_metadata or request.include_vectors or bool(request.fields)
        search = functools.partial(
            store.search,
            request.queries,
            request.k,
            filter=_filter(request),
            nprobe=request.nprobe,
            ef_search=request.ef_search,
            exclude=exclude,
            include_vectors=request.include_vectors,
            coarse=_coarse(request),
            include_records=wanted,
        )
        result = search() if _inline(request) else await asyncio.to_thread(search)
        k = result.scores.shape[1] if result.scores.ndim == 2 else request.k
        packed = result.packed_ids if request.packed else None  # None too where some id holds the separator
        return shard_pb2.SearchResponse(
            ids=list(itertools.chain.from_iterable(result.ids)) if packed is None else [],
            packed_ids=packed or "",
            scores=np.ascontiguousarray(result.scores, dtype="<f4").tobytes(),
            k=k,
            records=_records(result.records, request.fields, request.include_metadata) if wanted else [],
            vectors=_bytes(result.vectors),
        )

    async def Train(self, request, context) -> shard_pb2.TrainResponse:
        store = self._node.store(request.collection, request.shard)
        vectors = None
        if request.vectors:
            vectors = np.frombuffer(request.vectors, dtype="<f4").reshape(request.count, request.dimension)
        count = await asyncio.to_thread(store.train, request.index, vectors, request.trained_index)
        return shard_pb2.TrainResponse(vector_count=count, index_state=store.index_state)

    async def SampleVectors(self, request, context) -> shard_pb2.SampleVectorsResponse:
        store = self._node.store(request.collection, request.shard)
        vectors, total = await asyncio.to_thread(store.sample_vectors, request.count, request.seed)
        return shard_pb2.SampleVectorsResponse(
            vectors=_bytes(vectors), count=len(vectors), dimension=store.dim, total_count=total
        )

    async def GetTrainedIndex(self, request, context) -> shard_pb2.GetTrainedIndexResponse:
        store = self._node.store(request.collection, request.shard)
        trained, nprobe, digest = await asyncio.to_thread(store.trained_index)
        return shard_pb2.GetTrainedIndexResponse(trained_index=trained, nprobe=nprobe, coarse_digest=digest)

    async def Stats(self, request, context) -> shard_pb2.StatsResponse:
        store = self._node.store(request.collection, request.shard)
        stats = await asyncio.to_thread(store.stats)
        out = indexer_pb2.ShardStats(
            name=f"collections/{request.collection}/shards/{request.shard}",
            address=self._node.address,
            available=True,
            record_count=stats.record_count,
            index_kind=stats.index_kind,
            index_state=stats.index_state,
            memory_bytes=stats.memory_bytes,
            wal_entries=stats.wal_entries,
            memory=stats.memory,
        )
        if stats.last_snapshot_time is not None:
            out.last_snapshot_time.FromNanoseconds(int(stats.last_snapshot_time * 1e9))
        return shard_pb2.StatsResponse(stats=out)

    async def Snapshot(self, request, context) -> shard_pb2.SnapshotResponse:
        store = self._node.store(request.collection, request.shard)
        info = await asyncio.to_thread(store.snapshot)
        return shard_pb2.SnapshotResponse(uri=info.uri, record_count=info.record_count)

    async def Drop(self, request, context) -> shard_pb2.DropResponse:
        store = self._node.store(request.collection, request.shard)
        await asyncio.to_thread(store.drop)
        return shard_pb2.DropResponse()
