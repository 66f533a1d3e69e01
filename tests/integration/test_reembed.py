"""Re-embedding a collection with another model version: records are embedded again from their
`_url` into a new storage, searches keep answering meanwhile, and the swap changes the model and
dimension in one step; with `allow_drop`, records without a retrievable image are dropped, counted
and reported (tests/integration/test_reembed_kept_images.py: the kept-image side)."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
from fixtures.reembed import COLORS, wait_reembed
from support.models import png_bytes

from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc

pytestmark = pytest.mark.integration


async def test_reembed_swaps_model_and_dimension(embedder, indexer_cluster, image_server):
    cluster = await asyncio.to_thread(indexer_cluster, 2, embedder_addr=embedder.address)

    def scenario():
        with grpc.insecure_channel(cluster.router_address) as channel:
            stub = indexer_pb2_grpc.IndexerServiceStub(channel)
            stub.CreateCollection(
                indexer_pb2.CreateCollectionRequest(
                    collection_id="photos", collection=(indexer_pb2.Collection(model="models/small", shard_count=2))
                )
            )
            inputs = [
                indexer_pb2.RecordInput(id=f"img{i}", image=common_pb2.Image(url=f"{image_server.url}/{i}.png"))
                for i in range(len(COLORS))
            ]
            inputs.append(
                indexer_pb2.RecordInput(
                    id="no-url", vector=common_pb2.Vector(dimension=8, data=np.ones(8, "<f4").tobytes())
                )
            )
            inputs.append(indexer_pb2.RecordInput(id="gone", image=common_pb2.Image(url=f"{image_server.url}/0.png")))
            reply = stub.InsertRecords(
                indexer_pb2.InsertRecordsRequest(collection="collections/photos", records=inputs)
            )
            assert not reply.errors
            stub.UpdateRecord(
                indexer_pb2.UpdateRecordRequest(
                    record=indexer_pb2.Record(
                        name="collections/photos/records/gone", url=f"{image_server.url}/missing.png"
                    ),
                    update_mask={"paths": ["url"]},
                )
            )
            query = indexer_pb2.Query(image=common_pb2.Image(content=png_bytes(COLORS[2], size=(48, 48))))
            before = stub.Search(indexer_pb2.SearchRequest(collection="collections/photos", queries=[query], k=1))
            assert before.results[0].hits[0].id == "img2"

            operation = stub.ReembedCollection(
                indexer_pb2.ReembedCollectionRequest(
                    collection="collections/photos", model="models/large", allow_drop=True
                )
            )
            during = stub.Search(indexer_pb2.SearchRequest(collection="collections/photos", queries=[query], k=1))
            assert during.results[0].hits[0].id == "img2"
            done = wait_reembed(channel, operation)
            assert done.reembedded_count == len(COLORS)
            assert done.missing_image_count == 2 and sorted(done.missing_image_ids) == ["gone", "no-url"]

            collection = stub.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/photos"))
            assert (collection.model, collection.dimension) == ("models/large", 12)
            assert collection.record_count == len(COLORS)
            after = stub.Search(
                indexer_pb2.SearchRequest(collection="collections/photos", queries=[query], k=3, include_vectors=True)
            )
            hit = after.results[0].hits[0]
            assert hit.id == "img2" and hit.vector.dimension == 12

    await asyncio.to_thread(scenario)
