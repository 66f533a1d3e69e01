"""Collection types through a real indexer: presets at creation, the `type = ...` filter of
ListCollections (from the SDK too), types kept across a router restart, and precise refusals."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from fixtures.status import fields_of, reason_of

from simmesh_client import Client
from simmesh_client.cli import main
from simmesh_client.config import ClientConfig
from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc

pytestmark = pytest.mark.integration


def create(stub: indexer_pb2_grpc.IndexerServiceStub, collection_id: str, **fields) -> indexer_pb2.Collection:
    return stub.CreateCollection(
        indexer_pb2.CreateCollectionRequest(collection_id=collection_id, collection=indexer_pb2.Collection(**fields))
    )


def listed(stub: indexer_pb2_grpc.IndexerServiceStub, filter: str = "") -> list[tuple[str, int]]:
    reply = stub.ListCollections(indexer_pb2.ListCollectionsRequest(filter=filter))
    return [(c.name.split("/")[-1], c.type) for c in reply.collections]


async def test_types_preset_filter_and_survive_a_restart(embedder, indexer_cluster, capsys):
    cluster = await asyncio.to_thread(indexer_cluster, 1, embedder_addr=embedder.address)
    product, custom = indexer_pb2.COLLECTION_TYPE_PRODUCT, indexer_pb2.COLLECTION_TYPE_CUSTOM

    def scenario() -> None:
        with grpc.insecure_channel(cluster.router_address) as channel:
            stub = indexer_pb2_grpc.IndexerServiceStub(channel)
            shop = create(stub, "shop", type=product, model="models/small")
            assert (shop.type, shop.model, shop.product_id_field) == (product, "models/small", "product_id")
            create(stub, "mine", type=custom, model="models/small")
            create(stub, "plain", dimension=4)

            for bad, reason, field in (
                ({"type": 42, "dimension": 4}, "INVALID_COLLECTION_TYPE", "collection.type"),
                ({"type": custom}, "MODEL_REQUIRED", "collection.model"),
            ):
                with pytest.raises(grpc.RpcError) as caught:
                    create(stub, "bad", **bad)
                assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert (reason_of(caught.value), fields_of(caught.value)) == (reason, [field])
            with pytest.raises(grpc.RpcError) as caught:
                listed(stub, "kind = shoes")
            assert (
                caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and reason_of(caught.value) == "INVALID_FILTER"
            )
            assert "bad" not in [name for name, _ in listed(stub)]

            assert listed(stub, "type = PRODUCT") == listed(stub, "type=product") == [("shop", product)]
            assert listed(stub, "type = custom") == [("mine", custom)]
            assert listed(stub) == [("mine", custom), ("plain", 0), ("shop", product)]

        cluster.router.stop()
        cluster.start_router()
        with grpc.insecure_channel(cluster.router_address) as channel:
            stub = indexer_pb2_grpc.IndexerServiceStub(channel)
            assert listed(stub) == [("mine", custom), ("plain", 0), ("shop", product)]
        router = ["--indexer", cluster.router_address]
        assert main([*router, "collections", "create", "cli", "--type", "custom", "--model", "models/small"]) == 0
        capsys.readouterr()
        assert main([*router, "collections", "list", "--type", "custom"]) == 0
        rows = capsys.readouterr().out.splitlines()
        assert rows[0].split()[:2] == ["NAME", "TYPE"]
        assert [row.split()[:2] for row in rows[1:]] == [["collections/cli", "custom"], ["collections/mine", "custom"]]
        assert main([*router, "collections", "create", "nothing"]) == 2  # no dimension, model or type
        with Client(ClientConfig(indexer_address=cluster.router_address)) as client:
            assert [c.name for c in client.indexer.list_collections(type="product")] == ["collections/shop"]
            typed = client.indexer.create_collection("colors", type="custom", model="models/small", image_keeping="all")
            assert (typed.type, typed.image_keeping) == (custom, indexer_pb2.IMAGE_KEEPING_ALL)

    await asyncio.to_thread(scenario)
