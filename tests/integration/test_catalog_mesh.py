"""The catalog with the rest of the mesh: descriptors of collection records (read from a real
indexer cluster, embedded from their `_url`) and DeployVersion reaching the indexer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import pytest
from fixtures.status import reason_of
from google.longrunning import operations_pb2_grpc, operations_proto_pb2
from support.apps import LOOPBACK_URLS, started_catalog, started_embedder
from support.models import png_bytes

from simmesh_proto.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    common_pb2,
    embedder_pb2,
    embedder_pb2_grpc,
    indexer_pb2,
    indexer_pb2_grpc,
)

pytestmark = pytest.mark.integration

C = catalog_pb2
FAST = C.TrainingConfig(epochs=2, input_size=16, embedding_dimension=16, batch_size=8)
COLOURS = [(200, 30, 30), (220, 120, 20), (20, 40, 200), (20, 160, 160)]


class ImageServer:
    """PNGs over HTTP at /{k}.png."""

    def __init__(self, images: list[bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server hook
                try:
                    body = images[int(self.path.strip("/").removesuffix(".png"))]
                except (ValueError, IndexError):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, k: int) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{k}.png"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pictures() -> Iterator[tuple[list[bytes], ImageServer]]:
    images = [png_bytes((40 * k, 90, 255 - 40 * k)) for k in range(4)]
    server = ImageServer(images)
    yield images, server
    server.close()


async def _error(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), reason_of(caught.value)


def _rows(batch: common_pb2.VectorBatch) -> np.ndarray:
    return np.frombuffer(batch.data, dtype="<f4").reshape(batch.count, batch.dimension)


async def _train(
    stub: catalog_pb2_grpc.CatalogServiceStub, operations: operations_pb2_grpc.OperationsStub
) -> C.TaskVersion:
    await stub.CreateSimilarityType(C.CreateSimilarityTypeRequest(similarity_type_id="colour"))
    await stub.CreateTask(
        C.CreateTaskRequest(
            task_id="palette", task=C.Task(similarity_types=["similarityTypes/colour"], training_config=FAST)
        )
    )
    for g, base in enumerate(COLOURS):
        reply = await stub.BatchCreateTrainingImages(
            C.BatchCreateTrainingImagesRequest(
                requests=[
                    C.CreateTrainingImageRequest(
                        image=common_pb2.Image(content=png_bytes(tuple(max(0, c - 25 * k) for c in base)))
                    )
                    for k in range(3)
                ]
            )
        )
        await stub.CreateGroup(
            C.CreateGroupRequest(
                group_id=f"g{g}",
                group=C.Group(similarity_type="similarityTypes/colour", images=[image.name for image in reply.images]),
            )
        )
    operation = await stub.TrainTask(C.TrainTaskRequest(task="tasks/palette"))
    while not operation.done:
        await asyncio.sleep(0.1)
        operation = await operations.GetOperation(operations_proto_pb2.GetOperationRequest(name=operation.name))
    version = C.TaskVersion()
    assert operation.response.Unpack(version), operation.error
    return version


async def test_descriptors_of_records_and_deploying_through_the_indexer(tmp_path, indexer_cluster, pictures):
    images, server = pictures
    embedder_app = await started_embedder(tmp_path / "embedder", url_allowed_networks=LOOPBACK_URLS)
    cluster = await asyncio.to_thread(indexer_cluster, 1, embedder_addr=embedder_app.address)
    catalog_app = await started_catalog(
        tmp_path / "catalog",
        embedder_addr=embedder_app.address,
        indexer_addr=cluster.router_address,
        url_allowed_networks=LOOPBACK_URLS,
    )
    try:
        async with (
            grpc.aio.insecure_channel(catalog_app.address) as catalog_channel,
            grpc.aio.insecure_channel(embedder_app.address) as embedder_channel,
            grpc.aio.insecure_channel(cluster.router_address) as indexer_channel,
        ):
            stub = catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
            operations = operations_pb2_grpc.OperationsStub(catalog_channel)
            embedder = embedder_pb2_grpc.EmbedderServiceStub(embedder_channel)
            indexer = indexer_pb2_grpc.IndexerServiceStub(indexer_channel)
            version = await _train(stub, operations)

            await indexer.CreateCollection(
                indexer_pb2.CreateCollectionRequest(
                    collection_id="shop",
                    collection=indexer_pb2.Collection(dimension=FAST.embedding_dimension, shard_count=1),
                )
            )
            rng = np.random.default_rng(0)
            records = [
                indexer_pb2.RecordInput(
                    id=f"r{k}",
                    url=server.url(k),
                    vector=common_pb2.Vector(dimension=16, data=rng.standard_normal(16).astype("<f4").tobytes()),
                )
                for k in range(3)
            ]
            records.append(
                indexer_pb2.RecordInput(
                    id="bare",
                    vector=common_pb2.Vector(dimension=16, data=rng.standard_normal(16).astype("<f4").tobytes()),
                )
            )
            inserted = await indexer.InsertRecords(
                indexer_pb2.InsertRecordsRequest(collection="collections/shop", records=records)
            )
            assert not inserted.errors

            names = [
                "collections/shop/records/r2",
                "collections/shop/records/bare",
                "collections/shop/records/absent",
                "collections/gone/records/x",
                "collections/shop/records/r0",
            ]
            described = await stub.GetDescriptors(
                C.GetDescriptorsRequest(
                    version="tasks/palette", images=[common_pb2.Image(content=images[1])], records=names
                )
            )
            assert described.model_version == version.model_version
            direct = await embedder.Embed(
                embedder_pb2.EmbedRequest(
                    model=version.model_version, images=[common_pb2.Image(content=images[k]) for k in (1, 2, 0)]
                )
            )
            rows, expected = _rows(described.vectors), _rows(direct.vectors)
            assert rows.shape == (6, 16)
            np.testing.assert_allclose(rows[[0, 1, 5]], expected, atol=1e-6)
            assert not rows[[2, 3, 4]].any()
            gone = await _error(
                indexer.BatchGetRecords(indexer_pb2.BatchGetRecordsRequest(collection="collections/gone", ids=["x"]))
            )
            assert [(e.index, e.id, e.status.code, reason_of(e.status)) for e in described.errors] == [
                (2, names[1], grpc.StatusCode.FAILED_PRECONDITION.value[0], "RECORD_HAS_NO_URL"),
                (3, names[2], grpc.StatusCode.NOT_FOUND.value[0], "RECORD_NOT_FOUND"),
                (4, names[3], gone[0].value[0], gone[1]),
            ]

            # DeployVersion answers what the indexer answers for the same re-embedding.
            refused = await _error(
                indexer.ReembedCollection(
                    indexer_pb2.ReembedCollectionRequest(collection="collections/gone", model=version.model_version)
                )
            )
            assert (
                await _error(
                    stub.DeployVersion(
                        C.DeployVersionRequest(version="tasks/palette/versions/1", collection="collections/gone")
                    )
                )
                == refused
            )
            if refused[0] == grpc.StatusCode.UNIMPLEMENTED:
                return  # the indexer does not re-embed yet: nothing more to follow

            async def deploy(allow_drop: bool):
                started = await stub.DeployVersion(
                    C.DeployVersionRequest(
                        version="tasks/palette", collection="collections/shop", allow_drop=allow_drop
                    )
                )
                operation = started
                while not operation.done:
                    await asyncio.sleep(0.1)
                    operation = await operations.GetOperation(
                        operations_proto_pb2.GetOperationRequest(name=started.name)
                    )
                return operation

            # `bare` has neither a kept image nor a URL: the deployment fails and changes nothing.
            failed = await deploy(allow_drop=False)
            assert failed.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
            assert reason_of(failed.error) == "UNRECOVERABLE_RECORDS" and "bare" in failed.error.message
            unchanged = await indexer.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/shop"))
            assert (unchanged.model, unchanged.record_count) == ("", len(records))

            operation = await deploy(allow_drop=True)
            response = indexer_pb2.ReembedResponse()
            assert operation.response.Unpack(response), operation.error
            assert (response.collection, response.model) == ("collections/shop", version.model_version)
            assert response.reembedded_count == sum(1 for r in records if r.url)
            assert list(response.missing_image_ids) == [r.id for r in records if not r.url]
            collection = await indexer.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/shop"))
            assert collection.model == version.model_version
            stored = await indexer.BatchGetRecords(
                indexer_pb2.BatchGetRecordsRequest(
                    collection="collections/shop", ids=["r0", "r2"], include_vectors=True
                )
            )
            vectors = np.stack([np.frombuffer(r.vector.data, dtype="<f4") for r in stored.records])
            np.testing.assert_allclose(vectors, rows[[5, 1]], atol=1e-5)
            metadata = indexer_pb2.ReembedMetadata()
            assert operation.metadata.Unpack(metadata) and metadata.collection == "collections/shop"
    finally:
        await catalog_app.stop(grace=0)
        await embedder_app.stop(grace=0)
