"""Groups in the catalog's store, and the rules of their membership (kind, type, no cycles)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Delete, Row, Select, delete, insert, or_, select, update

from simmesh.catalog.graph import cycle_path
from simmesh.catalog.names import GROUPS, TYPES, check_id
from simmesh.catalog.records import Group, Json
from simmesh.catalog.store.base import (
    GI,
    GM,
    G,
    I,
    StoreBase,
    check_fields,
    delete_in,
    group_not_found,
    image_not_found,
    missing,
    select_in,
)
from simmesh.kit import reasons, sql
from simmesh.kit.errors import AlreadyExists, FailedPrecondition, NotFound
from simmesh.kit.names import new_id
from simmesh.kit.paging import Page, fingerprint

GROUP_FIELDS = frozenset({"display_name", "metadata", "test"})


class GroupRecords(StoreBase):
    """Groups: each holds training images or member groups of its similarity type."""

    def create_group(
        self,
        group_id: str | None,
        similarity_type: str,
        *,
        display_name: str = "",
        metadata: Json | None = None,
        test: bool = False,
        images: Sequence[str] = (),
        members: Sequence[str] = (),
    ) -> Group:
        group_id = check_id(group_id, "group_id") if group_id else new_id()
        now = sql.now()
        with self._write() as conn:
            self._lock_type(conn, similarity_type)
            if conn.execute(select(G.c.id).where(G.c.id == group_id)).first() is not None:
                raise AlreadyExists(
                    f"{GROUPS}/{group_id} already exists", reason=reasons.GROUP_ALREADY_EXISTS, field="group_id"
                )
            if images and members:
                raise FailedPrecondition(
                    f"{GROUPS}/{group_id} cannot hold both images and groups; create it with one kind of member",
                    reason=reasons.GROUP_KIND_MISMATCH,
                    metadata={"group": f"{GROUPS}/{group_id}"},
                )
            conn.execute(
                insert(G).values(
                    id=group_id,
                    type_id=similarity_type,
                    display_name=display_name,
                    metadata=metadata or {},
                    test=test,
                    create_time=now,
                    update_time=now,
                )
            )
            if images:
                self._add_images(conn, group_id, images)
            if members:
                self._add_members(conn, group_id, similarity_type, members)
            return self._get_group(conn, group_id)

    def get_group(self, group_id: str) -> Group:
        with self._read() as conn:
            return self._get_group(conn, group_id)

    def list_groups(
        self,
        page_size: int = 0,
        page_token: str = "",
        *,
        similarity_type: str = "",
        name_query: str = "",
        test: bool | None = None,
        parent: str = "",
        tenant: str | None = None,
    ) -> Page[Group]:
        """Groups by id; filtered by type, a case-insensitive substring of the id or display name,
        the test marking, membership of `parent` and the owning `tenant` (see sql.owned_by). Page
        tokens are bound to the filters."""
        fp = fingerprint(GROUPS, similarity_type, name_query, test, parent)
        query = select(G).where(sql.owned_by(G.c.id, tenant))
        with self._read() as conn:
            if similarity_type:
                self._require_types(conn, [similarity_type])
                query = query.where(G.c.type_id == similarity_type)
            if parent:
                self._group_row(conn, parent)
                query = query.where(G.c.id.in_(select(GM.c.member_id).where(GM.c.parent_id == parent)))
            if name_query:
                query = query.where(
                    or_(
                        G.c.id.icontains(name_query, autoescape=True),
                        G.c.display_name.icontains(name_query, autoescape=True),
                    )
                )
            if test is not None:
                query = query.where(G.c.test == test)
            rows, token = self._page(conn, query, G.c.id, page_size, page_token, fp)
            return Page(self._group_records(conn, rows), token)

    def update_group(self, group_id: str, changes: Mapping[str, Any]) -> Group:
        check_fields(changes, GROUP_FIELDS, "group")
        with self._write() as conn:
            self._group_row(conn, group_id, lock=True)
            values = {**changes, "update_time": sql.now()}
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
        return self._remove(
            group_id, image_ids, I.c.id, image_not_found, delete(GI).where(GI.c.group_id == group_id), GI.c.image_id
        )

    def add_group_members(self, group_id: str, member_ids: Sequence[str]) -> Group:
        with self._write() as conn:
            row = self._lock_group(conn, group_id)
            self._add_members(conn, group_id, row.type_id, member_ids)
            return self._get_group(conn, group_id)

    def remove_group_members(self, group_id: str, member_ids: Sequence[str]) -> Group:
        return self._remove(
            group_id, member_ids, G.c.id, group_not_found, delete(GM).where(GM.c.parent_id == group_id), GM.c.member_id
        )

    def _remove(
        self,
        group_id: str,
        ids: Sequence[str],
        known: Column,
        not_found: Callable[[str], NotFound],
        links: Delete,
        link: Column,
    ) -> Group:
        """Deletes the group's `links` to `ids`, each of which must exist (as `known`)."""
        ids = list(dict.fromkeys(ids))
        with self._write() as conn:
            self._lock_group(conn, group_id)
            if ids:
                found = [row[0] for row in select_in(conn, select(known), known, ids)]
                missing(ids, found, not_found)
                delete_in(conn, links, link, ids)
                self._touch_group(conn, group_id)
            return self._get_group(conn, group_id)

    def _add_images(self, conn: Connection, group_id: str, image_ids: Sequence[str]) -> None:
        """Adds images to a group; its type's row is locked by the caller."""
        image_ids = list(dict.fromkeys(image_ids))
        if not image_ids:
            return
        _refuse_other_kind(conn, group_id, "groups", select(GM.c.member_id).where(GM.c.parent_id == group_id))
        found = [row.id for row in select_in(conn, select(I.c.id), I.c.id, image_ids)]
        missing(image_ids, found, image_not_found)
        present = {
            row.image_id
            for row in select_in(conn, select(GI.c.image_id).where(GI.c.group_id == group_id), GI.c.image_id, image_ids)
        }
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
        _refuse_other_kind(conn, group_id, "images", select(GI.c.image_id).where(GI.c.group_id == group_id))
        types = {row.id: row.type_id for row in select_in(conn, select(G.c.id, G.c.type_id), G.c.id, member_ids)}
        missing(member_ids, types, group_not_found)
        for member_id in member_ids:
            if types[member_id] != type_id:
                raise FailedPrecondition(
                    f"{GROUPS}/{member_id} is of {TYPES}/{types[member_id]}, not {TYPES}/{type_id} like "
                    f"{GROUPS}/{group_id}; member groups must share their parent's similarity type",
                    reason=reasons.GROUP_TYPE_MISMATCH,
                    metadata={"group": f"{GROUPS}/{group_id}", "member": f"{GROUPS}/{member_id}"},
                )
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
                    reason=reasons.GROUP_CYCLE,
                    metadata={"path": shown},
                )
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
            raise group_not_found(group_id) from None
        return self._group_row(conn, group_id)

    @staticmethod
    def _touch_group(conn: Connection, group_id: str) -> None:
        conn.execute(update(G).where(G.c.id == group_id).values(update_time=sql.now()))

    @staticmethod
    def _group_row(conn: Connection, group_id: str, lock: bool = False) -> Row:
        query = select(G).where(G.c.id == group_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise group_not_found(group_id)
        return row

    def _get_group(self, conn: Connection, group_id: str) -> Group:
        return self._group_records(conn, [self._group_row(conn, group_id)])[0]

    def _group_records(self, conn: Connection, rows: Sequence[Row]) -> list[Group]:
        ids = [row.id for row in rows]
        images: dict[str, list[str]] = defaultdict(list)
        members: dict[str, list[str]] = defaultdict(list)
        parents: dict[str, list[str]] = defaultdict(list)
        if ids:
            for group_id, image_id in conn.execute(
                select(GI.c.group_id, GI.c.image_id).where(GI.c.group_id.in_(ids)).order_by(GI.c.image_id)
            ):
                images[group_id].append(image_id)
            for parent_id, member_id in conn.execute(
                select(GM.c.parent_id, GM.c.member_id)
                .where(or_(GM.c.parent_id.in_(ids), GM.c.member_id.in_(ids)))
                .order_by(GM.c.parent_id, GM.c.member_id)
            ):
                members[parent_id].append(member_id)
                parents[member_id].append(parent_id)
        return [
            Group(
                id=row.id,
                similarity_type=row.type_id,
                display_name=row.display_name,
                metadata=dict(row.metadata or {}),
                test=bool(row.test),
                images=tuple(images[row.id]),
                members=tuple(sorted(members[row.id])),
                parents=tuple(sorted(parents[row.id])),
                create_time=sql.utc(row.create_time),
                update_time=sql.utc(row.update_time),
            )
            for row in rows
        ]


def _refuse_other_kind(conn: Connection, group_id: str, holds: str, held: Select) -> None:
    """FailedPrecondition GROUP_KIND_MISMATCH when the group already `holds` the other kind of
    member (`held` selects them)."""
    if conn.execute(held.limit(1)).first() is not None:
        raise FailedPrecondition(
            f"{GROUPS}/{group_id} holds {holds}; a group holds images or groups, never both",
            reason=reasons.GROUP_KIND_MISMATCH,
            metadata={"group": f"{GROUPS}/{group_id}", "holds": holds},
        )
