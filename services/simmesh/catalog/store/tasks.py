"""Tasks in the catalog's store: what a task trains on (its similarity types) and its config."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from simmesh.catalog.names import TASKS, check_id, task_model_id
from simmesh.catalog.records import Json, Task
from simmesh.catalog.store.base import KT, K, StoreBase, check_fields, delete_in, task_not_found
from simmesh.kit import reasons, sql
from simmesh.kit.errors import AlreadyExists
from simmesh.kit.names import new_id
from simmesh.kit.paging import Page, fingerprint

TASK_FIELDS = frozenset(
    {"display_name", "description", "similarity_types", "training_config", "training_config_fields"}
)


class TaskRecords(StoreBase):
    """Tasks and their links to similarity types."""

    def create_task(
        self,
        task_id: str | None = None,
        *,
        display_name: str = "",
        description: str = "",
        similarity_types: Sequence[str] = (),
        training_config: Json | None = None,
    ) -> Task:
        task_id = check_id(task_id, "task_id") if task_id else new_id()
        type_ids = list(dict.fromkeys(similarity_types))
        now = sql.now()
        with self._write() as conn:
            if conn.execute(select(K.c.id).where(K.c.id == task_id)).first() is not None:
                raise AlreadyExists(
                    f"{TASKS}/{task_id} already exists", reason=reasons.TASK_ALREADY_EXISTS, field="task_id"
                )
            self._require_types(conn, type_ids)
            conn.execute(
                insert(K).values(
                    id=task_id,
                    display_name=display_name,
                    description=description,
                    training_config=training_config or {},
                    model_id=task_model_id(task_id),
                    production_version=0,
                    latest_version=0,
                    create_time=now,
                    update_time=now,
                )
            )
            self._link_types(conn, task_id, type_ids)
            return self._get_task(conn, task_id)

    def get_task(self, task_id: str) -> Task:
        with self._read() as conn:
            return self._get_task(conn, task_id)

    def list_tasks(self, page_size: int = 0, page_token: str = "", *, tenant: str | None = None) -> Page[Task]:
        """Tasks by id; with `tenant`, only that tenant's (see sql.owned_by)."""
        query = select(K).where(sql.owned_by(K.c.id, tenant))
        with self._read() as conn:
            rows, token = self._page(conn, query, K.c.id, page_size, page_token, fingerprint(TASKS))
            return Page(self._task_records(conn, rows), token)

    def update_task(self, task_id: str, changes: Mapping[str, Any]) -> Task:
        """`changes` may hold display_name, description, similarity_types (replaces the list),
        training_config (replaces it) and training_config_fields (merged into it; None clears a key)."""
        check_fields(changes, TASK_FIELDS, "task")
        with self._write() as conn:
            row = self._lock_task(conn, task_id)
            values: dict[str, Any] = {k: changes[k] for k in ("display_name", "description") if k in changes}
            if "training_config" in changes or "training_config_fields" in changes:
                config = dict(changes.get("training_config", row.training_config) or {})
                for key, value in (changes.get("training_config_fields") or {}).items():
                    if value is None:
                        config.pop(key, None)
                    else:
                        config[key] = value
                values["training_config"] = config
            if "similarity_types" in changes:
                type_ids = list(dict.fromkeys(changes["similarity_types"]))
                self._require_types(conn, type_ids)
                conn.execute(delete(KT).where(KT.c.task_id == task_id))
                self._link_types(conn, task_id, type_ids)
            conn.execute(update(K).where(K.c.id == task_id).values(**values, update_time=sql.now()))
            return self._get_task(conn, task_id)

    def delete_task(self, task_id: str) -> None:
        """Deletes the task and its versions' records (the registry's model is not touched)."""
        with self._write() as conn:
            self._lock_task(conn, task_id)
            conn.execute(delete(K).where(K.c.id == task_id))

    def add_task_similarity_types(self, task_id: str, type_ids: Sequence[str]) -> Task:
        type_ids = list(dict.fromkeys(type_ids))
        with self._write() as conn:
            self._lock_task(conn, task_id)
            self._require_types(conn, type_ids)
            linked = set(conn.execute(select(KT.c.type_id).where(KT.c.task_id == task_id)).scalars())
            self._link_types(conn, task_id, [t for t in type_ids if t not in linked])
            conn.execute(update(K).where(K.c.id == task_id).values(update_time=sql.now()))
            return self._get_task(conn, task_id)

    def remove_task_similarity_types(self, task_id: str, type_ids: Sequence[str]) -> Task:
        type_ids = list(dict.fromkeys(type_ids))
        with self._write() as conn:
            self._lock_task(conn, task_id)
            self._require_types(conn, type_ids)
            if type_ids:
                delete_in(conn, delete(KT).where(KT.c.task_id == task_id), KT.c.type_id, type_ids)
            conn.execute(update(K).where(K.c.id == task_id).values(update_time=sql.now()))
            return self._get_task(conn, task_id)

    def _link_types(self, conn: Connection, task_id: str, type_ids: Sequence[str]) -> None:
        if type_ids:
            conn.execute(insert(KT), [{"task_id": task_id, "type_id": t} for t in type_ids])

    def _lock_task(self, conn: Connection, task_id: str) -> Row:
        row = conn.execute(select(K).where(K.c.id == task_id).with_for_update()).first()
        if row is None:
            raise task_not_found(task_id)
        return row

    def _get_task(self, conn: Connection, task_id: str) -> Task:
        row = conn.execute(select(K).where(K.c.id == task_id)).first()
        if row is None:
            raise task_not_found(task_id)
        return self._task_records(conn, [row])[0]

    def _task_records(self, conn: Connection, rows: Sequence[Row]) -> list[Task]:
        ids = [row.id for row in rows]
        types: dict[str, list[str]] = defaultdict(list)
        if ids:
            links = conn.execute(
                select(KT.c.task_id, KT.c.type_id).where(KT.c.task_id.in_(ids)).order_by(KT.c.task_id, KT.c.type_id)
            )
            for task_id, type_id in links:
                types[task_id].append(type_id)
        return [
            Task(
                id=row.id,
                display_name=row.display_name,
                description=row.description,
                similarity_types=tuple(types[row.id]),
                training_config=dict(row.training_config or {}),
                production_version=row.production_version,
                latest_version=row.latest_version,
                model_id=row.model_id,
                create_time=sql.utc(row.create_time),
                update_time=sql.utc(row.update_time),
            )
            for row in rows
        ]
