"""Re-embedding a collection with another model version: records are embedded again from their
`_url` into a new storage, searches keep answering meanwhile, and the swap changes the model and
dimension in one step; records without a retrievable image are counted and reported."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading

import grpc
import numpy as np
import pytest
from google.longrunning import operations_pb2_grpc
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh.embedder.app import build_app
from simmesh.embedder.settings import EmbedderSettings
from simmesh_client.operations import wait_operation
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc, indexer_pb2, indexer_pb2_grpc

pytestmark = pytest.mark.integration

COLORS = [(230, 30, 30), (30, 230, 30), (30, 30, 230), (200, 200, 30), (30, 200, 200), (200, 30, 200)]


@pytest.fixture
def image_server(tmp_path):
    """A loopback HTTP server for the images the records point at; stopped at the end."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i, color in enumerate(COLORS):
        (folder / f"{i}.png").write_bytes(png_bytes(color, size=(48, 48)))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
async def embedder(tmp_path):
    app = await build_app(
        EmbedderSettings(host="127.0.0.1", port=0, data_dir=str(tmp_path / "embedder"), builtin_models=False)
    )
    await app.start()
    async with grpc.aio.insecure_channel(app.address) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        for model_id, dimension, seed in (("small", 8, 1), ("large", 12, 2)):
            onnx = tiny_embedding_model(dimension=dimension, seed=seed)
            await stub.ImportModel(
                iter(
                    [
                        embedder_pb2.ImportModelRequest(
                            header=embedder_pb2.ImportModelRequest.Header(
                                model_id=model_id, manifest=tiny_manifest(dimension=dimension)
                            )
                        ),
                        embedder_pb2.ImportModelRequest(chunk=onnx),
                    ]
                )
            )
        yield app
    await app.stop(grace=0)


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
                indexer_pb2.RecordInput(id=f"img{i}", image=common_pb2.Image(url=f"{image_server}/{i}.png"))
                for i in range(len(COLORS))
            ]
            inputs.append(
                indexer_pb2.RecordInput(
                    id="no-url", vector=common_pb2.Vector(dimension=8, data=np.ones(8, "<f4").tobytes())
                )
            )
            inputs.append(indexer_pb2.RecordInput(id="gone", image=common_pb2.Image(url=f"{image_server}/0.png")))
            reply = stub.InsertRecords(
                indexer_pb2.InsertRecordsRequest(collection="collections/photos", records=inputs)
            )
            assert not reply.errors
            stub.UpdateRecord(
                indexer_pb2.UpdateRecordRequest(
                    record=indexer_pb2.Record(
                        name="collections/photos/records/gone", url=f"{image_server}/missing.png"
                    ),
                    update_mask={"paths": ["url"]},
                )
            )
            query = indexer_pb2.Query(image=common_pb2.Image(content=png_bytes(COLORS[2], size=(48, 48))))
            before = stub.Search(indexer_pb2.SearchRequest(collection="collections/photos", queries=[query], k=1))
            assert before.results[0].hits[0].id == "img2"

            operation = stub.ReembedCollection(
                indexer_pb2.ReembedCollectionRequest(collection="collections/photos", model="models/large")
            )
            during = stub.Search(indexer_pb2.SearchRequest(collection="collections/photos", queries=[query], k=1))
            assert during.results[0].hits[0].id == "img2"
            done = wait_operation(
                operations_pb2_grpc.OperationsStub(channel),
                operation,
                response_type=indexer_pb2.ReembedResponse,
                timeout=120,
                poll_interval=0.3,
            )
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
