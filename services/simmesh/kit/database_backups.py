"""Backups of a service's SQLite database in the object store: taken online, restored by swap-in.

A backup is `backups/databases/{service}/{backup}.sqlite`, a copy made with SQLite's online backup
(writes go on meanwhile; the copy is one consistent state). Restoring checks the downloaded copy
(`PRAGMA integrity_check`, and that it holds every table of the live database) and then copies it
over the live database with the same online backup, in one transaction on the live file: calls
running meanwhile wait on SQLite's lock and then see the restored state; the engine's pooled
connections are then dropped. On PostgreSQL every method is refused: its own tools do this.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path

from simmesh.kit import reasons
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from simmesh.kit.sql import Database
from simmesh.kit.wire import timestamp
from simmesh_proto.v1 import backup_pb2

BACKUPS = "backups/databases"
BACKUP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def backup_id_of(name: str) -> str:
    """`databaseBackups/{backup}` -> its id."""
    prefix, _, backup_id = name.partition("/")
    if prefix != "databaseBackups" or not BACKUP_ID_RE.match(backup_id):
        raise InvalidArgument(
            f"backup must be `databaseBackups/{{backup}}`, got {name!r}", reason=reasons.INVALID_BACKUP, field="backup"
        )
    return backup_id


def _tables(connection: sqlite3.Connection) -> set[str]:
    return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


class DatabaseBackups:
    """Backups of `database` (the service `service`'s) in `blobstore`."""

    def __init__(self, database: Database, blobstore: BlobStore, service: str) -> None:
        self.database = database
        self.blobstore = blobstore
        self.service = service

    def backup(self, backup_id: str) -> backup_pb2.DatabaseBackup:
        path = self._path()
        backup_id = backup_id or time.strftime("%Y%m%dt%H%M%Sz", time.gmtime())
        if not BACKUP_ID_RE.match(backup_id):
            raise InvalidArgument(
                f"backup_id must be 1-63 lower-case letters, digits, '-' or '_', got {backup_id!r}",
                reason=reasons.INVALID_BACKUP,
                field="backup_id",
            )
        if self.blobstore.exists(self._key(backup_id)):
            raise AlreadyExists(
                f"backup `databaseBackups/{backup_id}` already exists", reason=reasons.BACKUP_EXISTS, field="backup_id"
            )
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / "copy.sqlite"
            _copy(sqlite3.connect(path, timeout=30), sqlite3.connect(copy))
            self.blobstore.put_file(self._key(backup_id), copy)
        return self._describe(backup_id)

    def restore(self, backup_id: str) -> backup_pb2.DatabaseBackup:
        path = self._path()
        described = self._describe(backup_id)
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / "copy.sqlite"
            self.blobstore.get_to_file(self._key(backup_id), copy)
            source = sqlite3.connect(copy)
            live = sqlite3.connect(path, timeout=30)
            try:
                self._check(source, live, backup_id)
            except BaseException:
                source.close()
                live.close()
                raise
            _copy(source, live)
        self.database.engine.dispose()
        return described

    def newest_first(self) -> list[backup_pb2.DatabaseBackup]:
        self._path()
        prefix = f"{BACKUPS}/{self.service}/"
        found = [
            self._message(info.key[len(prefix) : -len(".sqlite")], info.size, info.modified)
            for info in self.blobstore.list(prefix)
            if info.key.endswith(".sqlite")
        ]
        return sorted(found, key=lambda b: (b.create_time.seconds, b.name), reverse=True)

    def _path(self) -> str:
        if self.database.dialect != "sqlite":
            raise FailedPrecondition(
                f"the {self.service} database is PostgreSQL: back it up and restore it with PostgreSQL's own "
                "tools (pg_dump, pg_restore)",
                reason=reasons.DATABASE_NOT_SQLITE,
            )
        return str(self.database.engine.url.database)

    def _key(self, backup_id: str) -> str:
        return f"{BACKUPS}/{self.service}/{backup_id}.sqlite"

    def _describe(self, backup_id: str) -> backup_pb2.DatabaseBackup:
        if not self.blobstore.exists(self._key(backup_id)):
            raise NotFound(
                f"backup `databaseBackups/{backup_id}` does not exist",
                reason=reasons.BACKUP_NOT_FOUND,
                metadata={"backup": f"databaseBackups/{backup_id}"},
            )
        info = self.blobstore.stat(self._key(backup_id))
        return self._message(backup_id, info.size, info.modified)

    def _message(self, backup_id: str, size: int, modified: datetime) -> backup_pb2.DatabaseBackup:
        return backup_pb2.DatabaseBackup(
            name=f"databaseBackups/{backup_id}",
            service=self.service,
            create_time=timestamp(modified),
            size_bytes=size,
            uri=self.blobstore.uri(self._key(backup_id)),
        )

    def _check(self, source: sqlite3.Connection, live: sqlite3.Connection, backup_id: str) -> None:
        try:
            whole = source.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            missing = _tables(live) - _tables(source)
        except sqlite3.DatabaseError:
            whole, missing = False, set()
        if not whole or missing:
            raise FailedPrecondition(
                f"backup `databaseBackups/{backup_id}` is not a whole SQLite database with the tables of this "
                f"service's{f' (missing {sorted(missing)})' if missing else ''}",
                reason=reasons.BACKUP_UNUSABLE,
            )


def _copy(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    """SQLite's online backup of `source` into `target`, in one step; closes both."""
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
