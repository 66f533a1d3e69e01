"""Two tenants with collections of the same name through the indexer router: each sees only its own
collection, records, searches and operations; the other's answer NOT_FOUND exactly as missing ones
and stay as they were. The router keeps internal ids (`acme.shoes`) in etcd and on the shards; the
default tenant (auth off) keeps the ids it always had."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import numpy as np
import pytest
from fixtures.status import reason_of
from google.longrunning import operations_pb2_grpc, operations_proto_pb2
from google.protobuf import field_mask_pb2, struct_pb2
from support.auth_apps import auth_settings

from simmesh.indexer.app import build_router, build_shard
from simmesh.indexer.layout import Layout
from simmesh.indexer.settings import RouterSettings, ShardSettings
from simmesh.kit.auth.etcd_store import EtcdKeyStore
from simmesh.kit.auth.identity import Role
from simmesh.kit.auth.keys import new_key
from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc

DIM = 4
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def vector(n: int) -> common_pb2.Vector:
    return common_pb2.Vector(dimension=DIM, data=np.eye(DIM, dtype=np.float32)[n % DIM].tobytes())


def record(record_id: str, n: int, tenant: str) -> indexer_pb2.RecordInput:
    metadata = struct_pb2.Struct()
    metadata.update({"tenant": tenant})
    return indexer_pb2.RecordInput(id=record_id, vector=vector(n), metadata=metadata)


class Tenant:
    """The router as one tenant's key reaches it."""

    def __init__(self, channel: grpc.aio.Channel, key: str) -> None:
        self.indexer = indexer_pb2_grpc.IndexerServiceStub(channel)
        self.operations = operations_pb2_grpc.OperationsStub(channel)
        self.metadata = [("authorization", f"Bearer {key}")] if key else None

    async def call(self, method: str, request):
        stub = self.operations if method.endswith("Operation") or method == "ListOperations" else self.indexer
        return await getattr(stub, method)(request, metadata=self.metadata)

    async def refused(self, method: str, request) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await self.call(method, request)
        return caught.value

    async def create(self, collection_id: str, records: list[indexer_pb2.RecordInput]) -> None:
        """Creates the collection (once the router has listed the shard node) and inserts `records`."""
        request = indexer_pb2.CreateCollectionRequest(
            collection_id=collection_id, collection=indexer_pb2.Collection(dimension=DIM, shard_count=1)
        )
        for _ in range(100):
            try:
                created = await self.call("CreateCollection", request)
                break
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the router never saw the shard node")
        assert created.name == f"collections/{collection_id}"
        insert = indexer_pb2.InsertRecordsRequest(collection=f"collections/{collection_id}", records=records)
        assert not (await self.call("InsertRecords", insert)).errors

    async def records(self, collection_id: str) -> dict[str, str]:
        """The collection's records as ListRecords pages them: name -> the tenant its metadata names."""
        listed = await self.call(
            "ListRecords", indexer_pb2.ListRecordsRequest(collection=f"collections/{collection_id}")
        )
        return {r.name: r.metadata["tenant"] for r in listed.records}

    async def search(self, collection_id: str, query: indexer_pb2.Query) -> list[str]:
        request = indexer_pb2.SearchRequest(
            collection=f"collections/{collection_id}", queries=[query], k=10, include_metadata=True
        )
        reply = await self.call("Search", request)
        return [f"{hit.id}:{hit.metadata['tenant']}" for hit in reply.results[0].hits]


async def _start(settings: list) -> list:
    apps = []
    for one in settings:
        app = await (build_shard if isinstance(one, ShardSettings) else build_router)(one)
        await app.start()
        apps.append(app)
    return apps


@pytest.fixture
async def tenants(tmp_path, etcd_server, etcd_client, etcd_prefix) -> AsyncIterator[tuple[Tenant, Tenant]]:
    """A shard node and a router with API keys, reached with an admin key of acme and one of beta."""
    store = EtcdKeyStore(etcd_client, etcd_prefix)
    keys = {}
    for tenant in ("acme", "beta"):
        keys[tenant], key_record = new_key(tenant, Role.ADMIN)
        store.put(key_record)
    store.close()
    apps = await _start(
        [auth_settings(kind, tmp_path, etcd_server.endpoint, etcd_prefix) for kind in ("shard", "router")]
    )
    try:
        async with grpc.aio.insecure_channel(apps[1].address) as channel:
            yield Tenant(channel, keys["acme"]), Tenant(channel, keys["beta"])
    finally:
        for app in reversed(apps):
            await app.stop(grace=0)


def _stored_ids(etcd_client, etcd_prefix: str) -> tuple[set[str], set[str]]:
    """The collection ids etcd holds definitions of, and those its shards registered under."""
    layout = Layout(etcd_prefix)
    collections = {layout.collection_of(meta.key.decode()) for _, meta in etcd_client.get_prefix(layout.collections)}
    shards = {layout.shard_of(meta.key.decode())[0] for _, meta in etcd_client.get_prefix(layout.shards)}
    return collections, shards


