"""Long-running operations (AIP-151): a durable store, a job runner and the standard
`google.longrunning.Operations` service.

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
handler registered for their kind, or else finished as ABORTED / OPERATION_INTERRUPTED.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.longrunning import operations_pb2_grpc, operations_proto_pb2
from google.protobuf import any_pb2, empty_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from simmesh.kit.errors import (
    Aborted,
    Cancelled,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    SimmeshError,
    Unavailable,
)
from simmesh.kit.paging import clamp_page_size, decode_page_token, encode_page_token, fingerprint
from simmesh.kit.server import ServiceBinding

Operation = operations_proto_pb2.Operation
SERVICE_NAME: str = operations_proto_pb2.DESCRIPTOR.services_by_name["Operations"].full_name

M = TypeVar("M", bound=Message)
JobFn = Callable[["JobContext"], Awaitable[Message]]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# Store


@dataclass(frozen=True)
class OperationRecord:
    """One stored operation with the bookkeeping that the Operation message does not carry."""

    operation: Operation
    kind: str
    create_time: float
    update_time: float
    cancel_requested: bool


@dataclass(frozen=True)
class OperationFilter:
    """The ListOperations filter: `done=true|false` and `kind=KIND`, joined by spaces or AND."""

    done: bool | None = None
    kind: str | None = None

    @classmethod
    def parse(cls, text: str) -> OperationFilter:
        terms: dict[str, str] = {}
        normalised = " ".join(text.split()).replace(" = ", "=").replace(" =", "=").replace("= ", "=")
        for term in normalised.split(" "):
            if term in ("", "AND"):
                continue
            key, sep, value = term.partition("=")
            value = value.strip('"')
            if not sep or not value or key not in ("done", "kind") or key in terms:
                raise _invalid_filter(f"unsupported filter term {term!r}")
            terms[key] = value
        done = terms.get("done")
        if done is not None and done.lower() not in ("true", "false"):
            raise _invalid_filter(f"done must be true or false, got {done!r}")
        return cls(done=None if done is None else done.lower() == "true", kind=terms.get("kind"))


def _invalid_filter(problem: str) -> InvalidArgument:
    return InvalidArgument(
        f"{problem}; the filter supports done=true|false and kind=KIND", reason="INVALID_FILTER", field="filter"
    )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    create_time REAL NOT NULL,
    update_time REAL NOT NULL,
    metadata BLOB NOT NULL,
    response BLOB,
    error BLOB
);
CREATE INDEX IF NOT EXISTS operations_by_done ON operations (done, id);
CREATE INDEX IF NOT EXISTS operations_by_kind ON operations (kind, id);
"""

_COLUMNS = "id, name, kind, done, cancel_requested, create_time, update_time, metadata, response, error"


