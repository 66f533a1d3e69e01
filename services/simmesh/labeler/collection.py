"""The projects' records in the indexer: each image's vector, url, labels and state, written,
read and searched in the project's collection.

Batches are cut only where the indexer's per-call limit says so: 1,000 queries per Search,
10,000 records per InsertRecords, 1,000 records per ListRecords page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf import struct_pb2

from simmesh.kit import errors
from simmesh.kit.auth.tenancy import public
from simmesh.kit.errors import SimmeshError
from simmesh.kit.names import name
from simmesh.kit.peers import IndexerClient
from simmesh.kit.wire import dict_to_struct, vector_of, vector_pb
from simmesh_proto.v1 import indexer_pb2

MAX_QUERIES = 1000
MAX_INSERT = 10_000
LIST_PAGE = 1000

COLLECTIONS = "collections"


@dataclass(frozen=True)
class CollectionRecord:
    """A record as the labeler keeps it in its collection."""

    id: str
    vector: np.ndarray
    url: str
    labels: tuple[str, ...]
    state: str


def metadata_labels(metadata: struct_pb2.Struct) -> tuple[str, ...]:
    """The `labels` list of a record's metadata, read without converting the whole Struct."""
    field = metadata.fields.get("labels")
    if field is None:
        return ()
    return tuple(v.string_value for v in field.list_value.values)


def metadata_state(metadata: struct_pb2.Struct) -> str:
    field = metadata.fields.get("state")
    return field.string_value if field is not None else ""


def _stored(record: indexer_pb2.Record) -> CollectionRecord:
    labels, state = metadata_labels(record.metadata), metadata_state(record.metadata)
    return CollectionRecord(record.id, vector_of(record.vector), record.url, labels, state)


def _name(collection_id: str) -> str:
    """`collections/{collection}` as the router knows it for the caller (`collection_id` internal):
    the router scopes the public id to the caller's tenant itself."""
    return name(COLLECTIONS, public(collection_id))


class Collections:
    """The labeler's calls on its projects' collections, by internal collection id, for the caller
    (the kit forwards the caller's identity)."""

    def __init__(self, indexer: IndexerClient) -> None:
        self.indexer = indexer

    async def create(
        self, collection_id: str, model_version: str, shard_count: int, description: str, timeout: float | None
    ) -> indexer_pb2.Collection:
        collection = indexer_pb2.Collection(
            description=description,
            metric=indexer_pb2.METRIC_COSINE,
            model=model_version,
            shard_count=shard_count,
            indexed_fields=["labels", "state"],
            index=indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT),
        )
        return await self.indexer.create_collection(public(collection_id), collection, timeout)

    async def delete(self, collection_id: str, timeout: float | None) -> bool:
        """Deletes the collection; False when it did not exist."""
        try:
            await self.indexer.delete_collection(_name(collection_id), timeout)
        except errors.NotFound:
            return False
        return True

    async def upsert(
        self, collection_id: str, records: Sequence[CollectionRecord], timeout: float | None
    ) -> dict[int, SimmeshError]:
        """Writes the records (replacing existing ids); the failures by position."""
        failures: dict[int, SimmeshError] = {}
        for offset in range(0, len(records), MAX_INSERT):
            inputs = [
                indexer_pb2.RecordInput(
                    id=r.id,
                    url=r.url,
                    vector=vector_pb(r.vector),
                    metadata=dict_to_struct({"labels": list(r.labels), "state": r.state}),
                )
                for r in records[offset : offset + MAX_INSERT]
            ]
            reply = await self.indexer.insert_records(_name(collection_id), inputs, upsert=True, timeout=timeout)
            for item in reply.errors:
                failures[offset + item.index] = errors.from_status(item.status)
        return failures

    async def get_records(
        self, collection_id: str, ids: Sequence[str], timeout: float | None
    ) -> dict[str, CollectionRecord]:
        """The records among `ids` that exist, with their vectors."""
        if not ids:
            return {}
        reply = await self.indexer.batch_get_records(
            _name(collection_id), list(dict.fromkeys(ids)), include_vectors=True, timeout=timeout
        )
        return {r.id: _stored(r) for r in reply.records}

    async def delete_records(self, collection_id: str, ids: Sequence[str], timeout: float | None) -> None:
        if ids:
            await self.indexer.delete_records(_name(collection_id), list(ids), timeout)

    async def list_records(
        self, collection_id: str, filter: dict[str, Any], timeout: float | None
    ) -> list[CollectionRecord]:
        """Every record matching `filter`, with its vector."""
        out: list[CollectionRecord] = []
        token = ""
        while True:
            reply = await self.indexer.list_records(
                _name(collection_id),
                page_size=LIST_PAGE,
                page_token=token,
                filter=dict_to_struct(filter),
                include_vectors=True,
                timeout=timeout,
            )
            out += [_stored(r) for r in reply.records]
            token = reply.next_page_token
            if not token:
                return out

    async def search(
        self, collection_id: str, vectors: np.ndarray, k: int, filter: dict[str, Any], *, timeout: float | None
    ) -> list[indexer_pb2.QueryResult]:
        """k nearest records matching `filter` for each row of `vectors`, with metadata."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        results: list[indexer_pb2.QueryResult] = []
        for offset in range(0, len(vectors), MAX_QUERIES):
            queries = [indexer_pb2.Query(vector=vector_pb(row)) for row in vectors[offset : offset + MAX_QUERIES]]
            reply = await self.indexer.search(
                _name(collection_id), queries, k, filter=dict_to_struct(filter), include_metadata=True, timeout=timeout
            )
            results.extend(reply.results)
        return results