async def _two_shoes(acme: Tenant, beta: Tenant) -> None:
    """acme's `shoes` holds a0..a3 and r0; beta's holds b0, b1 and its own r0."""
    await acme.create("shoes", [record(f"a{n}", n, "acme") for n in range(4)] + [record("r0", 0, "acme")])
    await beta.create("shoes", [record("b0", 1, "beta"), record("b1", 2, "beta"), record("r0", 3, "beta")])


async def test_two_tenants_each_see_only_their_own_collection_of_the_same_name(tenants, etcd_client, etcd_prefix):
    acme, beta = tenants
    await _two_shoes(acme, beta)

    for tenant, count in ((acme, 5), (beta, 3)):
        got = await tenant.call("GetCollection", indexer_pb2.GetCollectionRequest(name="collections/shoes"))
        assert (got.name, got.record_count) == ("collections/shoes", count)
        listed = await tenant.call("ListCollections", indexer_pb2.ListCollectionsRequest())
        assert [c.name for c in listed.collections] == ["collections/shoes"]
        stats = await tenant.call("GetCollectionStats", indexer_pb2.GetCollectionStatsRequest(name="collections/shoes"))
        assert (stats.name, [s.name for s in stats.shards]) == ("collections/shoes", ["collections/shoes/shards/0"])

    assert await acme.records("shoes") == {
        **{f"collections/shoes/records/a{n}": "acme" for n in range(4)},
        "collections/shoes/records/r0": "acme",
    }
    assert await beta.records("shoes") == {f"collections/shoes/records/{r}": "beta" for r in ("b0", "b1", "r0")}
    request = indexer_pb2.BatchGetRecordsRequest(collection="collections/shoes", ids=["r0", "a1", "b0"])
    got = await beta.call("BatchGetRecords", request)
    assert [(r.id, r.metadata["tenant"]) for r in got.records] == [("r0", "beta"), ("b0", "beta")]
    assert list(got.missing_ids) == ["a1"]

    assert (await acme.search("shoes", indexer_pb2.Query(vector=vector(1))))[:1] == ["a1:acme"]
    assert {hit.split(":")[1] for hit in await beta.search("shoes", indexer_pb2.Query(vector=vector(0)))} == {"beta"}
    assert (await beta.search("shoes", indexer_pb2.Query(record_id="r0")))[0].endswith(":beta")
    error = await beta.refused(
        "Search", indexer_pb2.SearchRequest(collection="collections/shoes", queries=[indexer_pb2.Query(record_id="a1")])
    )
    assert error.code() == NOT_FOUND and "collections/shoes" in error.details() and "beta." not in error.details()

    assert _stored_ids(etcd_client, etcd_prefix) == ({"acme.shoes", "beta.shoes"}, {"acme.shoes", "beta.shoes"})


async def test_another_tenants_collection_answers_not_found_like_a_missing_one_and_stays_unchanged(tenants):
    acme, beta = tenants
    await acme.create("boots", [record(f"a{n}", n, "acme") for n in range(4)])
    await _two_shoes(acme, beta)
    before = await acme.records("boots"), await acme.records("shoes")

    def calls(collection_id: str) -> list[tuple[str, object]]:
        name = f"collections/{collection_id}"
        return [
            ("GetCollection", indexer_pb2.GetCollectionRequest(name=name)),
            ("GetCollectionStats", indexer_pb2.GetCollectionStatsRequest(name=name)),
            (
                "UpdateCollection",
                indexer_pb2.UpdateCollectionRequest(
                    collection=indexer_pb2.Collection(name=name, description="mine"),
                    update_mask=field_mask_pb2.FieldMask(paths=["description"]),
                ),
            ),
            ("InsertRecords", indexer_pb2.InsertRecordsRequest(collection=name, records=[record("x", 0, "beta")])),
            (
                "UpdateRecord",
                indexer_pb2.UpdateRecordRequest(
                    record=indexer_pb2.Record(name=f"{name}/records/a0", url="http://example.com/x.jpg"),
                    update_mask=field_mask_pb2.FieldMask(paths=["url"]),
                ),
            ),
            ("BatchGetRecords", indexer_pb2.BatchGetRecordsRequest(collection=name, ids=["a0"])),
            ("DeleteRecords", indexer_pb2.DeleteRecordsRequest(collection=name, ids=["a0", "a1"])),
            ("ListRecords", indexer_pb2.ListRecordsRequest(collection=name)),
            ("SampleRecords", indexer_pb2.SampleRecordsRequest(collection=name, count=1)),
            ("Search", indexer_pb2.SearchRequest(collection=name, queries=[indexer_pb2.Query(vector=vector(0))])),
            ("TrainIndex", indexer_pb2.TrainIndexRequest(collection=name)),
            ("ReembedCollection", indexer_pb2.ReembedCollectionRequest(collection=name, model="models/m")),
            ("SnapshotCollection", indexer_pb2.SnapshotCollectionRequest(collection=name)),
            ("DeleteCollection", indexer_pb2.DeleteCollectionRequest(name=name)),
        ]

    for (method, theirs), (_, missing) in zip(calls("boots"), calls("socks"), strict=True):
        error, absent = await beta.refused(method, theirs), await beta.refused(method, missing)
        assert (error.code(), reason_of(error)) == (NOT_FOUND, reason_of(absent)), method
        assert error.details() == absent.details().replace("socks", "boots"), method
        assert absent.code() == NOT_FOUND and "beta." not in absent.details(), method

    await beta.call("DeleteRecords", indexer_pb2.DeleteRecordsRequest(collection="collections/shoes", ids=["r0", "a0"]))
    await beta.call("DeleteCollection", indexer_pb2.DeleteCollectionRequest(name="collections/shoes"))
    assert (await acme.records("boots"), await acme.records("shoes")) == before
    got = await acme.call("GetCollection", indexer_pb2.GetCollectionRequest(name="collections/boots"))
    assert got.description == ""
    listed = await beta.call("ListCollections", indexer_pb2.ListCollectionsRequest())
    assert list(listed.collections) == []


