"""An insert stream's batches to the shards on a `WriteStream` per shard, sent as soon as they are
ready rather than once the batch before them is done everywhere.

A shard writes the batches of its stream one at a time, in order, so the later of two upserts of
an id still wins; but it starts the next batch as soon as it has finished one, instead of waiting
while the router hears from the slowest shard and sends the next batch over. Where a stream
ended, or where the shard map names another node process for the shard (it restarted, or moved),
the next batch opens a new one, to that process: an insert stream goes on through a restart.
A node process without `WriteStream` (an older version) gets unary `Write` calls, one at a time,
and so does a batch whose stream was refused before any answer, as a node without the method can
refuse it; the process that replaces it gets a stream again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from simmesh.indexer.router.fanout import ask_stream, collection_id_in
from simmesh.indexer.shard_map import ShardMap
from simmesh.indexer.shard_stream import ShardStream
from simmesh_proto.internal.v1 import shard_pb2

# (config, shard, request, timeout) -> the shard's answer to a unary Write of `request`.
UnaryWrite = Callable[
    [shard_pb2.CollectionConfig, int, shard_pb2.WriteRequest, "float | None"], Awaitable[shard_pb2.WriteResponse]
]


class WriteStreams:
    """The write streams of one insert stream, one per shard written to, opened as needed.
    Shard requests must be addressed (`collection` and `shard` set)."""

    def __init__(self, shards: ShardMap, unary: UnaryWrite, timeout: Callable[[], float | None]) -> None:
        self._shards = shards
        self._unary = unary
        self._timeout = timeout
        self._streams: dict[tuple[str, int], tuple[object, ShardStream]] = {}
        self._ended: list[ShardStream] = []
        # By shard, the stub of its node process when that has no WriteStream.
        self._unary_only: dict[tuple[str, int], object] = {}
        # By shard, done when the write sent last to it is: a unary write waits for the one before.
        self._last: dict[tuple[str, int], asyncio.Future] = {}

    async def write(
        self, config: shard_pb2.CollectionConfig, shard: int, request: shard_pb2.WriteRequest, timeout: float | None
    ) -> shard_pb2.WriteResponse:
        """Sends the shard its part of a batch, behind the parts sent before it, and returns the
        shard's answer; UNAVAILABLE naming the shard when its node is gone or the time runs out."""
        key = (request.collection, request.shard)
        before = self._last.get(key)
        done = self._last[key] = asyncio.get_running_loop().create_future()
        try:
            collection_id = collection_id_in(config)
            stub, stream = self._stream(key, collection_id)
            if stream is not None:
                reply = await ask_stream(
                    stream,
                    shard_pb2.WriteStreamRequest(write=request),
                    timeout,
                    collection_id,
                    shard,
                    lambda: self._unary_only.update({key: stub}),
                    unavailable_is_final=True,
                )
                if reply is not None:
                    return reply
            if before is not None:
                await before
            return await self._unary(config, shard, request, timeout)
        finally:
            done.set_result(None)

    def _stream(self, key: tuple[str, int], collection_id: str) -> tuple[object, ShardStream | None]:
        """The stub of the node process serving the shard and the open stream to it (a new one
        after a restart), None where that process has no WriteStream; UNAVAILABLE when no node
        serves the shard."""
        stub = self._shards.stub(key[0], key[1], collection_id)
        if self._unary_only.get(key) is stub:
            return stub, None
        held = self._streams.get(key)
        if held is not None and held[0] is stub and held[1].open:
            return held
        if held is not None and held[1].open:  # a replaced process's: its batches in flight get their answers
            self._ended = [ended for ended in self._ended if ended.open]
            self._ended.append(held[1])
        stream = ShardStream(stub.WriteStream, self._timeout())
        self._streams[key] = stub, stream
        return stub, stream

    async def close(self, cleanly: bool) -> None:
        """Ends every stream: `cleanly` once all their batches are answered (the nodes end them
        with OK), else at once, the nodes dropping the batches they have not started."""
        streams = [stream for _, stream in self._streams.values()]
        self._streams.clear()
        for stream in self._ended:
            stream.cancel()
        if cleanly:
            await asyncio.gather(*(stream.finish() for stream in streams))
        else:
            for stream in streams:
                stream.cancel()
