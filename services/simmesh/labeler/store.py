"""The labeler's source of truth: projects, images, their labels and states, over SQLAlchemy Core
(SQLite by default, PostgreSQL with a URL).

    store = open_labeler_store(default_db_url(data_dir))
    store.put_images("birds", [NewImage("img-1", ("robin",), State.LABELED)], replace=False)
    page = store.list_images("birds", label="robin")

Every public method is one transaction: it commits whole or raises and stores nothing. Writes on
SQLite take the write lock up front (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, case, delete, func, insert, select, update

from simmesh.kit import reasons, sql
from simmesh.kit.errors import AlreadyExists, InvalidArgument, NotFound
from simmesh.kit.paging import Page, fingerprint
from simmesh.labeler import schema
from simmesh.labeler.names import project_name
from simmesh.labeler.records import Image, LabelCount, NewImage, NewProject, Project, State

P = schema.projects
I = schema.images  # noqa: E741 - the table of images
L = schema.image_labels

PROJECT_FIELDS = frozenset({"display_name", "description", "default_k", "default_threshold", "default_use_first"})


def default_db_url(data_dir: str | os.PathLike[str]) -> str:
    """`sqlite:///DATA_DIR/labeler.sqlite` (absolute)."""
    return sql.default_db_url(data_dir, "labeler")


def open_labeler_store(url: str) -> LabelerStore:
    """A store over `url` (an SQLAlchemy URL), its tables created if missing."""
    return LabelerStore(sql.open_database(url, schema.metadata, "labeler", "the labeler's data"))


_now = sql.now
_utc = sql.utc


def project_not_found(project_id: str) -> NotFound:
    return NotFound(
        f"{project_name(project_id)} does not exist",
        reason=reasons.PROJECT_NOT_FOUND,
        metadata={"name": project_name(project_id)},
    )


class LabelerStore:
    """Projects and their images. Thread-safe; callers run it in threads."""

    def __init__(self, database: sql.Database) -> None:
        self._database = database
        self._read = database.read
        self._write = database.write

    @property
    def database(self) -> sql.Database:
        """The database underneath, for backups."""
        return self._database

    def close(self) -> None:
        self._database.close()

    # =========================================================================== projects

    def create_project(self, new: NewProject) -> Project:
        now = _now()
        with self._write() as conn:
            if conn.execute(select(P.c.id).where(P.c.id == new.id)).first() is not None:
                raise AlreadyExists(
                    f"{project_name(new.id)} already exists", reason=reasons.PROJECT_EXISTS, field="project_id"
                )
            conn.execute(
                insert(P).values(
                    id=new.id,
                    display_name=new.display_name,
                    description=new.description,
                    model=new.model,
                    model_version=new.model_version,
                    collection=new.collection,
                    default_k=new.default_k,
                    default_threshold=new.default_threshold,
                    default_use_first=new.default_use_first,
                    create_time=now,
                    update_time=now,
                )
            )
            return self._project(conn, new.id)

    def has_project(self, project_id: str) -> bool:
        with self._read() as conn:
            return conn.execute(select(P.c.id).where(P.c.id == project_id)).first() is not None

    def get_project(self, project_id: str) -> Project:
        with self._read() as conn:
            return self._project(conn, project_id)

    def list_projects(self, page_size: int = 0, page_token: str = "", *, tenant: str | None = None) -> Page[Project]:
        """Projects by id; with `tenant`, only that tenant's (see sql.owned_by)."""
        query = select(P.c.id).where(sql.owned_by(P.c.id, tenant))
        with self._read() as conn:
            rows, token = sql.keyset_page(conn, query, P.c.id, page_size, page_token, fingerprint("projects"))
            return Page([self._project(conn, row.id) for row in rows], token)

    def update_project(self, project_id: str, changes: Mapping[str, Any]) -> Project:
        unknown = sorted(set(changes) - PROJECT_FIELDS)
        if unknown:
            raise InvalidArgument(
                f"project fields {unknown} cannot be updated", reason=reasons.INVALID_UPDATE_MASK, field="update_mask"
            )
        with self._write() as conn:
            self._project(conn, project_id)
            conn.execute(update(P).where(P.c.id == project_id).values(**changes, update_time=_now()))
            return self._project(conn, project_id)

    def delete_project(self, project_id: str) -> None:
        with self._write() as conn:
            self._project(conn, project_id)
            conn.execute(delete(L).where(L.c.project_id == project_id))
            conn.execute(delete(I).where(I.c.project_id == project_id))
            conn.execute(delete(P).where(P.c.id == project_id))

    def _project(self, conn: Connection, project_id: str) -> Project:
        row = conn.execute(select(P).where(P.c.id == project_id)).first()
        if row is None:
            raise project_not_found(project_id)
        counts: dict[str, int] = dict(
            conn.execute(select(I.c.state, func.count()).where(I.c.project_id == project_id).group_by(I.c.state))
            .tuples()
            .all()
        )
        return Project(
            id=row.id,
            display_name=row.display_name,
            description=row.description,
            model=row.model,
            model_version=row.model_version,
            collection=row.collection,
            default_k=row.default_k,
            default_threshold=row.default_threshold,
            default_use_first=bool(row.default_use_first),
            labeled_count=counts.get(State.LABELED.value, 0),
            pool_count=counts.get(State.POOL.value, 0),
            create_time=_utc(row.create_time),
            update_time=_utc(row.update_time),
        )

    def _require_project(self, conn: Connection, project_id: str) -> None:
        if conn.execute(select(P.c.id).where(P.c.id == project_id)).first() is None:
            raise project_not_found(project_id)

    # ============================================================================= images

    def get_images(self, project_id: str, ids: Sequence[str]) -> dict[str, Image]:
        """The images among `ids` that exist, by id."""
        with self._read() as conn:
            self._require_project(conn, project_id)
            return self._images(conn, project_id, list(dict.fromkeys(ids)))

    def put_images(self, project_id: str, images: Sequence[NewImage], *, replace: bool) -> None:
        """Adds the images; with `replace`, an existing id is overwritten (its create time kept)."""
        now = _now()
        ids = [image.id for image in images]
        with self._write() as conn:
            self._require_project(conn, project_id)
            existing = self._create_times(conn, project_id, ids)
            if existing and not replace:
                first = next(iter(existing))
                raise AlreadyExists(f"image {first!r} already exists", reason=reasons.IMAGE_EXISTS)
            self._delete(conn, project_id, list(existing))
            if images:
                conn.execute(
                    insert(I),
                    [
                        {
                            "project_id": project_id,
                            "id": image.id,
                            "state": image.state.value,
                            "url": image.url,
                            "metadata": image.metadata,
                            "create_time": existing.get(image.id, now),
                            "update_time": now,
                        }
                        for image in images
                    ],
                )
            self._insert_labels(conn, project_id, [(image.id, image.labels, image.state) for image in images])

    def set_labels(
        self,
        project_id: str,
        changes: Sequence[tuple[str, tuple[str, ...], State]],
        metadata: Mapping[str, dict] | None = None,
    ) -> dict[str, Image]:
        """Replaces the labels and state (and, where given, the metadata) of existing images."""
        ids = [image_id for image_id, _, _ in changes]
        now = _now()
        with self._write() as conn:
            self._require_project(conn, project_id)
            missing = set(ids) - set(self._create_times(conn, project_id, ids))
            if missing:
                raise NotFound(f"image {sorted(missing)[0]!r} does not exist", reason=reasons.IMAGE_NOT_FOUND)
            for chunk in sql.in_chunks(ids):
                conn.execute(delete(L).where(and_(L.c.project_id == project_id, L.c.image_id.in_(chunk))))
            for image_id, _, state in changes:
                values: dict[str, Any] = {"state": state.value, "update_time": now}
                if metadata and image_id in metadata:
                    values["metadata"] = metadata[image_id]
                conn.execute(update(I).where(and_(I.c.project_id == project_id, I.c.id == image_id)).values(**values))
            self._insert_labels(conn, project_id, changes)
            return self._images(conn, project_id, ids)

    def delete_images(self, project_id: str, ids: Sequence[str]) -> list[str]:
        """Deletes the images that exist among `ids`; returns their ids."""
        ids = list(dict.fromkeys(ids))
        with self._write() as conn:
            self._require_project(conn, project_id)
            found = [i for i in ids if i in self._create_times(conn, project_id, ids)]
            self._delete(conn, project_id, found)
            return found

    def list_images(
        self,
        project_id: str,
        page_size: int = 0,
        page_token: str = "",
        *,
        label: str = "",
        states: Sequence[State] = (),
    ) -> Page[Image]:
        fp = fingerprint("images", project_id, label, sorted(s.value for s in states))
        with self._read() as conn:
            self._require_project(conn, project_id)
            query = select(I.c.id).where(I.c.project_id == project_id)
            if states:
                query = query.where(I.c.state.in_([s.value for s in states]))
            if label:
                query = query.where(
                    I.c.id.in_(select(L.c.image_id).where(and_(L.c.project_id == project_id, L.c.label == label)))
                )
            rows, token = sql.keyset_page(conn, query, I.c.id, page_size, page_token, fp)
            found = self._images(conn, project_id, [row.id for row in rows])
            return Page([found[row.id] for row in rows], token)

    def image_labels(self, project_id: str, states: Sequence[State]) -> dict[str, tuple[str, ...]]:
        """Every image in these states with its labels, by id."""
        with self._read() as conn:
            self._require_project(conn, project_id)
            rows = conn.execute(
                select(L.c.image_id, L.c.label)
                .where(and_(L.c.project_id == project_id, L.c.state.in_([s.value for s in states])))
                .order_by(L.c.image_id, L.c.position)
            ).all()
        out: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            out[row.image_id].append(row.label)
        return {image_id: tuple(labels) for image_id, labels in out.items()}

    def label_counts(self, project_id: str, page_size: int = 0, page_token: str = "") -> Page[LabelCount]:
        with self._read() as conn:
            self._require_project(conn, project_id)
            query = (
                select(
                    L.c.label,
                    func.sum(case((L.c.state == State.LABELED.value, 1), else_=0)).label("labeled"),
                    func.sum(case((L.c.state == State.SUGGESTED.value, 1), else_=0)).label("suggested"),
                )
                .where(L.c.project_id == project_id)
                .group_by(L.c.label)
            )
            rows, token = sql.keyset_page(
                conn, query, L.c.label, page_size, page_token, fingerprint("labels", project_id)
            )
            return Page([LabelCount(row.label, int(row.labeled), int(row.suggested)) for row in rows], token)

    # -- helpers

    def _create_times(self, conn: Connection, project_id: str, ids: Sequence[str]) -> dict[str, datetime]:
        out: dict[str, datetime] = {}
        for chunk in sql.in_chunks(list(dict.fromkeys(ids))):
            rows = conn.execute(
                select(I.c.id, I.c.create_time).where(and_(I.c.project_id == project_id, I.c.id.in_(chunk)))
            ).all()
            out.update({row.id: _utc(row.create_time) for row in rows})
        return out

    def _images(self, conn: Connection, project_id: str, ids: Sequence[str]) -> dict[str, Image]:
        rows: list[Row] = []
        labels: dict[str, list[str]] = defaultdict(list)
        for chunk in sql.in_chunks(list(ids)):
            rows += conn.execute(select(I).where(and_(I.c.project_id == project_id, I.c.id.in_(chunk)))).all()
            for row in conn.execute(
                select(L.c.image_id, L.c.label)
                .where(and_(L.c.project_id == project_id, L.c.image_id.in_(chunk)))
                .order_by(L.c.position)
            ).all():
                labels[row.image_id].append(row.label)
        return {
            row.id: Image(
                id=row.id,
                labels=tuple(labels.get(row.id, ())),
                state=State(row.state),
                url=row.url,
                metadata=row.metadata or {},
                create_time=_utc(row.create_time),
                update_time=_utc(row.update_time),
            )
            for row in rows
        }

    def _delete(self, conn: Connection, project_id: str, ids: Sequence[str]) -> None:
        for chunk in sql.in_chunks(list(ids)):
            conn.execute(delete(L).where(and_(L.c.project_id == project_id, L.c.image_id.in_(chunk))))
            conn.execute(delete(I).where(and_(I.c.project_id == project_id, I.c.id.in_(chunk))))

    @staticmethod
    def _insert_labels(conn: Connection, project_id: str, items: Sequence[tuple[str, tuple[str, ...], State]]) -> None:
        rows = [
            {"project_id": project_id, "image_id": image_id, "label": label, "position": position, "state": state.value}
            for image_id, labels, state in items
            for position, label in enumerate(labels)
        ]
        if rows:
            conn.execute(insert(L), rows)
