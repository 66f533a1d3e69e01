"""SQLAlchemy engines for the services' metadata stores: SQLite by default, PostgreSQL when given.

SQLite runs in WAL mode with foreign keys on; a connection run with the execution option
`WRITE_OPTION` begins with `BEGIN IMMEDIATE`, so concurrent writers queue instead of failing
half-way. The same SQL serves both databases.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Row,
    Select,
    String,
    Text,
    create_engine,
    event,
    true,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from simmesh.kit import reasons
from simmesh.kit.auth.tenancy import SEPARATOR as TENANT_SEPARATOR
from simmesh.kit.errors import Aborted, InvalidArgument, Unavailable
from simmesh.kit.paging import clamp_page_size, decode_page_token, encode_page_token

WRITE_OPTION = "simmesh_write"
# Values per `IN (...)` of request-sized lists: SQLite caps the number of bound parameters.
IN_CHUNK = 500


# The reason an unreachable database answers with, by the service that owns it.
_DB_UNAVAILABLE = {"catalog": reasons.CATALOG_DB_UNAVAILABLE, "labeler": reasons.LABELER_DB_UNAVAILABLE}


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


def described_columns(id_length: int) -> list[Column]:
    """`id` (the key), `display_name` and `description`, the first columns of a resource's table."""
    return [
        Column("id", String(id_length), primary_key=True),
        Column("display_name", Text, nullable=False, default=""),
        Column("description", Text, nullable=False, default=""),
    ]


def time_columns() -> list[Column]:
    """`create_time` and `update_time`, the timestamps every table row carries."""
    return [
        Column("create_time", DateTime(timezone=True), nullable=False),
        Column("update_time", DateTime(timezone=True), nullable=False),
    ]


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (SQLite hands naive ones back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    """`values` a few hundred at a time, one `IN (...)` each (see IN_CHUNK)."""
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def owned_by(column: Column, tenant: str | None) -> ColumnElement[bool]:
    """Rows whose internal id in `column` belongs to `tenant` (see kit.auth.tenancy): "" the
    default tenant's (ids without a tenant), None every tenant's."""
    if tenant is None:
        return true()
    if not tenant:
        return ~column.contains(TENANT_SEPARATOR, autoescape=True)
    return column.startswith(tenant + TENANT_SEPARATOR, autoescape=True)


class Database:
    """A service's metadata database: every store method runs in one `read()` or `write()`
    transaction, which commits whole or raises the error catalogue's exceptions and stores nothing.

    Writes on SQLite take the write lock up front (`BEGIN IMMEDIATE`); reads on PostgreSQL run at
    REPEATABLE READ, so a record built from several queries is one snapshot. `service` names the
    database in errors ("catalog": reason CATALOG_DB_UNAVAILABLE); `contents` says what changed
    concurrently ("the catalog").
    """

    def __init__(self, engine: Engine, service: str, contents: str) -> None:
        self.engine = engine
        self.service = service
        self.contents = contents

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                options: dict[str, Any] = {WRITE_OPTION: write}
                if self.dialect == "postgresql" and not write:
                    options["isolation_level"] = "REPEATABLE READ"
                connection.execution_options(**options)
                with connection.begin():
                    yield connection
        except IntegrityError as error:
            raise Aborted(
                f"{self.contents} changed concurrently; retry the call", reason=reasons.CONCURRENT_CHANGE
            ) from error
        except OperationalError as error:
            raise Unavailable(
                f"the {self.service} database is unavailable: {error.orig}", reason=_DB_UNAVAILABLE[self.service]
            ) from error

    def read(self) -> AbstractContextManager[Connection]:
        return self._transaction(write=False)

    def write(self) -> AbstractContextManager[Connection]:
        return self._transaction(write=True)


def open_database(url: str, metadata: MetaData, service: str, contents: str) -> Database:
    """The database at `url` (an SQLAlchemy URL), `metadata`'s tables created if missing."""
    engine = open_engine(url)
    metadata.create_all(engine)
    return Database(engine, service, contents)


def keyset_page(
    conn: Connection, query: Select, key: Column, page_size: int, page_token: str, fingerprint: str
) -> tuple[list[Row], str]:
    """One page of `query` in `key` order after the token's position, and the next page's token
    ("" after the last); the token is bound to `fingerprint` (see `simmesh.kit.paging`)."""
    size = clamp_page_size(page_size)
    position = decode_page_token(page_token, fingerprint)
    if position is not None:
        after = position.get("after")
        if not isinstance(after, (str, int)) or isinstance(after, bool):
            raise InvalidArgument("page_token is malformed", reason=reasons.INVALID_PAGE_TOKEN, field="page_token")
        query = query.where(key > after)
    rows = conn.execute(query.order_by(key).limit(size + 1)).all()
    if len(rows) <= size:
        return list(rows), ""
    rows = rows[:size]
    return list(rows), encode_page_token({"after": rows[-1]._mapping[key.name]}, fingerprint)
