"""gRPC surface of the indexer router: proto <-> the router's parts, no logic. Collections and
snapshots are the caller's tenant's: requests name them by public ids (scoped as they are parsed),
replies and errors by the same (`router/tenant_names.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from google.protobuf import empty_pb2

from simmesh.indexer.collection_types import parse_filter
from simmesh.indexer.reembed import Reembedder
from simmesh.indexer.requests import (
    checked_filter,
    collection_id_of,
    insert_batch,
    record_name_of,
    record_query,
    record_view,
    search_plan,
)
from simmesh.indexer.router import Router
from simmesh.indexer.router.collection_snapshots import check_snapshot_id, snapshot_id_of
from simmesh.indexer.router.collections import check_collection_id
from simmesh.indexer.router.tenant_names import public, public_id, public_operation
from simmesh.kit.auth.tenancy import scoped, visible
from simmesh.kit.deadlines import remaining
from simmesh.kit.paging import clamp_page_size, decode_page_token, encode_page_token, fingerprint
from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc


class IndexerServicer(indexer_pb2_grpc.IndexerServiceServicer):
    """`simmesh.v1.IndexerService`."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.reembedder = Reembedder(router)

    async def CreateCollection(self, request, context) -> indexer_pb2.Collection:
        check_collection_id(request.collection_id)
        return public(await self.router.collections.create(scoped(request.collection_id), request.collection))

    async def GetCollection(self, request, context) -> indexer_pb2.Collection:
        return public(await self.router.collections.get(collection_id_of(request.name, "name")))

    async def ListCollections(self, request, context) -> indexer_pb2.ListCollectionsResponse:
        size = clamp_page_size(request.page_size)
        after = (decode_page_token(request.page_token, "collections") or {}).get("after", "")
        ids = [c for c in self.router.collections.ids_of_type(parse_filter(request.filter)) if visible(c)]
        ids = [c for c in ids if public_id(c) > after]
        page = [await self.router.collections.get(c) for c in ids[:size]]
        token = encode_page_token({"after": public_id(ids[size - 1])}, "collections") if len(ids) > size else ""
        return public(indexer_pb2.ListCollectionsResponse(collections=page, next_page_token=token))

    async def UpdateCollection(self, request, context) -> indexer_pb2.Collection:
        updated = await self.router.collections.update(
            collection_id_of(request.collection.name, "collection.name"),
            request.collection,
            list(request.update_mask.paths),
        )
        return public(updated)

    async def DeleteCollection(self, request, context) -> empty_pb2.Empty:
        await self.router.collections.delete(collection_id_of(request.name, "name"))
        return empty_pb2.Empty()

    async def GetCollectionStats(self, request, context) -> indexer_pb2.CollectionStats:
        return public(await self.router.collections.stats(collection_id_of(request.name, "name"), remaining(context)))

    async def InsertRecords(self, request, context) -> indexer_pb2.InsertRecordsResponse:
        return public(await self.router.writes.insert(insert_batch(request), remaining(context)))

    async def StreamInsertRecords(self, requests, context) -> AsyncIterator[indexer_pb2.InsertRecordsResponse]:
        async def batches():
            async for request in requests:
                yield insert_batch(request)

        async for reply in self.router.writes.insert_stream(batches(), lambda: remaining(context)):
            yield public(reply)

    async def UpdateRecord(self, request, context) -> indexer_pb2.Record:
        updated = await self.router.writes.update_record(
            *record_name_of(request.record.name),
            request.record,
            list(request.update_mask.paths),
            request.image if request.HasField("image") else None,
            remaining(context),
        )
        return public(updated)

    async def BatchGetRecords(self, request, context) -> indexer_pb2.BatchGetRecordsResponse:
        collection_id, view = collection_id_of(request.collection), record_view(request)
        records, missing = await self.router.reads.get(
            collection_id, request.ids, request.include_vectors, remaining(context)
        )
        await self.router.kept.fill(collection_id, records, view)
        return public(indexer_pb2.BatchGetRecordsResponse(records=records, missing_ids=missing))

    async def DeleteRecords(self, request, context) -> indexer_pb2.DeleteRecordsResponse:
        count, missing = await self.router.writes.delete(
            collection_id_of(request.collection), request.ids, checked_filter(request), remaining(context)
        )
        return indexer_pb2.DeleteRecordsResponse(deleted_count=count, missing_ids=missing)

    async def ListRecords(self, request, context) -> indexer_pb2.ListRecordsResponse:
        query = record_query(request)
        size = clamp_page_size(request.page_size)
        key = fingerprint(query.collection_id, request.filter, request.include_vectors)
        after = (decode_page_token(request.page_token, key) or {}).get("after", "")
        records, more = await self.router.reads.page(query, after, size, remaining(context))
        token = encode_page_token({"after": records[-1].id}, key) if more and records else ""
        return public(indexer_pb2.ListRecordsResponse(records=records, next_page_token=token))

    async def SampleRecords(self, request, context) -> indexer_pb2.SampleRecordsResponse:
        records = await self.router.reads.sample(record_query(request), request.count, request.seed, remaining(context))
        return public(indexer_pb2.SampleRecordsResponse(records=records))

    async def Search(self, request, context) -> indexer_pb2.SearchResponse:
        plan = search_plan(request, self.router.collections.grouped_by_default)
        return public(await self.router.search.run(plan, remaining(context)))

    async def TrainIndex(self, request, context):
        collection_id = collection_id_of(request.collection)
        return public_operation(await self.router.training.start(collection_id, request.index, remaining(context)))

    async def ReembedCollection(self, request, context):
        collection_id = collection_id_of(request.collection)
        return public_operation(await self.reembedder.start(collection_id, request.model, request.allow_drop))

    async def SnapshotCollection(self, request, context):
        collection_id = collection_id_of(request.collection)
        snapshot_id = scoped(check_snapshot_id(request.snapshot_id)) if request.snapshot_id else ""
        return public_operation(await self.router.snapshots.start_snapshot(collection_id, snapshot_id))

    async def RestoreCollection(self, request, context):
        check_collection_id(request.collection_id)
        snapshot_id, collection_id = scoped(snapshot_id_of(request.snapshot)), scoped(request.collection_id)
        return public_operation(await self.router.snapshots.start_restore(snapshot_id, collection_id))

    async def ListSnapshots(self, request, context) -> indexer_pb2.ListSnapshotsResponse:
        collection = f"collections/{collection_id_of(request.collection)}" if request.collection else ""
        size = clamp_page_size(request.page_size)
        key = fingerprint(collection)
        after = (decode_page_token(request.page_token, key) or {}).get("after", 0)
        found = await self.router.snapshots.newest_first(collection)
        snapshots = [s for s in found if visible(s.name.partition("/")[2])]
        page = snapshots[after : after + size]
        token = encode_page_token({"after": after + size}, key) if len(snapshots) > after + size else ""
        return public(indexer_pb2.ListSnapshotsResponse(snapshots=page, next_page_token=token))
