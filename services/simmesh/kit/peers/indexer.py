"""The indexer router's client: collections, records, search, re-embedding and its Operations."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.longrunning import operations_pb2_grpc, operations_proto_pb2
from google.protobuf import struct_pb2

from simmesh.kit import reasons
from simmesh.kit.peers.calls import PeerClient
from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc


class IndexerClient(PeerClient):
    """`simmesh.v1.IndexerService` and `google.longrunning.Operations`; collections are named
    `collections/{collection}`."""

    PEER = "indexer"
    UNAVAILABLE = reasons.INDEXER_UNAVAILABLE

    def __init__(self, channel: grpc.aio.Channel, address: str, *, default_timeout: float | None = None) -> None:
        super().__init__(channel, address, default_timeout=default_timeout)
        self._stub = indexer_pb2_grpc.IndexerServiceStub(channel)
        self._operations = operations_pb2_grpc.OperationsStub(channel)

    # -- collections

    async def create_collection(
        self, collection_id: str, collection: indexer_pb2.Collection, timeout: float | None = None
    ) -> indexer_pb2.Collection:
        request = indexer_pb2.CreateCollectionRequest(collection_id=collection_id, collection=collection)
        return await self.call(self._stub.CreateCollection, request, timeout)

    async def delete_collection(self, name: str, timeout: float | None = None) -> None:
        await self.call(self._stub.DeleteCollection, indexer_pb2.DeleteCollectionRequest(name=name), timeout)

    async def reembed(
        self, collection: str, model: str, timeout: float | None = None, allow_drop: bool = False
    ) -> operations_proto_pb2.Operation:
        request = indexer_pb2.ReembedCollectionRequest(collection=collection, model=model, allow_drop=allow_drop)
        return await self.call(self._stub.ReembedCollection, request, timeout)

    # -- records

    async def insert_records(
        self,
        collection: str,
        records: Sequence[indexer_pb2.RecordInput],
        *,
        upsert: bool = False,
        timeout: float | None = None,
    ) -> indexer_pb2.InsertRecordsResponse:
        request = indexer_pb2.InsertRecordsRequest(collection=collection, records=records, upsert=upsert)
        return await self.call(self._stub.InsertRecords, request, timeout)

    async def batch_get_records(
        self, collection: str, ids: Sequence[str], *, include_vectors: bool = False, timeout: float | None = None
    ) -> indexer_pb2.BatchGetRecordsResponse:
        request = indexer_pb2.BatchGetRecordsRequest(collection=collection, ids=ids, include_vectors=include_vectors)
        return await self.call(self._stub.BatchGetRecords, request, timeout)

    async def list_records(
        self,
        collection: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        filter: struct_pb2.Struct | None = None,
        include_vectors: bool = False,
        timeout: float | None = None,
    ) -> indexer_pb2.ListRecordsResponse:
        request = indexer_pb2.ListRecordsRequest(
            collection=collection,
            page_size=page_size,
            page_token=page_token,
            filter=filter,
            include_vectors=include_vectors,
        )
        return await self.call(self._stub.ListRecords, request, timeout)

    async def delete_records(
        self, collection: str, ids: Sequence[str], timeout: float | None = None
    ) -> indexer_pb2.DeleteRecordsResponse:
        request = indexer_pb2.DeleteRecordsRequest(collection=collection, ids=ids)
        return await self.call(self._stub.DeleteRecords, request, timeout)

    async def search(
        self,
        collection: str,
        queries: Sequence[indexer_pb2.Query],
        k: int,
        *,
        filter: struct_pb2.Struct | None = None,
        include_metadata: bool = False,
        timeout: float | None = None,
    ) -> indexer_pb2.SearchResponse:
        request = indexer_pb2.SearchRequest(
            collection=collection, queries=queries, k=k, filter=filter, include_metadata=include_metadata
        )
        return await self.call(self._stub.Search, request, timeout)

    # -- operations

    async def get_operation(self, name: str, timeout: float | None = None) -> operations_proto_pb2.Operation:
        request = operations_proto_pb2.GetOperationRequest(name=name)
        return await self.call(self._operations.GetOperation, request, timeout)

    async def cancel_operation(self, name: str, timeout: float | None = None) -> None:
        request = operations_proto_pb2.CancelOperationRequest(name=name)
        await self.call(self._operations.CancelOperation, request, timeout)
