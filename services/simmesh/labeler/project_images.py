"""ProjectImages of a project: add (labeled or to the pool), relabel, delete, review suggestions.

The store is the source of truth; the collection's records carry the same `labels` and `state`
in their metadata (what searches filter and vote on). Every write goes to the indexer first and
to the store only once the indexer has acknowledged it; when the store then fails, the indexer's
records are put back as they were, so nothing is half-saved. Items that fail (bad id or labels,
an undecodable image, an existing id without upsert) are reported with their position and
leave nothing behind.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from simmesh.kit import reasons
from simmesh.kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, SimmeshError
from simmesh.kit.names import new_id
from simmesh.kit.paging import Page
from simmesh.labeler.backends import Backends
from simmesh.labeler.batches import ItemFailure, at_field, check_batch
from simmesh.labeler.collection import CollectionRecord
from simmesh.labeler.names import check_image_id, check_labels
from simmesh.labeler.records import Image, Json, LabelCount, NewImage, Project, State, state_of
from simmesh_proto.v1 import common_pb2

log = logging.getLogger("simmesh.labeler")


@dataclass(frozen=True)
class ImageItem:
    id: str
    image: common_pb2.Image
    labels: tuple[str, ...] = ()
    metadata: Json = field(default_factory=dict)


@dataclass(frozen=True)
class AddResult:
    # In request order; empty where the item failed.
    ids: builtins.list[str]
    failures: builtins.list[ItemFailure]


@dataclass(frozen=True)
class ReviewItem:
    image_id: str
    # "accept", "change", "reject"; "" when unspecified.
    action: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewResult:
    accepted: int
    changed: int
    rejected: int
    failures: builtins.list[ItemFailure]


def image_url(image: common_pb2.Image) -> str:
    return image.url or image.uri


class ProjectImages:
    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    # ================================================================================ read

    async def get(self, project_id: str, image_id: str) -> Image:
        found = await self.backends.run(self.backends.store.get_images, project_id, [image_id])
        if image_id not in found:
            raise image_not_found(project_id, image_id)
        return found[image_id]

    async def list(
        self, project_id: str, page_size: int, page_token: str, label: str, states: Sequence[State]
    ) -> Page[Image]:
        return await self.backends.run(
            self.backends.store.list_images, project_id, page_size, page_token, label=label, states=states
        )

    async def labels(self, project_id: str, page_size: int, page_token: str) -> Page[LabelCount]:
        return await self.backends.run(self.backends.store.label_counts, project_id, page_size, page_token)

    # ================================================================================ add

    async def add(self, project_id: str, items: Sequence[ImageItem], upsert: bool, timeout: float | None) -> AddResult:
        backends = self.backends
        project = await backends.project(project_id)
        check_batch(len(items), "images")
        failures: dict[int, SimmeshError] = {}
        ids = [""] * len(items)
        labels: builtins.list[tuple[str, ...]] = [()] * len(items)
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            try:
                ids[i] = check_image_id(item.id, f"images[{i}].id") if item.id else new_id()
                labels[i] = check_labels(item.labels, f"images[{i}].labels")
                if ids[i] in seen:
                    raise InvalidArgument(
                        f"images[{i}].id {ids[i]!r} repeats images[{seen[ids[i]]}].id",
                        reason=reasons.DUPLICATE_ID,
                        field=f"images[{i}].id",
                    )
                seen[ids[i]] = i
            except SimmeshError as error:
                failures[i] = error
        async with backends.writing(project_id):
            good = [i for i in range(len(items)) if i not in failures]
            existing = await backends.run(backends.store.get_images, project_id, [ids[i] for i in good])
            if not upsert:
                for i in good:
                    if ids[i] in existing:
                        failures[i] = AlreadyExists(
                            f"image {ids[i]!r} already exists (set upsert to replace it)",
                            reason=reasons.IMAGE_EXISTS,
                            field=f"images[{i}].id",
                        )
                good = [i for i in good if i not in failures]
            if good:
                vectors, embed_failures = await backends.embedding.embed(
                    project.model_version, [items[i].image for i in good], timeout
                )
                rows = {}
                for j, i in enumerate(good):
                    if j in embed_failures:
                        failures[i] = at_field(embed_failures[j], f"images[{i}].image")
                    else:
                        rows[i] = vectors[j]
                good = [i for i in good if i not in failures]
                records = [
                    CollectionRecord(ids[i], rows[i], image_url(items[i].image), labels[i], state_of(labels[i]).value)
                    for i in good
                ]
                new = [
                    NewImage(ids[i], labels[i], state_of(labels[i]), image_url(items[i].image), items[i].metadata)
                    for i in good
                ]
                await self.write_new(
                    project,
                    records,
                    new,
                    good,
                    failures,
                    replace=upsert,
                    replaced=[ids[i] for i in good if ids[i] in existing],
                    timeout=timeout,
                )
        for i in failures:
            ids[i] = ""
        return AddResult(ids, [ItemFailure(i, ids[i] or items[i].id, failures[i]) for i in sorted(failures)])

    async def write_new(
        self,
        project: Project,
        records: builtins.list[CollectionRecord],
        new: builtins.list[NewImage],
        positions: builtins.list[int],
        failures: dict[int, SimmeshError],
        *,
        replace: bool,
        replaced: builtins.list[str],
        timeout: float | None,
    ) -> builtins.list[int]:
        """Indexer first, then the store; returns the positions stored. Failed items go to `failures`."""
        backends = self.backends
        previous = await backends.collections.get_records(project.collection, replaced, timeout) if replaced else {}
        item_failures = await backends.collections.upsert(project.collection, records, timeout) if records else {}
        for j, error in item_failures.items():
            failures[positions[j]] = error
        kept = [j for j in range(len(records)) if j not in item_failures]
        if not kept:
            return []
        try:
            await backends.run(backends.store.put_images, project.id, [new[j] for j in kept], replace=replace)
        except BaseException:
            await self._restore(project, [records[j].id for j in kept], previous, timeout)
            raise
        return [positions[j] for j in kept]

    async def _restore(
        self, project: Project, written: Sequence[str], previous: Mapping[str, CollectionRecord], timeout: float | None
    ) -> None:
        """Puts the collection's records back as they were before a write the store refused."""
        backends = self.backends
        try:
            await backends.collections.delete_records(
                project.collection, [i for i in written if i not in previous], timeout
            )
            if previous:
                await backends.collections.upsert(project.collection, list(previous.values()), timeout)
        except SimmeshError:
            log.exception("could not restore the records of %s after a failed write", project.collection)

    # ============================================================================ relabel

    async def relabel(
        self,
        project: Project,
        changes: Sequence[tuple[str, tuple[str, ...], State]],
        timeout: float | None,
        metadata: Mapping[str, Json] | None = None,
    ) -> dict[str, Image]:
        """Sets labels and states of existing images: indexer metadata first, then the store.
        Call inside `backends.writing(project.id)`."""
        backends = self.backends
        ids = [image_id for image_id, _, _ in changes]
        previous = await backends.collections.get_records(project.collection, ids, timeout)
        missing = [i for i in ids if i not in previous]
        if missing:
            raise FailedPrecondition(
                f"image {missing[0]!r} has no vector in {project.collection}; add it again with upsert",
                reason=reasons.IMAGE_VECTOR_MISSING,
            )
        records = [
            CollectionRecord(i, previous[i].vector, previous[i].url, labels, state.value)
            for i, labels, state in changes
        ]
        item_failures = await backends.collections.upsert(project.collection, records, timeout)
        if item_failures:
            await self._restore(project, [], previous, timeout)
            raise next(iter(item_failures.values()))
        try:
            return await backends.run(backends.store.set_labels, project.id, list(changes), metadata)
        except BaseException:
            await self._restore(project, [], previous, timeout)
            raise

    async def update(
        self,
        project_id: str,
        image_id: str,
        paths: Sequence[str],
        labels: Sequence[str],
        metadata: Json,
        timeout: float | None,
    ) -> Image:
        """Changes an image's labels (it becomes LABELED, or POOL without labels) and/or metadata."""
        allowed = {"labels", "metadata"}
        if not paths or set(paths) - allowed:
            raise InvalidArgument(
                f"update_mask must name labels and/or metadata, got {list(paths)}",
                reason=reasons.INVALID_UPDATE_MASK,
                field="update_mask",
            )
        new_labels = check_labels(tuple(labels), "image.labels")
        backends = self.backends
        async with backends.writing(project_id):
            project = await backends.project(project_id)
            current = (await backends.run(backends.store.get_images, project_id, [image_id])).get(image_id)
            if current is None:
                raise image_not_found(project_id, image_id)
            if "labels" not in paths:
                new_labels, state = current.labels, current.state
            else:
                state = state_of(new_labels)
            changed = await self.relabel(
                project, [(image_id, new_labels, state)], timeout, {image_id: metadata} if "metadata" in paths else None
            )
            return changed[image_id]

    # ============================================================================= delete

    async def delete(
        self, project_id: str, ids: Sequence[str], timeout: float | None
    ) -> tuple[int, builtins.list[str]]:
        """Deletes the images among `ids` (vectors first); returns the count and the missing ids."""
        if not ids:
            raise InvalidArgument("ids must not be empty", reason=reasons.EMPTY_BATCH, field="ids")
        backends = self.backends
        async with backends.writing(project_id):
            project = await backends.project(project_id)
            existing = await backends.run(backends.store.get_images, project_id, list(ids))
            await backends.collections.delete_records(project.collection, list(existing), timeout)
            deleted = await backends.run(backends.store.delete_images, project_id, list(existing))
        return len(deleted), [i for i in dict.fromkeys(ids) if i not in existing]

    # ============================================================================= review

    async def review(self, project_id: str, reviews: Sequence[ReviewItem], timeout: float | None) -> ReviewResult:
        """Accept (keep the suggested labels), change (take the given ones) or reject (back to the pool)
        suggestions; each reviewed image must be SUGGESTED."""
        check_batch(len(reviews), "reviews")
        backends = self.backends
        failures: dict[int, SimmeshError] = {}
        counts = {"accept": 0, "change": 0, "reject": 0}
        async with backends.writing(project_id):
            project = await backends.project(project_id)
            current = await backends.run(backends.store.get_images, project_id, [r.image_id for r in reviews])
            changes: dict[int, tuple[str, tuple[str, ...], State]] = {}
            seen: dict[str, int] = {}
            for i, review in enumerate(reviews):
                try:
                    changes[i] = _decide(i, review, current.get(review.image_id), project_id, seen)
                    seen[review.image_id] = i
                except SimmeshError as error:
                    failures[i] = error
            if changes:
                await self.relabel(project, list(changes.values()), timeout)
                for i in changes:
                    counts[reviews[i].action] += 1
        return ReviewResult(
            counts["accept"],
            counts["change"],
            counts["reject"],
            [ItemFailure(i, reviews[i].image_id, failures[i]) for i in sorted(failures)],
        )


