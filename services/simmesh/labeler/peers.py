"""The labeler's calls to the other services: embedder, indexer router and (optionally) catalog.

Every call takes the time the incoming call has left (`timeout`) and turns a failed call into
the SimmeshError its status carries. Batches are cut only where a service's per-call limit
says so: 512 images per Embed (more go as one StreamEmbed call), 1,000 queries per Search,
10,000 records per InsertRecords, 1,000 records per ListRecords page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
from google.protobuf import struct_pb2
from simmesh_proto.v1 import (catalog_pb2, catalog_pb2_grpc, common_pb2, embedder_pb2, embedder_pb2_grpc,
                              indexer_pb2, indexer_pb2_grpc)

from simmesh.kit import errors
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, SimmeshError

MAX_EMBED = 512
MAX_QUERIES = 1000
MAX_INSERT = 10_000
LIST_PAGE = 1000


@dataclass(frozen=True)
class RecordWrite:
    """A record as the labeler keeps it in its collection."""

    id: str
    vector: np.ndarray
    url: str
    labels: tuple[str, ...]
    state: str


@dataclass(frozen=True)
class StoredRecord:
    id: str
    url: str
    vector: np.ndarray
    labels: tuple[str, ...]
    state: str


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def metadata_labels(metadata: struct_pb2.Struct) -> tuple[str, ...]:
    """The `labels` list of a record's metadata, read without converting the whole Struct."""
    field = metadata.fields.get("labels")
    if field is None:
        return ()
    return tuple(v.string_value for v in field.list_value.values)


def metadata_state(metadata: struct_pb2.Struct) -> str:
    field = metadata.fields.get("state")
    return field.string_value if field is not None else ""


def vector_of(message: common_pb2.Vector) -> np.ndarray:
    return np.frombuffer(message.data, dtype="<f4")


async def _call(method, request, timeout: float | None):  # noqa: ANN001 - a stub method
    try:
        return await method(request, timeout=timeout)
    except grpc.aio.AioRpcError as error:
        raise errors.from_rpc_error(error) from None


