"""SuggestLabels: label suggestions for a batch from each image's nearest labeled images.

A batch costs one Embed call for its new images (one StreamEmbed call beyond 512 images) and one
Search call with a query per image (one per 1,000 queries beyond that), filtered to the images
whose labels vote (LABELED and SUGGESTED). ProjectImages already in the project are looked up by id
(one BatchGetRecords call) and left out of their own neighbours. Scores follow `votes`.

With `save`, new images are stored with their suggested labels (state SUGGESTED, or POOL when
no label reached the threshold) and existing pool or suggested images take the new suggestion,
so the next batch votes with them; LABELED images are never overwritten by a suggestion.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simmesh.kit import reasons
from simmesh.kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, SimmeshError
from simmesh.kit.names import new_id
from simmesh.labeler.backends import Backends
from simmesh.labeler.batches import ItemFailure, at_field, check_batch
from simmesh.labeler.collection import CollectionRecord, metadata_labels
from simmesh.labeler.names import check_image_id
from simmesh.labeler.params import GivenParams, resolve_params
from simmesh.labeler.project_images import ProjectImages, image_not_found, image_url
from simmesh.labeler.records import VOTERS, Image, NewImage, Params, Project, State, state_of
from simmesh.labeler.votes import LabelScore, Neighbour, label_scores, suggested
from simmesh_proto.v1 import common_pb2

VOTER_FILTER = {"state": {"$in": [s.value for s in VOTERS]}}


@dataclass(frozen=True)
class SuggestInput:
    """A new image, or (`image` None) the id of an image in the project; `id` to save it under."""

    image: common_pb2.Image | None
    image_id: str = ""
    id: str = ""


@dataclass(frozen=True)
class Suggestion:
    index: int
    id: str
    labels: list[LabelScore]
    scores: list[LabelScore]
    neighbours: list[Neighbour]


@dataclass(frozen=True)
class SuggestResult:
    suggestions: list[Suggestion]
    failures: list[ItemFailure]


def vote(neighbours: list[Neighbour], params: Params) -> tuple[list[LabelScore], list[LabelScore]]:
    """(suggested labels, every label's score) for one image."""
    scores = label_scores(neighbours)
    return suggested(scores, params.threshold, params.use_first), scores


async def neighbours_of(
    backends: Backends, project: Project, vectors: np.ndarray, own_ids: Sequence[str], k: int, timeout: float | None
) -> list[list[Neighbour]]:
    """The k nearest voters of each row (its own id left out), most similar first."""
    if not len(vectors):
        return []
    extra = 1 if any(own_ids) else 0
    results = await backends.collections.search(project.collection, vectors, k + extra, VOTER_FILTER, timeout=timeout)
    out = []
    for own, result in zip(own_ids, results):
        hits = [Neighbour(h.id, h.score, metadata_labels(h.metadata)) for h in result.hits if h.id != own]
        out.append(hits[:k])
    return out


class Suggester:
    def __init__(self, backends: Backends, images: ProjectImages) -> None:
        self.backends = backends
        self.images = images

    async def suggest(
        self,
        project_id: str,
        items: Sequence[SuggestInput],
        given: GivenParams | None,
        save: bool,
        timeout: float | None,
    ) -> SuggestResult:
        backends = self.backends
        project = await backends.project(project_id)
        params = resolve_params(given, project)
        check_batch(len(items), "items")
        failures: dict[int, SimmeshError] = {}
        ids = [""] * len(items)
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            try:
                ids[i] = _item_id(i, item, save)
                if ids[i] and ids[i] in seen:
                    raise InvalidArgument(
                        f"items[{i}] repeats the image {ids[i]!r} of items[{seen[ids[i]]}]",
                        reason=reasons.DUPLICATE_ID,
                        field=f"items[{i}]",
                    )
                if ids[i]:
                    seen[ids[i]] = i
            except SimmeshError as error:
                failures[i] = error
        async with backends.writing(project_id) if save else contextlib.nullcontext():
            vectors, stored = await self._vectors(project, items, ids, save, failures, timeout)
            order = sorted(vectors)
            own = [ids[i] if items[i].image is None else "" for i in order]
            matrix = np.stack([vectors[i] for i in order]) if order else np.zeros((0, 0), np.float32)
            found = await neighbours_of(backends, project, matrix, own, params.k, timeout)
            suggestions = []
            for i, neighbours in zip(order, found):
                chosen, scores = vote(neighbours, params)
                suggestions.append(Suggestion(i, ids[i], chosen, scores, neighbours))
            if save:
                suggestions = await self._save(project, items, ids, vectors, stored, suggestions, failures, timeout)
        return SuggestResult(
            suggestions,
            [ItemFailure(i, ids[i] or items[i].image_id or items[i].id, failures[i]) for i in sorted(failures)],
        )

    async def _vectors(
        self,
        project: Project,
        items: Sequence[SuggestInput],
        ids: list[str],
        save: bool,
        failures: dict[int, SimmeshError],
        timeout: float | None,
    ) -> tuple[dict[int, np.ndarray], dict[str, Image]]:
        """Each good item's vector by position (new images embedded, existing ones fetched), and the
        store's images among the batch's ids. Items that fail go to `failures`."""
        backends = self.backends
        good = [i for i in range(len(items)) if i not in failures]
        wanted = [ids[i] for i in good if ids[i]]
        stored = await backends.run(backends.store.get_images, project.id, wanted) if wanted else {}
        new, existing = [], []
        for i in good:
            if items[i].image is None:
                if ids[i] in stored:
                    existing.append(i)
                else:
                    failures[i] = at_field(image_not_found(project.id, ids[i]), f"items[{i}].image_id")
            elif save and ids[i] in stored:
                failures[i] = AlreadyExists(
                    f"image {ids[i]!r} already exists in projects/{project.id}",
                    reason=reasons.IMAGE_EXISTS,
                    field=f"items[{i}].id",
                )
            else:
                new.append(i)
        vectors: dict[int, np.ndarray] = {}
        if new:
            rows, embed_failures = await backends.embedding.embed(
                project.model_version, [_image(items[i]) for i in new], timeout
            )
            for j, i in enumerate(new):
                if j in embed_failures:
                    failures[i] = at_field(embed_failures[j], f"items[{i}].image")
                else:
                    vectors[i] = rows[j]
        if existing:
            records = await backends.collections.get_records(project.collection, [ids[i] for i in existing], timeout)
            for i in existing:
                if ids[i] in records:
                    vectors[i] = records[ids[i]].vector
                else:
                    failures[i] = FailedPrecondition(
                        f"image {ids[i]!r} has no vector in {project.collection}",
                        reason=reasons.IMAGE_VECTOR_MISSING,
                        field=f"items[{i}].image_id",
                    )
        return vectors, stored

    async def _save(
        self,
        project: Project,
        items: Sequence[SuggestInput],
        ids: list[str],
        vectors: dict[int, np.ndarray],
        stored: dict[str, Image],
        suggestions: list[Suggestion],
        failures: dict[int, SimmeshError],
        timeout: float | None,
    ) -> list[Suggestion]:
        """Stores the new images with their suggestions and updates existing unreviewed ones; returns
        the suggestions of the items that were not lost on the way."""
        new = [s for s in suggestions if items[s.index].image is not None]
        records, rows = [], []
        for s in new:
            labels = tuple(score.label for score in s.labels)
            state = state_of(labels, suggested=True)
            url = image_url(_image(items[s.index]))
            records.append(CollectionRecord(s.id, vectors[s.index], url, labels, state.value))
            rows.append(NewImage(s.id, labels, state, url))
        if records:
            await self.images.write_new(
                project, records, rows, [s.index for s in new], failures, replace=False, replaced=[], timeout=timeout
            )
        changes = []
        for s in suggestions:
            image = stored.get(s.id) if items[s.index].image is None else None
            if image is not None and image.state is not State.LABELED:
                labels = tuple(score.label for score in s.labels)
                changes.append((s.id, labels, state_of(labels, suggested=True)))
        if changes:
            await self.images.relabel(project, changes, timeout)
        return [s for s in suggestions if s.index not in failures]


def _item_id(i: int, item: SuggestInput, save: bool) -> str:
    if item.image is None:
        if not item.image_id:
            raise InvalidArgument(
                f"items[{i}] needs an image or an image_id", reason=reasons.EMPTY_ITEM, field=f"items[{i}]"
            )
        return check_image_id(item.image_id, f"items[{i}].image_id")
    if item.id:
        return check_image_id(item.id, f"items[{i}].id")
    return new_id() if save else ""


def _image(item: SuggestInput) -> common_pb2.Image:
    """The image of an item that carries one (the caller has checked)."""
    assert item.image is not None
    return item.image
