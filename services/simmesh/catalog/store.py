"""The catalog's metadata: one store over SQLAlchemy Core, SQLite or PostgreSQL.

    store = open_catalog_store("sqlite:////var/lib/simmesh/catalog.sqlite")   # or postgresql://...
    shoes = store.create_similarity_type("shoes", display_name="Same shoe")
    group = store.create_group("sneaker-42", "shoes", images=[image.id])
    graph = store.training_graph("my-task")                  # what the trainer reads
    store.add_task_version("my-task", TaskVersion(number=0, model_version="models/task-my-task/versions/3",
                                                   metrics={"recall@1": 0.91}))

Every public method is one transaction: it commits whole or raises and stores nothing. Writes on
SQLite take the write lock up front (`BEGIN IMMEDIATE`); on PostgreSQL they lock the rows a rule
depends on (`SELECT ... FOR UPDATE`), and reads run at REPEATABLE READ so a record built from
several queries is one snapshot.

Rules kept here:

- a group holds images or groups, never both (FailedPrecondition GROUP_KIND_MISMATCH);
- member groups have the parent's similarity type (FailedPrecondition GROUP_TYPE_MISMATCH), so
  a type's hierarchy is self-contained and group-of-group edges never cross types;
- no cycles, a group inside itself included (FailedPrecondition GROUP_CYCLE, naming the path);
- a task's types exist (NotFound SIMILARITY_TYPE_NOT_FOUND);
- deleting a type deletes its groups, their memberships and the tasks' links to it; deleting an
  image or a group removes its memberships; task versions refer to no group or image and stay.
- images are unique by SHA-256: adding known bytes returns the stored image.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import (
    Connection, Delete, Engine, Row, Select, delete, func, insert, or_, select, update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from simmesh.catalog import schema
from simmesh.catalog.graph import cycle_path, held_out
from simmesh.catalog.model import (
    GraphGroup,
    GraphImage,
    Group,
    Json,
    NewTrainingImage,
    Page,
    SimilarityType,
    Task,
    TaskVersion,
    TrainingGraph,
    TrainingImage,
)
from simmesh.catalog.names import GROUPS, IMAGES, TASKS, TYPES, check_id, new_id, task_model_id, version_name
from simmesh.kit import sql
from simmesh.kit.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from simmesh.kit.paging import clamp_page_size, decode_page_token, encode_page_token, fingerprint

T = schema.similarity_types
K = schema.tasks
KT = schema.task_types
G = schema.groups
I = schema.training_images  # noqa: E741 - the table of images
GI = schema.group_images
GM = schema.group_members
V = schema.task_versions

TYPE_FIELDS = frozenset({"display_name", "description", "metadata"})
TASK_FIELDS = frozenset({"display_name", "description", "similarity_types", "training_config",
                         "training_config_fields"})
GROUP_FIELDS = frozenset({"display_name", "metadata", "test"})
IMAGE_FIELDS = frozenset({"metadata"})

_WRITE = sql.WRITE_OPTION
# Missing ids an error's metadata lists at most.
_MISSING_SHOWN = 20


def default_db_url(data_dir: str | os.PathLike[str]) -> str:
    """`sqlite:///DATA_DIR/catalog.sqlite` (absolute)."""
    return sql.default_db_url(data_dir, "catalog")


def open_catalog_store(url: str) -> CatalogStore:
    """A store over `url` (an SQLAlchemy URL), its tables created if missing."""
    engine = sql.open_engine(url)
    schema.metadata.create_all(engine)
    return CatalogStore(engine)


_now = sql.now
_utc = sql.utc


# ---------------------------------------------------------------------------------------------
# Errors


def _type_not_found(type_id: str) -> NotFound:
    return NotFound(f"{TYPES}/{type_id} does not exist", reason="SIMILARITY_TYPE_NOT_FOUND",
                    metadata={"name": f"{TYPES}/{type_id}"})


def _task_not_found(task_id: str) -> NotFound:
    return NotFound(f"{TASKS}/{task_id} does not exist", reason="TASK_NOT_FOUND",
                    metadata={"name": f"{TASKS}/{task_id}"})


def _group_not_found(group_id: str) -> NotFound:
    return NotFound(f"{GROUPS}/{group_id} does not exist", reason="GROUP_NOT_FOUND",
                    metadata={"name": f"{GROUPS}/{group_id}"})


def _image_not_found(image_id: str) -> NotFound:
    return NotFound(f"{IMAGES}/{image_id} does not exist", reason="TRAINING_IMAGE_NOT_FOUND",
                    metadata={"name": f"{IMAGES}/{image_id}"})


def _version_not_found(task_id: str, number: int) -> NotFound:
    name = version_name(task_id, number)
    return NotFound(f"{name} does not exist", reason="TASK_VERSION_NOT_FOUND", metadata={"name": name})


def _missing(ids: Sequence[str], found: Iterable[str], not_found: Callable[[str], NotFound]) -> None:
    """NotFound for the first id of `ids` not in `found` (naming how many more are missing)."""
    present = set(found)
    absent = [i for i in ids if i not in present]
    if not absent:
        return
    first = not_found(absent[0])
    if len(absent) == 1:
        raise first
    raise NotFound(f"{first.message} (and {len(absent) - 1} more)", reason=first.reason,
                   metadata={**first.metadata, "missing": ",".join(absent[:_MISSING_SHOWN])})


def _select_in(conn: Connection, query: Select, column, ids: Sequence[str]) -> list[Row]:  # noqa: ANN001
    """`query` for rows whose `column` is one of `ids`, a few hundred ids per statement (SQLite
    caps the number of bound parameters)."""
    rows: list[Row] = []
    for chunk in sql.in_chunks(ids):
        rows.extend(conn.execute(query.where(column.in_(chunk))).all())
    return rows


def _delete_in(conn: Connection, statement: Delete, column, ids: Sequence[str]) -> None:  # noqa: ANN001
    for chunk in sql.in_chunks(ids):
        conn.execute(statement.where(column.in_(chunk)))


def _check_fields(changes: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidArgument(f"{what} fields {unknown} cannot be updated (updatable: {sorted(allowed)})",
                              reason="INVALID_UPDATE_MASK", field="update_mask")


# ---------------------------------------------------------------------------------------------
# The store


class CatalogStore:
    """Similarity types, tasks, groups, training images and task versions. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        try:
            with self._engine.connect() as connection:
                options: dict[str, Any] = {_WRITE: write}
                if self._postgres and not write:
                    options["isolation_level"] = "REPEATABLE READ"
                connection.execution_options(**options)
                with connection.begin():
                    yield connection
        except IntegrityError as error:
            raise Aborted("the catalog changed concurrently; retry the call", reason="CONCURRENT_CHANGE") from error
        except OperationalError as error:
            raise Unavailable(f"the catalog database is unavailable: {error.orig}",
                              reason="CATALOG_DB_UNAVAILABLE") from error

    def _read(self) -> AbstractContextManager[Connection]:
        return self._transaction(write=False)

    def _write(self) -> AbstractContextManager[Connection]:
        return self._transaction(write=True)

    # -- paging

    @staticmethod
    def _page(conn: Connection, query: Select, key, page_size: int, page_token: str,  # noqa: ANN001
              fp: str) -> tuple[list[Row], str]:
        size = clamp_page_size(page_size)
        position = decode_page_token(page_token, fp)
        if position is not None:
            after = position.get("after")
            if not isinstance(after, (str, int)) or isinstance(after, bool):
                raise InvalidArgument("page_token is malformed", reason="INVALID_PAGE_TOKEN", field="page_token")
            query = query.where(key > after)
        rows = conn.execute(query.order_by(key).limit(size + 1)).all()
        if len(rows) <= size:
            return list(rows), ""
        rows = rows[:size]
        return list(rows), encode_page_token({"after": rows[-1]._mapping[key]}, fp)

    # =========================================================================================
    # Similarity types

    def create_similarity_type(self, type_id: str | None = None, *, display_name: str = "",
                               description: str = "", metadata: Json | None = None) -> SimilarityType:
        type_id = check_id(type_id, "similarity_type_id") if type_id else new_id()
        now = _now()
        with self._write() as conn:
            if conn.execute(select(T.c.id).where(T.c.id == type_id)).first() is not None:
                raise AlreadyExists(f"{TYPES}/{type_id} already exists", reason="SIMILARITY_TYPE_ALREADY_EXISTS",
                                    field="similarity_type_id")
            conn.execute(insert(T).values(id=type_id, display_name=display_name, description=description,
                                          metadata=metadata or {}, create_time=now, update_time=now))
            return self._get_type(conn, type_id)

    def get_similarity_type(self, type_id: str) -> SimilarityType:
        with self._read() as conn:
            return self._get_type(conn, type_id)

    def list_similarity_types(self, page_size: int = 0, page_token: str = "") -> Page[SimilarityType]:
        with self._read() as conn:
            rows, token = self._page(conn, _type_query(), T.c.id, page_size, page_token, fingerprint(TYPES))
            return Page([_type_record(row) for row in rows], token)

    def update_similarity_type(self, type_id: str, changes: Mapping[str, Any]) -> SimilarityType:
        _check_fields(changes, TYPE_FIELDS, "similarity type")
        with self._write() as conn:
            self._lock_type(conn, type_id)
            values = {**changes, "update_time": _now()}
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
            raise _type_not_found(type_id)
        return _type_record(row)

    def _lock_type(self, conn: Connection, type_id: str) -> None:
        """Locks the type's row: group membership changes of one type run one at a time."""
        if conn.execute(select(T.c.id).where(T.c.id == type_id).with_for_update()).first() is None:
            raise _type_not_found(type_id)

    def _require_types(self, conn: Connection, type_ids: Sequence[str]) -> None:
        found = [row.id for row in _select_in(conn, select(T.c.id), T.c.id, type_ids)]
        _missing(type_ids, found, _type_not_found)

    # =========================================================================================
    # Tasks

    def create_task(self, task_id: str | None = None, *, display_name: str = "", description: str = "",
                    similarity_types: Sequence[str] = (), training_config: Json | None = None) -> Task:
        task_id = check_id(task_id, "task_id") if task_id else new_id()
        type_ids = list(dict.fromkeys(similarity_types))
        now = _now()
        with self._write() as conn:
            if conn.execute(select(K.c.id).where(K.c.id == task_id)).first() is not None:
                raise AlreadyExists(f"{TASKS}/{task_id} already exists", reason="TASK_ALREADY_EXISTS",
                                    field="task_id")
            self._require_types(conn, type_ids)
            conn.execute(insert(K).values(
                id=task_id, display_name=display_name, description=description,
                training_config=training_config or {}, model_id=task_model_id(task_id),
                production_version=0, latest_version=0, create_time=now, update_time=now))
            self._link_types(conn, task_id, type_ids)
            return self._get_task(conn, task_id)

    def get_task(self, task_id: str) -> Task:
        with self._read() as conn:
            return self._get_task(conn, task_id)

    def list_tasks(self, page_size: int = 0, page_token: str = "") -> Page[Task]:
        with self._read() as conn:
            rows, token = self._page(conn, select(K), K.c.id, page_size, page_token, fingerprint(TASKS))
            return Page(self._task_records(conn, rows), token)

    def update_task(self, task_id: str, changes: Mapping[str, Any]) -> Task:
        """`changes` may hold display_name, description, similarity_types (replaces the list),
        training_config (replaces it) and training_config_fields (merged into it; None clears a key)."""
        _check_fields(changes, TASK_FIELDS, "task")
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
            conn.execute(update(K).where(K.c.id == task_id).values(**values, update_time=_now()))
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
            conn.execute(update(K).where(K.c.id == task_id).values(update_time=_now()))
            return self._get_task(conn, task_id)

    def remove_task_similarity_types(self, task_id: str, type_ids: Sequence[str]) -> Task:
        type_ids = list(dict.fromkeys(type_ids))
        with self._write() as conn:
            self._lock_task(conn, task_id)
            self._require_types(conn, type_ids)
            if type_ids:
                _delete_in(conn, delete(KT).where(KT.c.task_id == task_id), KT.c.type_id, type_ids)
            conn.execute(update(K).where(K.c.id == task_id).values(update_time=_now()))
            return self._get_task(conn, task_id)

    def _link_types(self, conn: Connection, task_id: str, type_ids: Sequence[str]) -> None:
        if type_ids:
            conn.execute(insert(KT), [{"task_id": task_id, "type_id": t} for t in type_ids])

    def _lock_task(self, conn: Connection, task_id: str) -> Row:
        row = conn.execute(select(K).where(K.c.id == task_id).with_for_update()).first()
        if row is None:
            raise _task_not_found(task_id)
        return row

    def _get_task(self, conn: Connection, task_id: str) -> Task:
        row = conn.execute(select(K).where(K.c.id == task_id)).first()
        if row is None:
            raise _task_not_found(task_id)
        return self._task_records(conn, [row])[0]

    def _task_records(self, conn: Connection, rows: Sequence[Row]) -> list[Task]:
        ids = [row.id for row in rows]
        types: dict[str, list[str]] = defaultdict(list)
        if ids:
            links = conn.execute(select(KT.c.task_id, KT.c.type_id).where(KT.c.task_id.in_(ids))
                                 .order_by(KT.c.task_id, KT.c.type_id))
            for task_id, type_id in links:
                types[task_id].append(type_id)
        return [
            Task(id=row.id, display_name=row.display_name, description=row.description,
                 similarity_types=tuple(types[row.id]), training_config=dict(row.training_config or {}),
                 production_version=row.production_version, latest_version=row.latest_version,
                 model_id=row.model_id, create_time=_utc(row.create_time), update_time=_utc(row.update_time))
            for row in rows
        ]

    # =========================================================================================
    # Groups

    def create_group(self, group_id: str | None, similarity_type: str, *, display_name: str = "",
                     metadata: Json | None = None, test: bool = False, images: Sequence[str] = (),
                     members: Sequence[str] = ()) -> Group:
        group_id = check_id(group_id, "group_id") if group_id else new_id()
        now = _now()
        with self._write() as conn:
            self._lock_type(conn, similarity_type)
            if conn.execute(select(G.c.id).where(G.c.id == group_id)).first() is not None:
                raise AlreadyExists(f"{GROUPS}/{group_id} already exists", reason="GROUP_ALREADY_EXISTS",
                                    field="group_id")
            if images and members:
                raise FailedPrecondition(
                    f"{GROUPS}/{group_id} cannot hold both images and groups; create it with one kind of member",
                    reason="GROUP_KIND_MISMATCH", metadata={"group": f"{GROUPS}/{group_id}"})
            conn.execute(insert(G).values(id=group_id, type_id=similarity_type, display_name=display_name,
                                          metadata=metadata or {}, test=test, create_time=now, update_time=now))
            if images:
                self._add_images(conn, group_id, images)
            if members:
                self._add_members(conn, group_id, similarity_type, members)
            return self._get_group(conn, group_id)

    def get_group(self, group_id: str) -> Group:
        with self._read() as conn:
            return self._get_group(conn, group_id)

    def list_groups(self, page_size: int = 0, page_token: str = "", *, similarity_type: str = "",
                    name_query: str = "", test: bool | None = None, parent: str = "") -> Page[Group]:
        """Groups by id; filtered by type, a case-insensitive substring of the id or display name,
        the test marking, and membership of `parent`. Page tokens are bound to the filters."""
        fp = fingerprint(GROUPS, similarity_type, name_query, test, parent)
        query = select(G)
        with self._read() as conn:
            if similarity_type:
                self._require_types(conn, [similarity_type])
                query = query.where(G.c.type_id == similarity_type)
            if parent:
                self._group_row(conn, parent)
                query = query.where(G.c.id.in_(select(GM.c.member_id).where(GM.c.parent_id == parent)))
            if name_query:
                query = query.where(or_(G.c.id.icontains(name_query, autoescape=True),
                                        G.c.display_name.icontains(name_query, autoescape=True)))
            if test is not None:
                query = query.where(G.c.test == test)
            rows, token = self._page(conn, query, G.c.id, page_size, page_token, fp)
            return Page(self._group_records(conn, rows), token)

    def update_group(self, group_id: str, changes: Mapping[str, Any]) -> Group:
        _check_fields(changes, GROUP_FIELDS, "group")
        with self._write() as conn:
            self._group_row(conn, group_id, lock=True)
            values = {**changes, "update_time": _now()}
            if "metadata" in values:
                values["metadata"] = values["metadata"] or {}
            conn.execute(update(G).where(G.c.id == group_id).values(**values))
            return self._get_group(conn, group_id)

    def delete_group(self, group_id: str) -> None:
        """Deletes the group and its memberships (its members and images stay)."""
        with self._write() as conn:
            self._lock_group(conn, group_id)
            conn.execute(delete(G).where(G.c.id == group_id))

    def add_group_images(self, group_id: str, image_ids: Sequence[str]) -> Group:
        with self._write() as conn:
            self._lock_group(conn, group_id)
            self._add_images(conn, group_id, image_ids)
            return self._get_group(conn, group_id)

    def remove_group_images(self, group_id: str, image_ids: Sequence[str]) -> Group:
        image_ids = list(dict.fromkeys(image_ids))
        with self._write() as conn:
            self._lock_group(conn, group_id)
            if image_ids:
                found = [row.id for row in _select_in(conn, select(I.c.id), I.c.id, image_ids)]
                _missing(image_ids, found, _image_not_found)
                _delete_in(conn, delete(GI).where(GI.c.group_id == group_id), GI.c.image_id, image_ids)
                self._touch_group(conn, group_id)
            return self._get_group(conn, group_id)

    def add_group_members(self, group_id: str, member_ids: Sequence[str]) -> Group:
        with self._write() as conn:
            row = self._lock_group(conn, group_id)
            self._add_members(conn, group_id, row.type_id, member_ids)
            return self._get_group(conn, group_id)

    def remove_group_members(self, group_id: str, member_ids: Sequence[str]) -> Group:
        member_ids = list(dict.fromkeys(member_ids))
        with self._write() as conn:
            self._lock_group(conn, group_id)
            if member_ids:
                found = [row.id for row in _select_in(conn, select(G.c.id), G.c.id, member_ids)]
                _missing(member_ids, found, _group_not_found)
                _delete_in(conn, delete(GM).where(GM.c.parent_id == group_id), GM.c.member_id, member_ids)
                self._touch_group(conn, group_id)
            return self._get_group(conn, group_id)

    def _add_images(self, conn: Connection, group_id: str, image_ids: Sequence[str]) -> None:
        """Adds images to a group; its type's row is locked by the caller."""
        image_ids = list(dict.fromkeys(image_ids))
        if not image_ids:
            return
        if conn.execute(select(GM.c.member_id).where(GM.c.parent_id == group_id).limit(1)).first() is not None:
            raise FailedPrecondition(
                f"{GROUPS}/{group_id} holds groups; a group holds images or groups, never both",
                reason="GROUP_KIND_MISMATCH", metadata={"group": f"{GROUPS}/{group_id}", "holds": "groups"})
        found = [row.id for row in _select_in(conn, select(I.c.id), I.c.id, image_ids)]
        _missing(image_ids, found, _image_not_found)
        present = {row.image_id for row in _select_in(conn, select(GI.c.image_id).where(GI.c.group_id == group_id),
                                                      GI.c.image_id, image_ids)}
        fresh = [i for i in image_ids if i not in present]
        if fresh:
            conn.execute(insert(GI), [{"group_id": group_id, "image_id": i} for i in fresh])
            self._touch_group(conn, group_id)

    def _add_members(self, conn: Connection, group_id: str, type_id: str, member_ids: Sequence[str]) -> None:
        """Adds member groups; the type's row is locked by the caller, so the cycle check sees
        every edge of the type."""
        member_ids = list(dict.fromkeys(member_ids))
        if not member_ids:
            return
        if conn.execute(select(GI.c.image_id).where(GI.c.group_id == group_id).limit(1)).first() is not None:
            raise FailedPrecondition(
                f"{GROUPS}/{group_id} holds images; a group holds images or groups, never both",
                reason="GROUP_KIND_MISMATCH", metadata={"group": f"{GROUPS}/{group_id}", "holds": "images"})
        types = {row.id: row.type_id for row in _select_in(conn, select(G.c.id, G.c.type_id), G.c.id, member_ids)}
        _missing(member_ids, types, _group_not_found)
        for member_id in member_ids:
            if types[member_id] != type_id:
                raise FailedPrecondition(
                    f"{GROUPS}/{member_id} is of {TYPES}/{types[member_id]}, not {TYPES}/{type_id} like "
                    f"{GROUPS}/{group_id}; member groups must share their parent's similarity type",
                    reason="GROUP_TYPE_MISMATCH",
                    metadata={"group": f"{GROUPS}/{group_id}", "member": f"{GROUPS}/{member_id}"})
        edges = self._member_edges(conn, type_id)
        fresh = []
        for member_id in member_ids:
            if member_id in edges[group_id]:
                continue
            path = cycle_path(edges, group_id, member_id)
            if path is not None:
                shown = " -> ".join(f"{GROUPS}/{g}" for g in path)
                raise FailedPrecondition(
                    f"adding {GROUPS}/{member_id} to {GROUPS}/{group_id} would make a cycle: {shown}",
                    reason="GROUP_CYCLE", metadata={"path": shown})
            edges[group_id].add(member_id)
            fresh.append(member_id)
        if fresh:
            conn.execute(insert(GM), [{"parent_id": group_id, "member_id": m} for m in fresh])
            self._touch_group(conn, group_id)

    @staticmethod
    def _member_edges(conn: Connection, type_id: str) -> defaultdict[str, set[str]]:
        edges: defaultdict[str, set[str]] = defaultdict(set)
        query = select(GM.c.parent_id, GM.c.member_id).join(G, G.c.id == GM.c.parent_id).where(G.c.type_id == type_id)
        for parent_id, member_id in conn.execute(query):
            edges[parent_id].add(member_id)
        return edges

    def _lock_group(self, conn: Connection, group_id: str) -> Row:
        """The group's row, read again after locking its type's row."""
        row = self._group_row(conn, group_id)
        try:
            self._lock_type(conn, row.type_id)
        except NotFound:
            raise _group_not_found(group_id) from None
        return self._group_row(conn, group_id)

    @staticmethod
    def _touch_group(conn: Connection, group_id: str) -> None:
        conn.execute(update(G).where(G.c.id == group_id).values(update_time=_now()))

    @staticmethod
    def _group_row(conn: Connection, group_id: str, lock: bool = False) -> Row:
        query = select(G).where(G.c.id == group_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise _group_not_found(group_id)
        return row

    def _get_group(self, conn: Connection, group_id: str) -> Group:
        return self._group_records(conn, [self._group_row(conn, group_id)])[0]

    def _group_records(self, conn: Connection, rows: Sequence[Row]) -> list[Group]:
        ids = [row.id for row in rows]
        images: dict[str, list[str]] = defaultdict(list)
        members: dict[str, list[str]] = defaultdict(list)
        parents: dict[str, list[str]] = defaultdict(list)
        if ids:
            for group_id, image_id in conn.execute(select(GI.c.group_id, GI.c.image_id)
                                                   .where(GI.c.group_id.in_(ids)).order_by(GI.c.image_id)):
                images[group_id].append(image_id)
            for parent_id, member_id in conn.execute(select(GM.c.parent_id, GM.c.member_id)
                                                     .where(or_(GM.c.parent_id.in_(ids), GM.c.member_id.in_(ids)))
                                                     .order_by(GM.c.parent_id, GM.c.member_id)):
                members[parent_id].append(member_id)
                parents[member_id].append(parent_id)
        return [
            Group(id=row.id, similarity_type=row.type_id, display_name=row.display_name,
                  metadata=dict(row.metadata or {}), test=bool(row.test), images=tuple(images[row.id]),
                  members=tuple(sorted(members[row.id])), parents=tuple(sorted(parents[row.id])),
                  create_time=_utc(row.create_time), update_time=_utc(row.update_time))
            for row in rows
        ]

    # =========================================================================================
    # Training images

    def add_training_image(self, image: NewTrainingImage, groups: Sequence[str] = ()) -> tuple[TrainingImage, bool]:
        """Stores `image` (its bytes already in the blob store) and adds it to `groups`; returns
        (the image, whether it is new). Known bytes (same SHA-256) return the stored image,
        whose metadata stays as it is, and are added to `groups` all the same."""
        for attempt in range(2):
            try:
                return self._add_training_image(image, list(dict.fromkeys(groups)))
            except Aborted:  # the same bytes were stored concurrently: the retry finds them
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _add_training_image(self, image: NewTrainingImage, group_ids: list[str]) -> tuple[TrainingImage, bool]:
        with self._write() as conn:
            existing = conn.execute(select(I.c.id).where(I.c.sha256 == image.sha256)).scalar()
            image_id = existing or new_id()
            found = {row.id: row.type_id for row in _select_in(conn, select(G.c.id, G.c.type_id), G.c.id, group_ids)}
            _missing(group_ids, found, _group_not_found)
            if existing is None:
                conn.execute(insert(I).values(
                    id=image_id, sha256=image.sha256, blob_key=image.blob_key, uri=image.uri,
                    source_url=image.source_url, content_type=image.content_type, size_bytes=image.size_bytes,
                    width=image.width, height=image.height, metadata=image.metadata or {}, create_time=_now()))
            for type_id in sorted(set(found.values())):  # in one order: no deadlock between uploads
                try:
                    self._lock_type(conn, type_id)
                except NotFound:
                    pass  # deleted meanwhile, with its groups: the check below names them
            still = [row.id for row in _select_in(conn, select(G.c.id), G.c.id, group_ids)]
            _missing(group_ids, still, _group_not_found)
            for group_id in group_ids:
                self._add_images(conn, group_id, [image_id])
            return self._get_image(conn, image_id), existing is None

    def get_training_image(self, image_id: str) -> TrainingImage:
        with self._read() as conn:
            return self._get_image(conn, image_id)

    def find_training_image(self, sha256: str) -> TrainingImage | None:
        """The image with these bytes, if one is stored."""
        with self._read() as conn:
            image_id = conn.execute(select(I.c.id).where(I.c.sha256 == sha256)).scalar()
            return None if image_id is None else self._get_image(conn, image_id)

    def list_training_images(self, page_size: int = 0, page_token: str = "", *, group: str = "") -> Page[TrainingImage]:
        """Images by id; with `group`, only that group's own images."""
        query = select(I)
        with self._read() as conn:
            if group:
                self._group_row(conn, group)
                query = query.where(I.c.id.in_(select(GI.c.image_id).where(GI.c.group_id == group)))
            rows, token = self._page(conn, query, I.c.id, page_size, page_token, fingerprint(IMAGES, group))
            return Page(self._image_records(conn, rows), token)

    def update_training_image(self, image_id: str, changes: Mapping[str, Any]) -> TrainingImage:
        _check_fields(changes, IMAGE_FIELDS, "training image")
        with self._write() as conn:
            if conn.execute(select(I.c.id).where(I.c.id == image_id).with_for_update()).first() is None:
                raise _image_not_found(image_id)
            if "metadata" in changes:
                conn.execute(update(I).where(I.c.id == image_id).values(metadata=changes["metadata"] or {}))
            return self._get_image(conn, image_id)

    def delete_training_image(self, image_id: str) -> TrainingImage:
        """Deletes the image's record and its memberships; returns what was deleted (the caller
        owns the blob)."""
        with self._write() as conn:
            image = self._get_image(conn, image_id)
            conn.execute(delete(I).where(I.c.id == image_id))
            return image

    def _get_image(self, conn: Connection, image_id: str) -> TrainingImage:
        row = conn.execute(select(I).where(I.c.id == image_id)).first()
        if row is None:
            raise _image_not_found(image_id)
        return self._image_records(conn, [row])[0]

    def _image_records(self, conn: Connection, rows: Sequence[Row]) -> list[TrainingImage]:
        ids = [row.id for row in rows]
        groups: dict[str, list[str]] = defaultdict(list)
        if ids:
            for image_id, group_id in conn.execute(select(GI.c.image_id, GI.c.group_id)
                                                   .where(GI.c.image_id.in_(ids)).order_by(GI.c.group_id)):
                groups[image_id].append(group_id)
        return [
            TrainingImage(id=row.id, sha256=row.sha256, blob_key=row.blob_key, uri=row.uri, source_url=row.source_url,
                          content_type=row.content_type, width=row.width, height=row.height,
                          size_bytes=row.size_bytes, metadata=dict(row.metadata or {}),
                          groups=tuple(groups[row.id]), create_time=_utc(row.create_time))
            for row in rows
        ]

    # =========================================================================================
    # Task versions

    def add_task_version(self, task_id: str, version: TaskVersion) -> TaskVersion:
        """Records a trained version. `version.number` 0 takes the next number (latest + 1);
        a number already used is AlreadyExists. The task's latest version follows, and its first
        version becomes its production version."""
        if version.number < 0:
            raise InvalidArgument(f"version number must be positive, got {version.number}",
                                  reason="INVALID_VERSION", field="number")
        with self._write() as conn:
            task = self._lock_task(conn, task_id)
            number = version.number or task.latest_version + 1
            if conn.execute(select(V.c.number).where(V.c.task_id == task_id, V.c.number == number)).first():
                raise AlreadyExists(f"{version_name(task_id, number)} already exists",
                                    reason="TASK_VERSION_ALREADY_EXISTS")
            conn.execute(insert(V).values(
                task_id=task_id, number=number, model_version=version.model_version,
                training_config=dict(version.training_config or {}),
                metrics={k: float(v) for k, v in version.metrics.items()},
                training_image_count=version.training_image_count,
                training_group_count=version.training_group_count,
                test_group_count=version.test_group_count, training_seconds=float(version.training_seconds),
                create_time=_now()))
            conn.execute(update(K).where(K.c.id == task_id).values(
                latest_version=max(task.latest_version, number),
                production_version=task.production_version or number, update_time=_now()))
            return self._get_version(conn, task_id, number)

    def get_task_version(self, task_id: str, number: int) -> TaskVersion:
        with self._read() as conn:
            return self._get_version(conn, task_id, number)

    def list_task_versions(self, task_id: str, page_size: int = 0, page_token: str = "") -> Page[TaskVersion]:
        """Versions of a task by number."""
        with self._read() as conn:
            self._get_task(conn, task_id)
            query = select(V).where(V.c.task_id == task_id)
            rows, token = self._page(conn, query, V.c.number, page_size, page_token, fingerprint(TASKS, task_id))
            return Page([_version_record(row) for row in rows], token)

    def set_production_version(self, task_id: str, number: int) -> Task:
        with self._write() as conn:
            self._lock_task(conn, task_id)
            self._get_version(conn, task_id, number)
            conn.execute(update(K).where(K.c.id == task_id).values(production_version=number, update_time=_now()))
            return self._get_task(conn, task_id)

    def _get_version(self, conn: Connection, task_id: str, number: int) -> TaskVersion:
        row = conn.execute(select(V).where(V.c.task_id == task_id, V.c.number == number)).first()
        if row is None:
            if conn.execute(select(K.c.id).where(K.c.id == task_id)).first() is None:
                raise _task_not_found(task_id)
            raise _version_not_found(task_id, number)
        return _version_record(row)

    # =========================================================================================
    # What the trainer reads

    def training_graph(self, task_id: str) -> TrainingGraph:
        """The groups of the task's similarity types with their images, members and parents,
        split into training and test groups, and the images they name."""
        with self._read() as conn:
            task = self._get_task(conn, task_id)
            type_ids = list(task.similarity_types)
            rows = conn.execute(select(G.c.id, G.c.type_id, G.c.test).where(G.c.type_id.in_(type_ids))
                                .order_by(G.c.id)).all() if type_ids else []
            group_ids = [row.id for row in rows]
            in_types = select(G.c.id).where(G.c.type_id.in_(type_ids))
            images: dict[str, list[str]] = defaultdict(list)
            members: dict[str, list[str]] = defaultdict(list)
            parents: dict[str, list[str]] = defaultdict(list)
            for group_id, image_id in conn.execute(select(GI.c.group_id, GI.c.image_id)
                                                   .where(GI.c.group_id.in_(in_types))
                                                   .order_by(GI.c.group_id, GI.c.image_id)):
                images[group_id].append(image_id)
            for parent_id, member_id in conn.execute(select(GM.c.parent_id, GM.c.member_id)
                                                     .where(GM.c.parent_id.in_(in_types))
                                                     .order_by(GM.c.parent_id, GM.c.member_id)):
                members[parent_id].append(member_id)
                parents[member_id].append(parent_id)
            image_ids = sorted({i for ids in images.values() for i in ids})
            image_rows = conn.execute(select(I.c.id, I.c.sha256, I.c.blob_key, I.c.uri, I.c.width, I.c.height)
                                      .where(I.c.id.in_(select(GI.c.image_id).where(GI.c.group_id.in_(in_types))))
                                      ).all() if group_ids else []
        test = held_out([row.id for row in rows if row.test], members)
        graph_groups = {
            row.id: GraphGroup(id=row.id, similarity_type=row.type_id, images=tuple(images[row.id]),
                               members=tuple(members[row.id]), parents=tuple(sorted(parents[row.id])))
            for row in rows
        }
        by_id = {r.id: GraphImage(id=r.id, sha256=r.sha256, blob_key=r.blob_key, uri=r.uri, width=r.width,
                                  height=r.height) for r in image_rows}
        return TrainingGraph(
            task=task,
            groups=tuple(graph_groups[g] for g in group_ids if g not in test),
            test_groups=tuple(graph_groups[g] for g in group_ids if g in test),
            images={i: by_id[i] for i in image_ids},
        )


def _type_query() -> Select:
    count = select(func.count()).select_from(G).where(G.c.type_id == T.c.id).scalar_subquery()
    return select(T, count.label("group_count"))


def _type_record(row: Row) -> SimilarityType:
    return SimilarityType(id=row.id, display_name=row.display_name, description=row.description,
                          metadata=dict(row.metadata or {}), group_count=int(row.group_count),
                          create_time=_utc(row.create_time), update_time=_utc(row.update_time))


def _version_record(row: Row) -> TaskVersion:
    return TaskVersion(number=row.number, model_version=row.model_version,
                       training_config=dict(row.training_config or {}), metrics=dict(row.metrics or {}),
                       training_image_count=row.training_image_count, training_group_count=row.training_group_count,
                       test_group_count=row.test_group_count, training_seconds=row.training_seconds,
                       task_id=row.task_id, create_time=_utc(row.create_time))