async def test_an_index_build_of_one_tenant_is_not_found_for_another(tenants):
    acme, beta = tenants
    await acme.create("shoes", [record(f"a{n}", n, "acme") for n in range(8)])
    await beta.create("shoes", [record(f"b{n}", n, "beta") for n in range(8)])
    train = indexer_pb2.TrainIndexRequest(
        collection="collections/shoes",
        index=indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT, nlist=1, min_train_vectors=8),
    )
    started = await acme.call("TrainIndex", train)
    assert started.name.startswith("operations/") and "acme" not in started.name
    done = await acme.call("WaitOperation", operations_proto_pb2.WaitOperationRequest(name=started.name))
    assert done.done and not done.HasField("error"), done.error
    metadata, trained = indexer_pb2.TrainIndexMetadata(), indexer_pb2.Collection()
    assert done.metadata.Unpack(metadata) and done.response.Unpack(trained)
    assert (done.name, metadata.collection, trained.name) == (started.name, "collections/shoes", "collections/shoes")

    missing = "operations/00000000-0000-0000-0000-000000000000"
    for method, request_cls in (
        ("GetOperation", operations_proto_pb2.GetOperationRequest),
        ("WaitOperation", operations_proto_pb2.WaitOperationRequest),
        ("CancelOperation", operations_proto_pb2.CancelOperationRequest),
        ("DeleteOperation", operations_proto_pb2.DeleteOperationRequest),
    ):
        error, absent = (
            await beta.refused(method, request_cls(name=started.name)),
            await beta.refused(method, request_cls(name=missing)),
        )
        assert error.code() == absent.code() == NOT_FOUND, method
        assert error.details() == absent.details().replace(missing, started.name), method
    assert list((await beta.call("ListOperations", operations_proto_pb2.ListOperationsRequest())).operations) == []
    listed = await acme.call("ListOperations", operations_proto_pb2.ListOperationsRequest())
    assert [o.name for o in listed.operations] == [started.name]
    got = await acme.call("GetOperation", operations_proto_pb2.GetOperationRequest(name=started.name))
    assert got.done
    collection = await beta.call("GetCollection", indexer_pb2.GetCollectionRequest(name="collections/shoes"))
    assert collection.index_state == indexer_pb2.INDEX_STATE_EXACT


async def test_the_default_tenant_keeps_unprefixed_ids_on_the_shards(tmp_path, etcd_server, etcd_client, etcd_prefix):
    common = {"host": "127.0.0.1", "port": 0, "etcd_endpoints": (etcd_server.endpoint,), "etcd_prefix": etcd_prefix}
    apps = await _start(
        [
            ShardSettings(data_dir=str(tmp_path / "shard"), shard_ordinal=0, faiss_threads=1, **common),
            RouterSettings(data_dir=str(tmp_path / "router"), **common),
        ]
    )
    try:
        async with grpc.aio.insecure_channel(apps[1].address) as channel:
            anyone = Tenant(channel, "")
            await anyone.create("shoes", [record("a0", 0, "default")])
            assert await anyone.records("shoes") == {"collections/shoes/records/a0": "default"}
            assert _stored_ids(etcd_client, etcd_prefix) == ({"shoes"}, {"shoes"})
    finally:
        for app in reversed(apps):
            await app.stop(grace=0)
