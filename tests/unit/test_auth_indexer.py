"""The indexer with API keys: the router reaches its shards with the internal credential and the
caller's identity, so writes and searches go through for keys of the right role, and a user key
cannot reach the shard API itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import numpy as np
import pytest
from fixtures.status import reason_of
from support.auth_apps import auth_settings

from simmesh.indexer.app import build_router, build_shard
from simmesh.kit.auth.etcd_store import EtcdKeyStore
from simmesh.kit.auth.identity import Role
from simmesh.kit.auth.keys import new_key
from simmesh_proto.internal.v1 import shard_pb2, shard_pb2_grpc
from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc

DIM = 4


def bearer(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


def vector(n: int) -> common_pb2.Vector:
    return common_pb2.Vector(dimension=DIM, data=np.eye(DIM, dtype=np.float32)[n % DIM].tobytes())


@pytest.fixture
async def indexer(tmp_path, etcd_server, etcd_client, etcd_prefix) -> AsyncIterator[tuple[str, str, dict[Role, str]]]:
    """A shard node and a router with API keys: (router address, shard address, a key per role)."""
    store = EtcdKeyStore(etcd_client, etcd_prefix)
    keys = {}
    for role in Role:
        keys[role], record = new_key("acme", role)
        store.put(record)
    store.close()
    apps = []
    for kind, build in (("shard", build_shard), ("router", build_router)):
        app = await build(auth_settings(kind, tmp_path, etcd_server.endpoint, etcd_prefix))
        await app.start()
        apps.append(app)
    try:
        yield apps[1].address, apps[0].address, keys
    finally:
        for app in reversed(apps):
            await app.stop(grace=0)


async def _create(stub: indexer_pb2_grpc.IndexerServiceStub, key: str) -> None:
    """Creates the collection once the router has listed the shard node (retrying UNAVAILABLE)."""
    request = indexer_pb2.CreateCollectionRequest(
        collection_id="acme-items", collection=indexer_pb2.Collection(dimension=DIM, shard_count=1)
    )
    for _ in range(100):
        try:
            await stub.CreateCollection(request, metadata=bearer(key))
            return
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError("the router never saw the shard node")


async def test_writes_and_searches_reach_the_shards_for_keys_of_the_right_role(indexer):
    router_address, shard_address, keys = indexer
    async with grpc.aio.insecure_channel(router_address) as channel, grpc.aio.insecure_channel(shard_address) as node:
        stub = indexer_pb2_grpc.IndexerServiceStub(channel)
        await _create(stub, keys[Role.WRITER])
        insert = indexer_pb2.InsertRecordsRequest(
            collection="collections/acme-items",
            records=[indexer_pb2.RecordInput(id=f"r{n}", vector=vector(n)) for n in range(3)],
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.InsertRecords(insert, metadata=bearer(keys[Role.READER]))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        await stub.InsertRecords(insert, metadata=bearer(keys[Role.WRITER]))
        search = indexer_pb2.SearchRequest(
            collection="collections/acme-items", queries=[indexer_pb2.Query(vector=vector(1))], k=1
        )
        found = await stub.Search(search, metadata=bearer(keys[Role.READER]))
        assert [hit.id for hit in found.results[0].hits] == ["r1"]

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await shard_pb2_grpc.ShardServiceStub(node).Drop(shard_pb2.DropRequest(), metadata=bearer(keys[Role.ADMIN]))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert reason_of(caught.value) == "INTERNAL_CREDENTIAL_REQUIRED"
