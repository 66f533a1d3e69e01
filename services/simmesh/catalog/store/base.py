"""What every part of the catalog's store shares: the tables, transactions and pages, not-found
errors, chunked `IN (...)` queries, and the similarity-type locks every membership rule takes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Column, Connection, Delete, Row, Select, select

from simmesh.catalog import schema
from simmesh.catalog.names import GROUPS, IMAGES, TASKS, TYPES, version_name
from simmesh.kit import reasons, sql
from simmesh.kit.errors import InvalidArgument, NotFound

T = schema.similarity_types
K = schema.tasks
KT = schema.task_types
G = schema.groups
I = schema.training_images  # noqa: E741 - the table of images
GI = schema.group_images
GM = schema.group_members
V = schema.task_versions

# Missing ids an error's metadata lists at most.
_MISSING_SHOWN = 20


def resource_not_found(name: str, reason: str) -> NotFound:
    """NotFound naming the resource (`groups/sneaker-42`) in its message and metadata."""
    return NotFound(f"{name} does not exist", reason=reason, metadata={"name": name})


def _not_found_in(collection: str, reason: str) -> Callable[[str], NotFound]:
    """The NotFound of an id of `collection`."""
    return lambda resource_id: resource_not_found(f"{collection}/{resource_id}", reason)


type_not_found = _not_found_in(TYPES, "SIMILARITY_TYPE_NOT_FOUND")
task_not_found = _not_found_in(TASKS, "TASK_NOT_FOUND")
group_not_found = _not_found_in(GROUPS, "GROUP_NOT_FOUND")
image_not_found = _not_found_in(IMAGES, "TRAINING_IMAGE_NOT_FOUND")


def version_not_found(task_id: str, number: int) -> NotFound:
    return resource_not_found(version_name(task_id, number), "TASK_VERSION_NOT_FOUND")


def missing(ids: Sequence[str], found: Iterable[str], not_found: Callable[[str], NotFound]) -> None:
    """NotFound for the first id of `ids` not in `found` (naming how many more are missing)."""
    present = set(found)
    absent = [i for i in ids if i not in present]
    if not absent:
        return
    first = not_found(absent[0])
    if len(absent) == 1:
        raise first
    raise NotFound(
        f"{first.message} (and {len(absent) - 1} more)",
        reason=first.reason,
        metadata={**first.metadata, "missing": ",".join(absent[:_MISSING_SHOWN])},
    )


def select_in(conn: Connection, query: Select, column, ids: Sequence[str]) -> list[Row]:
    """`query` for rows whose `column` is one of `ids`, a few hundred ids per statement (SQLite
    caps the number of bound parameters)."""
    rows: list[Row] = []
    for chunk in sql.in_chunks(ids):
        rows.extend(conn.execute(query.where(column.in_(chunk))).all())
    return rows


def delete_in(conn: Connection, statement: Delete, column, ids: Sequence[str]) -> None:
    for chunk in sql.in_chunks(ids):
        conn.execute(statement.where(column.in_(chunk)))


def check_fields(changes: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidArgument(
            f"{what} fields {unknown} cannot be updated (updatable: {sorted(allowed)})",
            reason=reasons.INVALID_UPDATE_MASK,
            field="update_mask",
        )


# ---------------------------------------------------------------------------------------------


class StoreBase:
    """The database every part of the store runs its transactions in."""

    def __init__(self, database: sql.Database) -> None:
        self._database = database
        self._read: Callable[[], AbstractContextManager[Connection]] = database.read
        self._write: Callable[[], AbstractContextManager[Connection]] = database.write

    @property
    def database(self) -> sql.Database:
        """The database underneath, for backups."""
        return self._database

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._database.dialect

    def close(self) -> None:
        self._database.close()

    @staticmethod
    def _page(
        conn: Connection, query: Select, key: Column, page_size: int, page_token: str, fp: str
    ) -> tuple[list[Row], str]:
        return sql.keyset_page(conn, query, key, page_size, page_token, fp)

    def _lock_type(self, conn: Connection, type_id: str) -> None:
        """Locks the type's row: group membership changes of one type run one at a time."""
        if conn.execute(select(T.c.id).where(T.c.id == type_id).with_for_update()).first() is None:
            raise type_not_found(type_id)

    def _require_types(self, conn: Connection, type_ids: Sequence[str]) -> None:
        found = [row.id for row in select_in(conn, select(T.c.id), T.c.id, type_ids)]
        missing(type_ids, found, type_not_found)