class OperationStore:
    """Operations in one SQLite file (WAL). Thread-safe; one process owns a file at a time.

    Each write is one committed statement, so what a call returned survives the process being
    killed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(os.fspath(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, kind: str, metadata: Message) -> Operation:
        name = f"operations/{uuid.uuid4()}"
        packed = _pack(metadata)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO operations (name, kind, create_time, update_time, metadata) VALUES (?, ?, ?, ?, ?)",
                (name, kind, now, now, packed.SerializeToString()),
            )
        return Operation(name=name, metadata=packed)

    def get(self, name: str) -> Operation:
        return self.get_record(name).operation

    def get_record(self, name: str) -> OperationRecord:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM operations WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise _not_found(name)
        return _record(row)

    def update_metadata(self, name: str, metadata: Message) -> bool:
        """Replace the metadata of a running operation; False when it is done or gone."""
        return self._update_running(name, "metadata = ?", (_pack(metadata).SerializeToString(),))

    def finish_ok(self, name: str, response: Message, metadata: Message | None = None) -> bool:
        """Mark done with `response` (and final `metadata`); False when already done or gone."""
        return self._finish(name, response=_pack(response).SerializeToString(), error=None, metadata=metadata)

    def finish_error(
        self, name: str, error: SimmeshError | status_pb2.Status, metadata: Message | None = None
    ) -> bool:
        """Mark done with `error` (and final `metadata`); False when already done or gone."""
        status = error.to_status() if isinstance(error, SimmeshError) else error
        return self._finish(name, response=None, error=status.SerializeToString(), metadata=metadata)

    def request_cancel(self, name: str) -> Operation:
        """Flag a running operation as cancel-requested; a done one is returned unchanged."""
        self._update_running(name, "cancel_requested = 1", ())
        return self.get(name)

    def delete(self, name: str) -> None:
        with self._lock:
            row = self._db.execute("SELECT done FROM operations WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise _not_found(name)
            if not row[0]:
                raise FailedPrecondition(
                    f"operation {name} is still running; cancel it or wait for it before deleting it",
                    reason="OPERATION_RUNNING",
                )
            self._db.execute("DELETE FROM operations WHERE name = ?", (name,))

    def list(
        self, filter: OperationFilter | None = None, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[Operation], str]:
        """One page of operations, newest first, and the token of the next page ("" at the end)."""
        filter = filter or OperationFilter()
        size = clamp_page_size(page_size)
        request_fingerprint = fingerprint("operations", filter.done, filter.kind)
        position = decode_page_token(page_token, request_fingerprint)
        clauses: list[str] = []
        args: list[object] = []
        if position is not None:
            before = position.get("before")
            if not isinstance(before, int):
                raise InvalidArgument("page_token is malformed", reason="INVALID_PAGE_TOKEN", field="page_token")
            clauses.append("id < ?")
            args.append(before)
        if filter.done is not None:
            clauses.append("done = ?")
            args.append(int(filter.done))
        if filter.kind is not None:
            clauses.append("kind = ?")
            args.append(filter.kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM operations {where} ORDER BY id DESC LIMIT ?", (*args, size + 1)
            ).fetchall()
        page = rows[:size]
        next_token = encode_page_token({"before": page[-1][0]}, request_fingerprint) if len(rows) > size else ""
        return [_record(row).operation for row in page], next_token

    def unfinished(self) -> list[OperationRecord]:
        """Every operation not yet done, oldest first."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM operations WHERE done = 0 ORDER BY id").fetchall()
        return [_record(row) for row in rows]

    def _update_running(self, name: str, assignments: str, args: tuple[object, ...]) -> bool:
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE operations SET {assignments}, update_time = ? WHERE name = ? AND done = 0",
                (*args, time.time(), name),
            )
        return cursor.rowcount == 1

    def _finish(self, name: str, *, response: bytes | None, error: bytes | None, metadata: Message | None) -> bool:
        final = None if metadata is None else _pack(metadata).SerializeToString()
        return self._update_running(
            name, "done = 1, response = ?, error = ?, metadata = COALESCE(?, metadata)", (response, error, final)
        )


def _record(row: tuple) -> OperationRecord:
    _, name, kind, done, cancel_requested, create_time, update_time, metadata, response, error = row
    operation = Operation(name=name, done=bool(done), metadata=any_pb2.Any.FromString(metadata))
    if response is not None:
        operation.response.ParseFromString(response)
    elif error is not None:
        operation.error.ParseFromString(error)
    return OperationRecord(operation, kind, create_time, update_time, bool(cancel_requested))


def _pack(message: Message) -> any_pb2.Any:
    if isinstance(message, any_pb2.Any):
        return message
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _not_found(name: str) -> NotFound:
    return NotFound(f"operation {name!r} not found", reason="OPERATION_NOT_FOUND", metadata={"name": name})


