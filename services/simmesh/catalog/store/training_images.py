"""Training images in the catalog's store, unique by SHA-256, with the groups they belong to."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from simmesh.catalog.names import IMAGES
from simmesh.catalog.records import NewTrainingImage, TrainingImage
from simmesh.catalog.store.base import GI, G, I, check_fields, group_not_found, image_not_found, missing, select_in
from simmesh.catalog.store.groups import GroupRecords
from simmesh.kit import sql
from simmesh.kit.auth.tenancy import SEPARATOR, scoped, unscoped
from simmesh.kit.errors import Aborted, NotFound
from simmesh.kit.names import new_id
from simmesh.kit.paging import Page, fingerprint

IMAGE_FIELDS = frozenset({"metadata"})


class TrainingImageRecords(GroupRecords):
    """Training images; an image added with groups joins them in the same transaction."""

    def add_training_image(
        self, image: NewTrainingImage, groups: Sequence[str] = (), *, tenant: str = ""
    ) -> tuple[TrainingImage, bool]:
        """Stores `image` (its bytes already in the blob store) for `tenant` and adds it to `groups`;
        returns (the image, whether it is new). Bytes the tenant knows (same SHA-256) return its
        stored image, whose metadata stays as it is, and are added to `groups` all the same."""
        for attempt in range(2):
            try:
                return self._add_training_image(image, list(dict.fromkeys(groups)), tenant)
            except Aborted:  # the same bytes were stored concurrently: the retry finds them
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _add_training_image(
        self, image: NewTrainingImage, group_ids: list[str], tenant: str
    ) -> tuple[TrainingImage, bool]:
        with self._write() as conn:
            same = select(I.c.id).where(I.c.sha256 == scoped(image.sha256, tenant))
            existing = conn.execute(same).scalar()
            image_id = existing or scoped(new_id(), tenant)
            found = {row.id: row.type_id for row in select_in(conn, select(G.c.id, G.c.type_id), G.c.id, group_ids)}
            missing(group_ids, found, group_not_found)
            if existing is None:
                values = asdict(image) | {"id": image_id, "metadata": image.metadata or {}, "create_time": sql.now()}
                values["sha256"] = scoped(image.sha256, tenant)  # unique per tenant: racing uploads store one image
                conn.execute(insert(I).values(values))
            for type_id in sorted(set(found.values())):  # in one order: no deadlock between uploads
                try:
                    self._lock_type(conn, type_id)
                except NotFound:
                    pass  # deleted meanwhile, with its groups: the check below names them
            still = [row.id for row in select_in(conn, select(G.c.id), G.c.id, group_ids)]
            missing(group_ids, still, group_not_found)
            for group_id in group_ids:
                self._add_images(conn, group_id, [image_id])
            return self._get_image(conn, image_id), existing is None

    def get_training_image(self, image_id: str) -> TrainingImage:
        with self._read() as conn:
            return self._get_image(conn, image_id)

    def find_training_image(self, sha256: str) -> TrainingImage | None:
        """An image with these bytes, of any tenant, if one is stored."""
        with self._read() as conn:
            owners = or_(I.c.sha256 == sha256, I.c.sha256.like(f"%{SEPARATOR}{sha256}"))
            image_id = conn.execute(select(I.c.id).where(owners).limit(1)).scalar()
            return None if image_id is None else self._get_image(conn, image_id)

    def list_training_images(
        self, page_size: int = 0, page_token: str = "", *, group: str = "", tenant: str | None = None
    ) -> Page[TrainingImage]:
        """Images by id; with `group`, only that group's own images; with `tenant`, only that tenant's."""
        query = select(I).where(sql.owned_by(I.c.id, tenant))
        with self._read() as conn:
            if group:
                self._group_row(conn, group)
                query = query.where(I.c.id.in_(select(GI.c.image_id).where(GI.c.group_id == group)))
            rows, token = self._page(conn, query, I.c.id, page_size, page_token, fingerprint(IMAGES, group))
            return Page(self._image_records(conn, rows), token)

    def update_training_image(self, image_id: str, changes: Mapping[str, Any]) -> TrainingImage:
        check_fields(changes, IMAGE_FIELDS, "training image")
        with self._write() as conn:
            if conn.execute(select(I.c.id).where(I.c.id == image_id).with_for_update()).first() is None:
                raise image_not_found(image_id)
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
            raise image_not_found(image_id)
        return self._image_records(conn, [row])[0]

    def _image_records(self, conn: Connection, rows: Sequence[Row]) -> list[TrainingImage]:
        ids = [row.id for row in rows]
        groups: dict[str, list[str]] = defaultdict(list)
        if ids:
            for image_id, group_id in conn.execute(
                select(GI.c.image_id, GI.c.group_id).where(GI.c.image_id.in_(ids)).order_by(GI.c.group_id)
            ):
                groups[image_id].append(group_id)
        return [
            TrainingImage(
                id=row.id,
                sha256=unscoped(row.sha256),
                blob_key=row.blob_key,
                uri=row.uri,
                source_url=row.source_url,
                content_type=row.content_type,
                width=row.width,
                height=row.height,
                size_bytes=row.size_bytes,
                metadata=dict(row.metadata or {}),
                groups=tuple(groups[row.id]),
                create_time=sql.utc(row.create_time),
            )
            for row in rows
        ]
