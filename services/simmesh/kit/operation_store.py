"""The durable store of long-running operations: one SQLite file of `Operation`s with their kind
and cancel flag, listed with the `done=` / `kind=` filter."""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TypeAlias

from google.longrunning import operations_proto_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from simmesh.kit import reasons
from simmesh.kit.auth.tenancy import SEPARATOR, scoped
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, NotFound, SimmeshError
from simmesh.kit.paging import clamp_page_size, decode_page_token, encode_page_token, fingerprint

Operation: TypeAlias = operations_proto_pb2.Operation


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
    """The ListOperations filter: `done=true|false` and `kind=KIND`, joined by spaces or AND; and
    whose operations to list (`tenant`, "" for the default tenant's; None: every tenant's)."""

    done: bool | None = None
    kind: str | None = None
    tenant: str | None = None

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
        f"{problem}; the filter supports done=true|false and kind=KIND", reason=reasons.INVALID_FILTER, field="filter"
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
        name = f"operations/{scoped(str(uuid.uuid4()))}"  # the caller's, private to its tenant
        packed = pack_any(metadata)
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
            raise not_found(name)
        return _record(row)

    def update_metadata(self, name: str, metadata: Message) -> bool:
        """Replace the metadata of a running operation; False when it is done or gone."""
        return self._update_running(name, "metadata = ?", (pack_any(metadata).SerializeToString(),))

    def finish_ok(self, name: str, response: Message, metadata: Message | None = None) -> bool:
        """Mark done with `response` (and final `metadata`); False when already done or gone."""
        return self._finish(name, response=pack_any(response).SerializeToString(), error=None, metadata=metadata)

    def finish_error(self, name: str, error: SimmeshError | status_pb2.Status, metadata: Message | None = None) -> bool:
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
                raise not_found(name)
            if not row[0]:
                raise FailedPrecondition(
                    f"operation {name} is still running; cancel it or wait for it before deleting it",
                    reason=reasons.OPERATION_RUNNING,
                )
            self._db.execute("DELETE FROM operations WHERE name = ?", (name,))

    def list(
        self, filter: OperationFilter | None = None, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[Operation], str]:
        """One page of operations, newest first, and the token of the next page ("" at the end)."""
        filter = filter or OperationFilter()
        size = clamp_page_size(page_size)
        request_fingerprint = fingerprint("operations", filter.done, filter.kind, filter.tenant)
        position = decode_page_token(page_token, request_fingerprint)
        clauses: list[str] = []
        args: list[object] = []
        if position is not None:
            before = position.get("before")
            if not isinstance(before, int):
                raise InvalidArgument("page_token is malformed", reason=reasons.INVALID_PAGE_TOKEN, field="page_token")
            clauses.append("id < ?")
            args.append(before)
        if filter.done is not None:
            clauses.append("done = ?")
            args.append(int(filter.done))
        if filter.kind is not None:
            clauses.append("kind = ?")
            args.append(filter.kind)
        if filter.tenant:
            clauses.append("name LIKE ?")
            args.append(f"operations/{scoped('%', filter.tenant)}")
        elif filter.tenant is not None:
            clauses.append(f"instr(name, '{SEPARATOR}') = 0")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM operations {where} ORDER BY id DESC LIMIT ?", (*args, size + 1)
            ).fetchall()
        page = rows[:size]
        next_token = encode_page_token({"before": page[-1][0]}, request_fingerprint) if len(rows) > size else ""
        return [_record(row).operation for row in page], next_token

    def expire(self, max_age: float, now: float | None = None) -> int:
        """Delete the operations done more than `max_age` seconds ago; returns how many went.

        Running operations are never expired, however old.
        """
        cutoff = (time.time() if now is None else now) - max_age
        with self._lock:
            cursor = self._db.execute("DELETE FROM operations WHERE done = 1 AND update_time < ?", (cutoff,))
        return cursor.rowcount

    def unfinished(self) -> builtins.list[OperationRecord]:
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
        final = None if metadata is None else pack_any(metadata).SerializeToString()
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


def pack_any(message: Message) -> any_pb2.Any:
    if isinstance(message, any_pb2.Any):
        return message
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def not_found(name: str) -> NotFound:
    return NotFound(f"operation {name!r} not found", reason=reasons.OPERATION_NOT_FOUND, metadata={"name": name})