# ----------------------------------------------------------------------------------------------
# Jobs


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
        packed = _pack(metadata)
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
    running event loop before serving, to settle what a previous process left running.
    """

    def __init__(self, store: OperationStore, *, report_interval: float = 0.5, cancel_grace: float = 2.0) -> None:
        self.store = store
        self._report_interval = report_interval
        self._cancel_grace = cancel_grace
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
                    f"operation {name} ({record.kind}) was interrupted: the process running it stopped; "
                    "start it again",
                    reason="OPERATION_INTERRUPTED",
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
        return RecoveryReport(tuple(resumed), tuple(aborted), tuple(cancelled))

    def start(self, kind: str, metadata: Message, job: JobFn) -> Operation:
        """Store a new operation and run `job` for it; returns the operation (not done)."""
        if self._stopping:
            raise Unavailable("the server is shutting down; start the operation again later", reason="SHUTTING_DOWN")
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
    return Cancelled(f"operation {name} was cancelled", reason="OPERATION_CANCELLED", metadata={"name": name})


def _internal(name: str) -> Internal:
    return Internal(f"operation {name} failed with an internal error", reason="INTERNAL", metadata={"name": name})


# ----------------------------------------------------------------------------------------------
# gRPC service

# Left of the caller's deadline when WaitOperation answers, so the reply arrives in time.
_DEADLINE_MARGIN_S = 0.05


class OperationsServicer(operations_pb2_grpc.OperationsServicer):
    """`google.longrunning.Operations` over an OperationManager. Raises the catalogue's errors."""

    def __init__(self, manager: OperationManager) -> None:
        self._manager = manager

    async def ListOperations(
        self, request: operations_proto_pb2.ListOperationsRequest, context: grpc.aio.ServicerContext
    ) -> operations_proto_pb2.ListOperationsResponse:
        operations, next_token = self._manager.store.list(
            OperationFilter.parse(request.filter), request.page_size, request.page_token
        )
        return operations_proto_pb2.ListOperationsResponse(operations=operations, next_page_token=next_token)

    async def GetOperation(
        self, request: operations_proto_pb2.GetOperationRequest, context: grpc.aio.ServicerContext
    ) -> Operation:
        return self._manager.store.get(_required_name(request.name))

    async def DeleteOperation(
        self, request: operations_proto_pb2.DeleteOperationRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        self._manager.store.delete(_required_name(request.name))
        return empty_pb2.Empty()

    async def CancelOperation(
        self, request: operations_proto_pb2.CancelOperationRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self._manager.cancel(_required_name(request.name))
        return empty_pb2.Empty()

    async def WaitOperation(
        self, request: operations_proto_pb2.WaitOperationRequest, context: grpc.aio.ServicerContext
    ) -> Operation:
        name = _required_name(request.name)
        timeout: float | None = None
        if request.HasField("timeout"):
            timeout = request.timeout.ToTimedelta().total_seconds()
            if timeout < 0:
                raise InvalidArgument("timeout must not be negative", reason="INVALID_TIMEOUT", field="timeout")
        remaining = context.time_remaining()
        if remaining is not None:
            budget = max(0.0, remaining - _DEADLINE_MARGIN_S)
            timeout = budget if timeout is None else min(timeout, budget)
        return await self._manager.wait(name, timeout)


def _required_name(name: str) -> str:
    if not name:
        raise InvalidArgument("name is required", reason="MISSING_NAME", field="name")
    return name


def add_to_server(manager: OperationManager, server: grpc.aio.Server) -> OperationsServicer:
    """Register the Operations service (full name: SERVICE_NAME) on `server`."""
    servicer = OperationsServicer(manager)
    operations_pb2_grpc.add_OperationsServicer_to_server(servicer, server)
    return servicer


def open_operations(data_dir: str | os.PathLike[str]) -> OperationManager:
    """The manager of a service's operations, stored in `data_dir/operations.sqlite`.

    Call `recover()` after registering resumable kinds, inside the event loop.
    """
    os.makedirs(data_dir, exist_ok=True)
    return OperationManager(OperationStore(os.path.join(data_dir, "operations.sqlite")))


def operations_binding(manager: OperationManager) -> ServiceBinding:
    """The Operations service for `build_server`."""
    return ServiceBinding(
        servicer=OperationsServicer(manager),
        add_to_server=operations_pb2_grpc.add_OperationsServicer_to_server,
        descriptor=operations_proto_pb2.DESCRIPTOR.services_by_name["Operations"],
    )


async def close_operations(manager: OperationManager) -> None:
    """Cancel running jobs (the next start recovers them) and close the store."""
    await manager.shutdown()
    manager.store.close()
