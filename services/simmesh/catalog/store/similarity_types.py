"""Similarity types in the catalog's store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, func, insert, select, update

from simmesh.catalog.names import TYPES, check_id
from simmesh.catalog.records import Json, SimilarityType
from simmesh.catalog.store.base import G, StoreBase, T, check_fields, type_not_found
from simmesh.kit import reasons, sql
from simmesh.kit.errors import AlreadyExists
from simmesh.kit.names import new_id
from simmesh.kit.paging import Page, fingerprint

TYPE_FIELDS = frozenset({"display_name", "description", "metadata"})


class SimilarityTypeRecords(StoreBase):
    """Similarity types: each names what "similar" means for its groups."""

    def create_similarity_type(
        self, type_id: str | None = None, *, display_name: str = "", description: str = "", metadata: Json | None = None
    ) -> SimilarityType:
        type_id = check_id(type_id, "similarity_type_id") if type_id else new_id()
        now = sql.now()
        with self._write() as conn:
            if conn.execute(select(T.c.id).where(T.c.id == type_id)).first() is not None:
                raise AlreadyExists(
                    f"{TYPES}/{type_id} already exists",
                    reason=reasons.SIMILARITY_TYPE_ALREADY_EXISTS,
                    field="similarity_type_id",
                )
            conn.execute(
                insert(T).values(
                    id=type_id,
                    display_name=display_name,
                    description=description,
                    metadata=metadata or {},
                    create_time=now,
                    update_time=now,
                )
            )
            return self._get_type(conn, type_id)

    def get_similarity_type(self, type_id: str) -> SimilarityType:
        with self._read() as conn:
            return self._get_type(conn, type_id)

    def list_similarity_types(
        self, page_size: int = 0, page_token: str = "", *, tenant: str | None = None
    ) -> Page[SimilarityType]:
        """Types by id; with `tenant`, only that tenant's (see sql.owned_by)."""
        query = _type_query().where(sql.owned_by(T.c.id, tenant))
        with self._read() as conn:
            rows, token = self._page(conn, query, T.c.id, page_size, page_token, fingerprint(TYPES))
            return Page([_type_record(row) for row in rows], token)

    def update_similarity_type(self, type_id: str, changes: Mapping[str, Any]) -> SimilarityType:
        check_fields(changes, TYPE_FIELDS, "similarity type")
        with self._write() as conn:
            self._lock_type(conn, type_id)
            values = {**changes, "update_time": sql.now()}
            if "metadata" in values:
                values["metadata"] = values["metadata"] or {}
            conn.execute(update(T).where(T.c.id == type_id).values(**values))
            return self._get_type(conn, type_id)

    def delete_similarity_type(self, type_id: str) -> None:
        """Deletes the type, its groups (and their memberships) and the tasks' links to it."""
        with self._write() as conn:
            self._lock_type(conn, type_id)
            conn.execute(delete(T).where(T.c.id == type_id))

    def _get_type(self, conn: Connection, type_id: str) -> SimilarityType:
        row = conn.execute(_type_query().where(T.c.id == type_id)).first()
        if row is None:
            raise type_not_found(type_id)
        return _type_record(row)


def _type_query() -> Select:
    count = select(func.count()).select_from(G).where(G.c.type_id == T.c.id).scalar_subquery()
    return select(T, count.label("group_count"))


def _type_record(row: Row) -> SimilarityType:
    return SimilarityType(
        id=row.id,
        display_name=row.display_name,
        description=row.description,
        metadata=dict(row.metadata or {}),
        group_count=int(row.group_count),
        create_time=sql.utc(row.create_time),
        update_time=sql.utc(row.update_time),
    )
