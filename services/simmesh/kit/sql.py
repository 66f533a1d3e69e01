"""SQLAlchemy engines for the services' metadata stores: SQLite by default, PostgreSQL when given.

SQLite runs in WAL mode with foreign keys on; a connection run with the execution option
`WRITE_OPTION` begins with `BEGIN IMMEDIATE`, so concurrent writers queue instead of failing
half-way. The same SQL serves both databases.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, Connection, DateTime, Engine, create_engine, event
from sqlalchemy.engine import make_url

WRITE_OPTION = "simmesh_write"
# Values per `IN (...)` of request-sized lists: SQLite caps the number of bound parameters.
IN_CHUNK = 500


def default_db_url(data_dir: str | os.PathLike[str], name: str) -> str:
    """`sqlite:///DATA_DIR/{name}.sqlite` (absolute)."""
    return f"sqlite:///{Path(data_dir).resolve() / f'{name}.sqlite'}"


def open_engine(url: str) -> Engine:
    """An engine over `url` (an SQLAlchemy URL); an SQLite file's folder is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, explicitly
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def time_columns() -> list[Column]:
    """`create_time` and `update_time`, the timestamps every table row carries."""
    return [Column("create_time", DateTime(timezone=True), nullable=False),
            Column("update_time", DateTime(timezone=True), nullable=False)]


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (SQLite hands naive ones back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    """`values` a few hundred at a time, one `IN (...)` each (see IN_CHUNK)."""
    for start in range(0, len(values), IN_CHUNK):
        yield values[start:start + IN_CHUNK]