class Mesh:
    """Stubs of the services the labeler uses; `catalog` is None when no catalog is configured."""

    def __init__(self, embedder: embedder_pb2_grpc.EmbedderServiceStub, indexer: indexer_pb2_grpc.IndexerServiceStub,
                 catalog: catalog_pb2_grpc.CatalogServiceStub | None) -> None:
        self.embedder = embedder
        self.indexer = indexer
        self.catalog = catalog

    # ============================================================================== models

    async def resolve_model(self, name: str, field: str, timeout: float | None) -> str:
        """The registry version `name` means: `models/{m}/versions/{v}`.

        `models/{m}` takes the model's default version; `tasks/{t}` the task's production
        version and `tasks/{t}/versions/{v}` that version, both asked of the catalog.
        """
        parts = name.split("/")
        try:
            if parts[0] == "models" and len(parts) in (2, 4) and parts[1] and (len(parts) == 2 or parts[2] == "versions"):
                return await self._model_version(name, parts, timeout)
            if parts[0] == "tasks" and len(parts) in (2, 4) and parts[1] and (len(parts) == 2 or parts[2] == "versions"):
                return await self._task_version(name, parts, field, timeout)
        except SimmeshError as error:
            error.violations.insert(0, (field, error.message))
            raise
        raise InvalidArgument(f"{field} must be `models/{{m}}[/versions/{{v}}]` or `tasks/{{t}}[/versions/{{v}}]`, "
                              f"got {name!r}", reason="INVALID_MODEL_NAME", field=field)

    async def _model_version(self, name: str, parts: list[str], timeout: float | None) -> str:
        if len(parts) == 4:
            version = await _call(self.embedder.GetModelVersion, embedder_pb2.GetModelVersionRequest(name=name),
                                  timeout)
            return version.name
        model = await _call(self.embedder.GetModel, embedder_pb2.GetModelRequest(name=name), timeout)
        if not model.default_version:
            raise FailedPrecondition(f"{name} has no version yet", reason="MODEL_HAS_NO_VERSION")
        return f"{model.name}/versions/{model.default_version}"

    async def _task_version(self, name: str, parts: list[str], field: str, timeout: float | None) -> str:
        if self.catalog is None:
            raise FailedPrecondition(f"{field} names a task but no catalog is configured (SIMMESH_CATALOG_ADDR)",
                                     reason="NO_CATALOG")
        version_name = name
        if len(parts) == 2:
            task = await _call(self.catalog.GetTask, catalog_pb2.GetTaskRequest(name=name), timeout)
            if not task.production_version:
                raise FailedPrecondition(f"{name} has not been trained yet", reason="TASK_NOT_TRAINED")
            version_name = f"{task.name}/versions/{task.production_version}"
        version = await _call(self.catalog.GetTaskVersion, catalog_pb2.GetTaskVersionRequest(name=version_name),
                              timeout)
        return version.model_version

    # ============================================================================ embedding

    async def embed(self, model: str, images: Sequence[common_pb2.Image],
                    timeout: float | None) -> tuple[np.ndarray, dict[int, SimmeshError]]:
        """One row per image (zero where it failed) and the failures by position."""
        chunks = [list(images[i:i + MAX_EMBED]) for i in range(0, len(images), MAX_EMBED)]
        requests = [embedder_pb2.EmbedRequest(model=model, images=chunk) for chunk in chunks]
        if len(requests) == 1:
            replies = [await _call(self.embedder.Embed, requests[0], timeout)]
        else:
            try:
                replies = [reply async for reply in self.embedder.StreamEmbed(iter(requests), timeout=timeout)]
            except grpc.aio.AioRpcError as error:
                raise errors.from_rpc_error(error) from None
        rows, failures = [], {}
        for offset, reply in zip(range(0, len(images), MAX_EMBED), replies):
            batch = reply.vectors
            rows.append(np.frombuffer(batch.data, dtype="<f4").reshape(batch.count, batch.dimension))
            for item in reply.errors:
                failures[offset + item.index] = errors.from_status(item.status)
        return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32), failures

    # ========================================================================== collections

    async def create_collection(self, collection_id: str, model_version: str, shard_count: int,
                                description: str, timeout: float | None) -> indexer_pb2.Collection:
        collection = indexer_pb2.Collection(
            description=description, metric=indexer_pb2.METRIC_COSINE, model=model_version, shard_count=shard_count,
            indexed_fields=["labels", "state"], index=indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT))
        request = indexer_pb2.CreateCollectionRequest(collection_id=collection_id, collection=collection)
        return await _call(self.indexer.CreateCollection, request, timeout)

    async def delete_collection(self, collection_id: str, timeout: float | None) -> bool:
        """Deletes the collection; False when it did not exist."""
        try:
            await _call(self.indexer.DeleteCollection,
                        indexer_pb2.DeleteCollectionRequest(name=f"collections/{collection_id}"), timeout)
        except errors.NotFound:
            return False
        return True

    # ============================================================================== records

    async def upsert(self, collection_id: str, records: Sequence[RecordWrite],
                     timeout: float | None) -> dict[int, SimmeshError]:
        """Writes the records (replacing existing ids); the failures by position."""
        failures: dict[int, SimmeshError] = {}
        for offset in range(0, len(records), MAX_INSERT):
            chunk = records[offset:offset + MAX_INSERT]
            request = indexer_pb2.InsertRecordsRequest(collection=f"collections/{collection_id}", upsert=True, records=[
                indexer_pb2.RecordInput(
                    id=r.id, url=r.url,
                    vector=common_pb2.Vector(dimension=len(r.vector), data=np.asarray(r.vector, "<f4").tobytes()),
                    metadata=struct({"labels": list(r.labels), "state": r.state}))
                for r in chunk])
            reply = await _call(self.indexer.InsertRecords, request, timeout)
            for item in reply.errors:
                failures[offset + item.index] = errors.from_status(item.status)
        return failures

    async def get_records(self, collection_id: str, ids: Sequence[str],
                          timeout: float | None) -> dict[str, StoredRecord]:
        """The records among `ids` that exist, with their vectors."""
        if not ids:
            return {}
        reply = await _call(self.indexer.BatchGetRecords, indexer_pb2.BatchGetRecordsRequest(
            collection=f"collections/{collection_id}", ids=list(dict.fromkeys(ids)), include_vectors=True), timeout)
        return {r.id: StoredRecord(r.id, r.url, vector_of(r.vector), metadata_labels(r.metadata),
                                   metadata_state(r.metadata)) for r in reply.records}

    async def delete_records(self, collection_id: str, ids: Sequence[str], timeout: float | None) -> None:
        if ids:
            await _call(self.indexer.DeleteRecords, indexer_pb2.DeleteRecordsRequest(
                collection=f"collections/{collection_id}", ids=list(ids)), timeout)

    async def list_records(self, collection_id: str, filter: dict[str, Any],
                           timeout: float | None) -> list[StoredRecord]:
        """Every record matching `filter`, with its vector."""
        out: list[StoredRecord] = []
        token = ""
        while True:
            reply = await _call(self.indexer.ListRecords, indexer_pb2.ListRecordsRequest(
                collection=f"collections/{collection_id}", page_size=LIST_PAGE, page_token=token,
                filter=struct(filter), include_vectors=True), timeout)
            out += [StoredRecord(r.id, r.url, vector_of(r.vector), metadata_labels(r.metadata),
                                 metadata_state(r.metadata)) for r in reply.records]
            token = reply.next_page_token
            if not token:
                return out

    async def search(self, collection_id: str, vectors: np.ndarray, k: int, filter: dict[str, Any], *,
                     timeout: float | None) -> list[indexer_pb2.QueryResult]:
        """k nearest records matching `filter` for each row of `vectors`, with metadata."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        dimension = vectors.shape[1] if vectors.ndim == 2 else 0
        requests = []
        for offset in range(0, len(vectors), MAX_QUERIES):
            queries = [indexer_pb2.Query(vector=common_pb2.Vector(dimension=dimension, data=row.tobytes()))
                       for row in vectors[offset:offset + MAX_QUERIES]]
            requests.append(indexer_pb2.SearchRequest(
                collection=f"collections/{collection_id}", queries=queries, k=k, filter=struct(filter),
                include_metadata=True))
        results: list[indexer_pb2.QueryResult] = []
        for request in requests:
            results.extend((await _call(self.indexer.Search, request, timeout)).results)
        return results
