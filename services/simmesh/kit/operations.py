"""Long-running operations (AIP-151): the job runner. The store is `operation_store`, the standard
`google.longrunning.Operations` service `operations_service`.

A service that trains, builds or re-embeds starts a job and returns its Operation at once:

    async def train(ctx: JobContext) -> Collection:
        for step, batch in enumerate(batches):
            ctx.check_cancelled()
            ...
            ctx.report(TrainIndexMetadata(stage=..., progress=step / len(batches)))
        return collection

    return manager.start("train_index", TrainIndexMetadata(collection=name), train)

Every operation lives in SQLite (one file, owned by one process) as its `Operation`
(metadata, done, response or error) plus its kind and a cancel flag, so GetOperation answers
the same after a restart. Operations that a stopped process left running are resumed by the
handler registered for their kind, or else finished as ABORTED / OPERATION_INTERRUPTED. Done
operations are deleted once they are `ttl` seconds old (GetOperation then answers NOT_FOUND);
running ones never expire.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf import any_pb2
from google.protobuf.message import Message

from simmesh.kit import reasons
from simmesh.kit.errors import Aborted, Cancelled, Internal, SimmeshError, Unavailable
from simmesh.kit.operation_store import Operation, OperationStore, pack_any

M = TypeVar("M", bound=Message)
JobFn = Callable[["JobContext"], Awaitable[Message]]

log = logging.getLogger(__name__)


class JobContext:
    """What a running job sees: its operation, progress reporting and cancellation."""

    def __init__(self, store: OperationStore, name: str, kind: str, metadata: any_pb2.Any, interval: float) -> None:
        self.name = name
        self.kind = kind
        self._store = store
        self._interval = interval
        self._metadata = metadata
        self._dirty = False
        self._last_write = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._cancelled = False
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    @property
    def metadata(self) -> any_pb2.Any:
        """The latest metadata: the initial one, the last stored one on resume, or the last reported."""
        return self._metadata

    def metadata_as(self, cls: type[M]) -> M:
        message = cls()
        if not self._metadata.Unpack(message):
            raise TypeError(f"operation {self.name} metadata is {self._metadata.type_url}, not {cls.__name__}")
        return message

    def report(self, metadata: Message) -> None:
        """Record progress. Stored at once if the last write is `interval` old, else when it is.

        Safe to call from a worker thread.
        """
        packed = pack_any(metadata)
        if threading.get_ident() == self._loop_thread:
            self._report(packed)
        else:
            try:
                self._loop.call_soon_threadsafe(self._report, packed)
            except RuntimeError:  # the loop has closed: nobody is left to store it
                pass

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def check_cancelled(self) -> None:
        """Raise Cancelled if cancellation was requested (for jobs that work in threads)."""
        if self._cancelled:
            raise _cancelled_error(self.name)

    def _mark_cancelled(self) -> None:
        self._cancelled = True

    def _report(self, packed: any_pb2.Any) -> None:
        self._metadata = packed
        self._dirty = True
        wait = self._last_write + self._interval - time.monotonic()
        if wait <= 0:
            self._flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(wait, self._flush)

    def _flush(self) -> None:
        self._stop_timer()
        if self._dirty:
            self._dirty = False
            self._last_write = time.monotonic()
            self._store.update_metadata(self.name, self._metadata)

    def _take_pending(self) -> any_pb2.Any | None:
        """The metadata not yet stored, if any; the caller stores it."""
        self._stop_timer()
        pending = self._metadata if self._dirty else None
        self._dirty = False
        return pending

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass(frozen=True)
class RecoveryReport:
    resumed: tuple[str, ...]
    aborted: tuple[str, ...]
    cancelled: tuple[str, ...]


@dataclass(frozen=True)
class _Running:
    task: asyncio.Task[None]
    ctx: JobContext


class OperationManager:
    """Runs jobs as asyncio tasks and records their outcome in the store.

    Register resume handlers with `register_resumable`, then call `recover()` once in the
    running event loop before serving, to settle what a previous process left running and, when
    `ttl` is positive, to start sweeping done operations older than `ttl` seconds every
    `sweep_interval` seconds.
    """

    def __init__(
        self,
        store: OperationStore,
        *,
        report_interval: float = 0.5,
        cancel_grace: float = 2.0,
        ttl: float = 0.0,
        sweep_interval: float = 60.0,
    ) -> None:
        self.store = store
        self._report_interval = report_interval
        self._cancel_grace = cancel_grace
        self._ttl = ttl
        self._sweep_interval = sweep_interval
        self._sweeper: asyncio.Task[None] | None = None
        self._resumable: dict[str, JobFn] = {}
        self._running: dict[str, _Running] = {}
        self._stopping = False

    def register_resumable(self, kind: str, resume: JobFn) -> None:
        """On recovery, run `resume` for unfinished operations of `kind` (ctx.metadata: last stored)."""
        self._resumable[kind] = resume

    def recover(self) -> RecoveryReport:
        """Resume or abort the operations left not done by a previous process."""
        resumed: list[str] = []
        aborted: list[str] = []
        cancelled: list[str] = []
        for record in self.store.unfinished():
            name = record.operation.name
            if name in self._running:
                continue
            resume = self._resumable.get(record.kind)
            if record.cancel_requested:
                self.store.finish_error(name, _cancelled_error(name))
                cancelled.append(name)
            elif resume is None:
                interrupted = Aborted(
                    f"operation {name} ({record.kind}) was interrupted: the process running it stopped; start it again",
                    reason=reasons.OPERATION_INTERRUPTED,
                    metadata={"name": name, "kind": record.kind},
                )
                self.store.finish_error(name, interrupted)
                aborted.append(name)
            else:
                self._launch(name, record.kind, record.operation.metadata, resume)
                resumed.append(name)
        if resumed or aborted or cancelled:
            log.info(
                "recovered operations: %d resumed, %d aborted, %d cancelled", len(resumed), len(aborted), len(cancelled)
            )
        if self._ttl > 0 and self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="operations-expiry")
        return RecoveryReport(tuple(resumed), tuple(aborted), tuple(cancelled))

    def expire(self) -> int:
        """Delete the done operations older than the ttl (none when it is 0); returns how many went."""
        if self._ttl <= 0:
            return 0
        expired = self.store.expire(self._ttl)
        if expired:
            log.info("expired %d operations done more than %gs ago", expired, self._ttl)
        return expired

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.expire)
            except Exception:
                log.exception("could not expire old operations; trying again in %gs", self._sweep_interval)
            await asyncio.sleep(self._sweep_interval)

    def start(self, kind: str, metadata: Message, job: JobFn) -> Operation:
        """Store a new operation and run `job` for it; returns the operation (not done)."""
        if self._stopping:
            raise Unavailable(
                "the server is shutting down; start the operation again later", reason=reasons.SHUTTING_DOWN
            )
        operation = self.store.create(kind, metadata)
        self._launch(operation.name, kind, operation.metadata, job)
        return operation

    async def cancel(self, name: str) -> Operation:
        """Request cancellation; waits briefly for the job to stop and returns the operation."""
        operation = self.store.request_cancel(name)
        if operation.done:
            return operation
        running = self._running.get(name)
        if running is None:
            self.store.finish_error(name, _cancelled_error(name))
        else:
            running.ctx._mark_cancelled()
            running.task.cancel()
            await asyncio.wait({running.task}, timeout=self._cancel_grace)
        return self.store.get(name)

    async def wait(self, name: str, timeout: float | None = None) -> Operation:
        """The operation once done, or as it is when `timeout` seconds (None: no limit) pass."""
        operation = self.store.get(name)
        running = self._running.get(name)
        if operation.done or running is None:
            return operation
        if timeout is None or timeout > 0:
            await asyncio.wait({running.task}, timeout=timeout)
        return self.store.get(name)

    async def shutdown(self) -> None:
        """Stop every running job; they stay not done, for the next process to recover."""
        self._stopping = True
        tasks = [running.task for running in self._running.values()]
        if self._sweeper is not None:
            tasks.append(self._sweeper)
            self._sweeper = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _launch(self, name: str, kind: str, metadata: any_pb2.Any, job: JobFn) -> None:
        ctx = JobContext(self.store, name, kind, metadata, self._report_interval)
        task = asyncio.get_running_loop().create_task(self._run(ctx, job), name=name)
        self._running[name] = _Running(task, ctx)

    async def _run(self, ctx: JobContext, job: JobFn) -> None:
        try:
            try:
                response = await job(ctx)
            except asyncio.CancelledError:
                if self._stopping and not ctx.cancelled:
                    ctx._flush()
                else:
                    self.store.finish_error(ctx.name, _cancelled_error(ctx.name), ctx._take_pending())
                return
            except SimmeshError as err:
                self.store.finish_error(ctx.name, err, ctx._take_pending())
                return
            except Exception:
                log.exception("operation %s (%s) failed", ctx.name, ctx.kind)
                self.store.finish_error(ctx.name, _internal(ctx.name), ctx._take_pending())
                return
            if not isinstance(response, Message):
                log.error("operation %s (%s) returned %r, not a protobuf message", ctx.name, ctx.kind, response)
                self.store.finish_error(ctx.name, _internal(ctx.name), ctx._take_pending())
                return
            self.store.finish_ok(ctx.name, response, ctx._take_pending())
        except Exception:
            log.exception("could not record the outcome of operation %s (%s)", ctx.name, ctx.kind)
        finally:
            ctx._stop_timer()
            self._running.pop(ctx.name, None)


def _cancelled_error(name: str) -> Cancelled:
    return Cancelled(f"operation {name} was cancelled", reason=reasons.OPERATION_CANCELLED, metadata={"name": name})


def _internal(name: str) -> Internal:
    return Internal(f"operation {name} failed with an internal error", reason=reasons.INTERNAL, metadata={"name": name})


def open_operations(data_dir: str | os.PathLike[str], ttl: float = 0.0) -> OperationManager:
    """The manager of a service's operations, stored in `data_dir/operations.sqlite`; done ones are
    kept `ttl` seconds (0: for ever).

    Call `recover()` after registering resumable kinds, inside the event loop.
    """
    os.makedirs(data_dir, exist_ok=True)
    return OperationManager(OperationStore(os.path.join(data_dir, "operations.sqlite")), ttl=ttl)


async def close_operations(manager: OperationManager) -> None:
    """Cancel running jobs (the next start recovers them) and close the store."""
    await manager.shutdown()
    manager.store.close()
