"""GetDescriptors: embeddings of images and of collection records with a task's version.

    response = await descriptors.get("tasks/shoes", images=[...], records=["collections/c/records/a1"])

Records are read with BatchGetRecords (one call per collection) and embedded from their `_url`.
Rows follow the request (images, then records); an item that fails (undecodable image, missing
record, record without `_url`, unknown collection) gets a zero row and an ItemError, the others
are valid.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simmesh.catalog.names import public_model_name
from simmesh.catalog.versions import Versions
from simmesh.kit import reasons
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, NotFound, SimmeshError
from simmesh.kit.peers import EmbedderClient, IndexerClient
from simmesh_proto.v1 import catalog_pb2, common_pb2

# Images plus records one call takes.
MAX_ITEMS = 1000
# Images per Embed call.
EMBED_BATCH = 256

RECORD_RE = re.compile(r"^collections/([^/]+)/records/([^/]+)$")


@dataclass(frozen=True)
class _Item:
    """One row to embed: where it sits in the response and what the embedder gets."""

    index: int
    image: common_pb2.Image
    id: str = ""


class Descriptors:
    def __init__(self, versions: Versions, embedder: EmbedderClient, indexer: IndexerClient) -> None:
        self.versions = versions
        self.embedder = embedder
        self.indexer = indexer

    async def get(
        self,
        version_name: str,
        images: Sequence[common_pb2.Image],
        records: Sequence[str],
        timeout: float | None = None,
    ) -> catalog_pb2.GetDescriptorsResponse:
        total = len(images) + len(records)
        if total == 0:
            raise InvalidArgument("give images or records to describe", reason=reasons.NO_ITEMS, field="images")
        if total > MAX_ITEMS:
            raise InvalidArgument(
                f"a call describes at most {MAX_ITEMS} images and records, got {total}",
                reason=reasons.BATCH_TOO_LARGE,
                field="records" if records else "images",
            )
        names = [_parse_record(name, f"records[{i}]") for i, name in enumerate(records)]
        version = await self.versions.resolve(version_name, "version")
        items = [_Item(i, image) for i, image in enumerate(images)]
        errors: list[common_pb2.ItemError] = []
        found, failed = await self._records(names, len(images), timeout)
        items.extend(found)
        errors.extend(failed)
        model = public_model_name(version.model_version)
        rows, dimension, embed_errors = await self._embed(model, items, timeout)
        errors.extend(embed_errors)
        matrix = np.zeros((total, dimension), dtype="<f4")
        for item, row in zip(items, rows):
            if row is not None:
                matrix[item.index] = row
        ordered: list[common_pb2.ItemError] = sorted(errors, key=_index)
        return catalog_pb2.GetDescriptorsResponse(
            model_version=model,
            vectors=common_pb2.VectorBatch(dimension=dimension, count=total, data=matrix.tobytes()),
            errors=ordered,
        )

    async def _records(
        self, names: list[tuple[str, str, str]], offset: int, timeout: float | None
    ) -> tuple[list[_Item], list[common_pb2.ItemError]]:
        """Items for the records that have a `_url`, and errors for the others."""
        by_collection: dict[str, list[int]] = defaultdict(list)
        for i, (collection, _, _) in enumerate(names):
            by_collection[collection].append(i)

        async def fetch(collection: str) -> tuple[str, dict[str, str] | SimmeshError]:
            ids = list(dict.fromkeys(names[i][1] for i in by_collection[collection]))
            try:
                response = await self.indexer.batch_get_records(collection, ids, timeout=timeout)
            except SimmeshError as error:
                return collection, error
            return collection, {record.id: record.url for record in response.records}

        items: list[_Item] = []
        errors: list[common_pb2.ItemError] = []
        for collection, urls in await asyncio.gather(*(fetch(c) for c in by_collection)):
            for i in by_collection[collection]:
                _, record_id, name = names[i]
                failure: SimmeshError | None = urls if isinstance(urls, SimmeshError) else None
                known: dict[str, str] = {} if isinstance(urls, SimmeshError) else urls
                if failure is None and record_id not in known:
                    failure = NotFound(
                        f"{name} does not exist", reason=reasons.RECORD_NOT_FOUND, metadata={"name": name}
                    )
                elif failure is None and not known[record_id]:
                    failure = FailedPrecondition(
                        f"{name} has no `_url` to embed its image from",
                        reason=reasons.RECORD_HAS_NO_URL,
                        metadata={"name": name},
                    )
                if failure is not None:
                    errors.append(common_pb2.ItemError(index=offset + i, id=name, status=failure.to_status()))
                else:
                    items.append(_Item(offset + i, common_pb2.Image(url=known[record_id]), name))
        return items, errors

    async def _embed(
        self, model: str, items: list[_Item], timeout: float | None
    ) -> tuple[list[np.ndarray | None], int, list[common_pb2.ItemError]]:
        """A row per item (None where it failed), the dimension, and the failures."""
        if not items:
            version = await self.embedder.get_version(model, timeout)
            return [], version.manifest.dimension, []
        batches = [items[start : start + EMBED_BATCH] for start in range(0, len(items), EMBED_BATCH)]
        replies = await asyncio.gather(
            *(
                self.embedder.embed(model, [item.image for item in batch], [item.id for item in batch], timeout)
                for batch in batches
            )
        )
        rows: list[np.ndarray | None] = []
        errors: list[common_pb2.ItemError] = []
        dimension = max(reply.vectors.dimension for reply in replies)
        if dimension == 0:  # every item failed
            dimension = (await self.embedder.get_version(model, timeout)).manifest.dimension
        for batch, reply in zip(batches, replies):
            matrix = np.frombuffer(reply.vectors.data, dtype="<f4").reshape(
                reply.vectors.count, reply.vectors.dimension
            )
            failed = {error.index: error for error in reply.errors}
            for position, item in enumerate(batch):
                if position in failed:
                    errors.append(common_pb2.ItemError(index=item.index, id=item.id, status=failed[position].status))
                    rows.append(None)
                else:
                    rows.append(matrix[position])
        return rows, dimension, errors


def _parse_record(name: str, field: str) -> tuple[str, str, str]:
    """(`collections/{c}`, record id, the name) of `collections/{c}/records/{id}`."""
    match = RECORD_RE.match(name)
    if match is None:
        raise InvalidArgument(
            f"{field} must be collections/{{collection}}/records/{{id}}, got {name!r}",
            reason=reasons.INVALID_NAME,
            field=field,
        )
    return f"collections/{match.group(1)}", match.group(2), name


def _index(error: common_pb2.ItemError) -> int:
    return error.index
