"""Calls from the router to a shard node over one long-lived stream (`SearchStream`,
`WriteStream`), each request written with an id and its answer matched by that id.

A unary call sets up an HTTP/2 stream, headers and a deadline timer each time, and on a busy
node that costs about as much as searching a few queries. One stream per node carries the
router's small searches instead, any number in flight at once; an insert stream's batches go on
a write stream per shard, the next one sent while the one before is written.

- Each request has its own deadline, kept here: when it passes, the wait fails with
  `asyncio.TimeoutError` and a late answer is dropped.
- A request the shard rejects comes back as a `google.rpc.Status` and is raised as the same
  `SimmeshError` a unary call would raise; the stream goes on.
- When the stream itself ends (the node stopped or restarted, the connection dropped), every
  request in flight fails with `StreamClosed`, carrying the call's status code; the caller opens
  a new stream for the next one.
- A node without the method (an older version) ends the stream with UNIMPLEMENTED; the router
  then keeps to unary calls for that node.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

import grpc

from simmesh.kit import errors

log = logging.getLogger(__name__)


class StreamClosed(Exception):
    """The stream ended, with the call's status code (OK when the node closed it cleanly)."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.OK) -> None:
        super().__init__(message)
        self.code = code


class ShardStream:
    """One streaming call to a shard node (`call`: the stub's method, such as
    `stub.SearchStream`), requests multiplexed on it by id. Requests and answers are the
    `...StreamRequest` / `...StreamResponse` messages: an `id`, and an answer's `result` or
    `error`."""

    def __init__(self, call, timeout: float | None = None) -> None:
        self._call = call(timeout=timeout)
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

    async def ask(self, request, timeout: float | None):
        """Sends `request` (its id is set here) and waits for its answer's `result`.

        Raises the shard's error for the request, `StreamClosed` when the stream ends first, and
        `asyncio.TimeoutError` when `timeout` passes first."""
        if self.ended is not None:
            raise self.ended
        loop = asyncio.get_running_loop()
        request.id = request_id = next(self._ids)
        future = self._pending[request_id] = loop.create_future()
        expiry = loop.call_later(timeout, _expire, future) if timeout is not None else None
        try:
            await self._write(request)
            return await future
        finally:
            del self._pending[request_id]
            if expiry is not None:
                expiry.cancel()
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: an error set after a failed write is not "never retrieved"

    async def _write(self, request) -> None:
        try:
            async with self._writing:
                if self.ended is not None:
                    raise self.ended
                await self._call.write(request)
        except grpc.aio.AioRpcError:  # the call failed before this request was written: its status says why
            raise await self._final_status() from None
        except asyncio.InvalidStateError:  # the call finished while this one was writing
            raise self.ended or StreamClosed("the stream ended") from None

    async def _final_status(self) -> StreamClosed:
        """Why the finished call ended, from its status."""
        code = await self._call.code()
        if code == grpc.StatusCode.OK:
            return StreamClosed("the stream ended")
        return StreamClosed(await self._call.details() or code.name, code)

    async def _read(self) -> None:
        ended = StreamClosed("the stream ended")
        try:
            while True:
                reply = await self._call.read()
                if reply is grpc.aio.EOF:
                    ended = await self._final_status()
                    break
                self.answered += 1
                future = self._pending.get(reply.id)
                if future is None or future.done():
                    continue  # its wait timed out
                if reply.HasField("error"):
                    future.set_exception(errors.from_status(reply.error))
                else:
                    future.set_result(reply.result)
        except grpc.aio.AioRpcError as error:
            ended = StreamClosed(error.details() or error.code().name, error.code())
        except asyncio.CancelledError:
            ended = StreamClosed("the stream was closed")
            raise
        except Exception as error:  # whatever ended the stream ends its requests
            log.exception("shard stream reader failed")
            ended = StreamClosed(f"the stream failed: {error}")
        finally:
            self.ended = ended
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ended)

    async def finish(self, timeout: float = 5.0) -> None:
        """Ends the call cleanly once every request is answered: half-closes it, so the node ends
        it with OK, and cancels it if that takes longer than `timeout`."""
        try:
            async with self._writing:
                if self.ended is None:
                    await self._call.done_writing()
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        except (TimeoutError, grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass
        finally:
            await self.close()

    def cancel(self) -> None:
        """Ends the call at once, without waiting; the node drops whatever it still holds of it."""
        self._call.cancel()
        self._reader.cancel()

    async def close(self) -> None:
        """`cancel`, then waits for the reader to stop."""
        self.cancel()
        try:
            await self._reader
        except asyncio.CancelledError:
            pass


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
