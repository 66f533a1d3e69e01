"""Task versions in the catalog's store, and the training graph a task trains on."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, Row, insert, select, update

from simmesh.catalog.graph import held_out
from simmesh.catalog.names import TASKS, version_name
from simmesh.catalog.records import GraphGroup, GraphImage, Task, TaskVersion, TrainingGraph
from simmesh.catalog.store.base import GI, GM, G, I, K, V, task_not_found, version_not_found
from simmesh.catalog.store.tasks import TaskRecords
from simmesh.kit import reasons, sql
from simmesh.kit.auth.tenancy import unscoped
from simmesh.kit.errors import AlreadyExists, InvalidArgument
from simmesh.kit.paging import Page, fingerprint


class TaskVersionRecords(TaskRecords):
    """Trained versions of tasks, and what the trainer reads."""

    def add_task_version(self, task_id: str, version: TaskVersion) -> TaskVersion:
        """Records a trained version. `version.number` 0 takes the next number (latest + 1);
        a number already used is AlreadyExists. The task's latest version follows, and its first
        version becomes its production version."""
        if version.number < 0:
            raise InvalidArgument(
                f"version number must be positive, got {version.number}", reason=reasons.INVALID_VERSION, field="number"
            )
        with self._write() as conn:
            task = self._lock_task(conn, task_id)
            number = version.number or task.latest_version + 1
            if conn.execute(select(V.c.number).where(V.c.task_id == task_id, V.c.number == number)).first():
                raise AlreadyExists(
                    f"{version_name(task_id, number)} already exists", reason=reasons.TASK_VERSION_ALREADY_EXISTS
                )
            conn.execute(
                insert(V).values(
                    task_id=task_id,
                    number=number,
                    model_version=version.model_version,
                    training_config=dict(version.training_config or {}),
                    metrics={k: float(v) for k, v in version.metrics.items()},
                    training_image_count=version.training_image_count,
                    training_group_count=version.training_group_count,
                    test_group_count=version.test_group_count,
                    training_seconds=float(version.training_seconds),
                    create_time=sql.now(),
                )
            )
            conn.execute(
                update(K)
                .where(K.c.id == task_id)
                .values(
                    latest_version=max(task.latest_version, number),
                    production_version=task.production_version or number,
                    update_time=sql.now(),
                )
            )
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
            conn.execute(update(K).where(K.c.id == task_id).values(production_version=number, update_time=sql.now()))
            return self._get_task(conn, task_id)

    def _get_version(self, conn: Connection, task_id: str, number: int) -> TaskVersion:
        row = conn.execute(select(V).where(V.c.task_id == task_id, V.c.number == number)).first()
        if row is None:
            if conn.execute(select(K.c.id).where(K.c.id == task_id)).first() is None:
                raise task_not_found(task_id)
            raise version_not_found(task_id, number)
        return _version_record(row)

    def training_graph(self, task_id: str) -> TrainingGraph:
        """The groups of the task's similarity types with their images, members and parents,
        split into training and test groups, and the images they name."""
        with self._read() as conn:
            task = self._get_task(conn, task_id)
            type_ids = list(task.similarity_types)
            rows = (
                conn.execute(
                    select(G.c.id, G.c.type_id, G.c.test).where(G.c.type_id.in_(type_ids)).order_by(G.c.id)
                ).all()
                if type_ids
                else []
            )
            group_ids = [row.id for row in rows]
            in_types = select(G.c.id).where(G.c.type_id.in_(type_ids))
            images: dict[str, list[str]] = defaultdict(list)
            members: dict[str, list[str]] = defaultdict(list)
            parents: dict[str, list[str]] = defaultdict(list)
            for group_id, image_id in conn.execute(
                select(GI.c.group_id, GI.c.image_id)
                .where(GI.c.group_id.in_(in_types))
                .order_by(GI.c.group_id, GI.c.image_id)
            ):
                images[group_id].append(image_id)
            for parent_id, member_id in conn.execute(
                select(GM.c.parent_id, GM.c.member_id)
                .where(GM.c.parent_id.in_(in_types))
                .order_by(GM.c.parent_id, GM.c.member_id)
            ):
                members[parent_id].append(member_id)
                parents[member_id].append(parent_id)
            image_ids = sorted({i for ids in images.values() for i in ids})
            image_rows = (
                conn.execute(
                    select(I.c.id, I.c.sha256, I.c.blob_key, I.c.uri, I.c.width, I.c.height).where(
                        I.c.id.in_(select(GI.c.image_id).where(GI.c.group_id.in_(in_types)))
                    )
                ).all()
                if group_ids
                else []
            )
        test = held_out([row.id for row in rows if row.test], members)
        graph_groups = {
            row.id: GraphGroup(
                id=row.id,
                similarity_type=row.type_id,
                images=tuple(images[row.id]),
                members=tuple(members[row.id]),
                parents=tuple(sorted(parents[row.id])),
            )
            for row in rows
        }
        by_id = {
            r.id: GraphImage(
                id=r.id, sha256=unscoped(r.sha256), blob_key=r.blob_key, uri=r.uri, width=r.width, height=r.height
            )
            for r in image_rows
        }
        return TrainingGraph(
            task=task,
            groups=tuple(graph_groups[g] for g in group_ids if g not in test),
            test_groups=tuple(graph_groups[g] for g in group_ids if g in test),
            images={i: by_id[i] for i in image_ids},
        )


def _version_record(row: Row) -> TaskVersion:
    return TaskVersion(
        number=row.number,
        model_version=row.model_version,
        training_config=dict(row.training_config or {}),
        metrics=dict(row.metrics or {}),
        training_image_count=row.training_image_count,
        training_group_count=row.training_group_count,
        test_group_count=row.test_group_count,
        training_seconds=row.training_seconds,
        task_id=row.task_id,
        create_time=sql.utc(row.create_time),
    )