def _decide(
    i: int, review: ReviewItem, image: Image | None, project_id: str, seen: Mapping[str, int]
) -> tuple[str, tuple[str, ...], State]:
    if review.action not in ("accept", "change", "reject"):
        raise InvalidArgument(
            f"reviews[{i}].action must be ACCEPT, CHANGE or REJECT",
            reason=reasons.INVALID_ACTION,
            field=f"reviews[{i}].action",
        )
    if review.image_id in seen:
        raise InvalidArgument(
            f"reviews[{i}] reviews image {review.image_id!r} again (reviews[{seen[review.image_id]}])",
            reason=reasons.DUPLICATE_ID,
            field=f"reviews[{i}].image_id",
        )
    if image is None:
        raise at_field(image_not_found(project_id, review.image_id), f"reviews[{i}].image_id")
    if image.state is not State.SUGGESTED:
        raise FailedPrecondition(
            f"image {image.id!r} is {image.state.value}, not suggested; change its labels with UpdateImage",
            reason=reasons.IMAGE_NOT_SUGGESTED,
            field=f"reviews[{i}].image_id",
        )
    if review.action == "accept":
        return image.id, image.labels, State.LABELED
    if review.action == "reject":
        return image.id, (), State.POOL
    labels = check_labels(review.labels, f"reviews[{i}].labels")
    if not labels:
        raise InvalidArgument(
            f"reviews[{i}].labels must not be empty to change a suggestion (reject it instead)",
            reason=reasons.MISSING_LABELS,
            field=f"reviews[{i}].labels",
        )
    return image.id, labels, State.LABELED


def image_not_found(project_id: str, image_id: str) -> NotFound:
    name = f"projects/{project_id}/images/{image_id}"
    return NotFound(f"{name} does not exist", reason=reasons.IMAGE_NOT_FOUND, metadata={"name": name})
