"""Small searches from the router to a shard node over one long-lived `SearchStream` call.

A unary call sets up an HTTP/2 stream, headers and a deadline timer each time, and on a busy
node that costs about as much as searching a few queries. One stream per node carries the
router's small searches instead: each is written with an id, its answer is matched by that id,
and any number are in flight at once.

- Each search has its own deadline, kept here: when it passes, the search fails with
  DEADLINE_EXCEEDED and a late answer is dropped.
- A search the shard rejects comes back as a `google.rpc.Status` and is raised as the same
  `SimmeshError` a unary call would raise; the stream goes on.
- When the stream itself ends (the node stopped or restarted, the connection dropped), every
  search in flight fails with the call's error, and the next search opens a new stream.
- A node without the method (an older version) answers UNIMPLEMENTED; the router then keeps to
  unary calls for that node.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

import grpc
from simmesh_proto.internal.v1 import shard_pb2, shard_pb2_grpc

from simmesh.kit import errors

log = logging.getLogger(__name__)


class StreamClosed(Exception):
    """The stream ended, with the call's status code (OK when the node closed it cleanly)."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.OK) -> None:
        super().__init__(message)
        self.code = code


class SearchStream:
    """One `SearchStream` call to a shard node, searches multiplexed on it by id."""

    def __init__(self, stub: shard_pb2_grpc.ShardServiceStub) -> None:
        self._call = stub.SearchStream()
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._writing = asyncio.Lock()
        # Why the stream ended; None while it is open.
        self.ended: StreamClosed | None = None
        # Answers read so far: a stream that ends before its first may never have been taken.
        self.answered = 0
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def open(self) -> bool:
        return self.ended is None

    async def search(self, request: shard_pb2.SearchStreamRequest, timeout: float | None
                     ) -> shard_pb2.SearchResponse:
        """Sends `request` (its id is set here) and waits for its answer.

        Raises the shard's error for the search, `StreamClosed` when the stream ends first, and
        `asyncio.TimeoutError` when `timeout` passes first."""
        if self.ended is not None:
            raise self.ended
        loop = asyncio.get_running_loop()
        request.id = search_id = next(self._ids)
        future = self._pending[search_id] = loop.create_future()
        expiry = loop.call_later(timeout, _expire, future) if timeout is not None else None
        try:
            async with self._writing:
                if self.ended is not None:
                    raise self.ended
                await self._call.write(request)
            return await future
        except grpc.aio.AioRpcError:  # the call failed before this search was written: its status says why
            raise await self._final_status() from None
        except asyncio.InvalidStateError:  # the call finished while this one was writing
            raise self.ended or StreamClosed("the search stream ended") from None
        finally:
            del self._pending[search_id]
            if expiry is not None:
                expiry.cancel()
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: an error set after a failed write is not "never retrieved"

    async def _final_status(self) -> StreamClosed:
        """Why the finished call ended, from its status."""
        code = await self._call.code()
        if code == grpc.StatusCode.OK:
            return StreamClosed("the search stream ended")
        return StreamClosed(await self._call.details() or code.name, code)

    async def _read(self) -> None:
        ended = StreamClosed("the search stream ended")
        try:
            while True:
                reply = await self._call.read()
                if reply is grpc.aio.EOF:
                    ended = await self._final_status()
                    break
                self.answered += 1
                future = self._pending.get(reply.id)
                if future is None or future.done():
                    continue  # its search timed out
                if reply.HasField("error"):
                    future.set_exception(errors.from_status(reply.error))
                else:
                    future.set_result(reply.result)
        except grpc.aio.AioRpcError as error:
            ended = StreamClosed(error.details() or error.code().name, error.code())
        except asyncio.CancelledError:
            ended = StreamClosed("the search stream was closed")
            raise
        except Exception as error:  # noqa: BLE001 - whatever ended the stream ends its searches
            log.exception("search stream reader failed")
            ended = StreamClosed(f"the search stream failed: {error}")
        finally:
            self.ended = ended
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ended)

    async def close(self) -> None:
        self._call.cancel()
        self._reader.cancel()
        try:
            await self._reader
        except asyncio.CancelledError:
            pass


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(asyncio.TimeoutError())
