"""Re-embedding from kept images: records inserted as bytes, base64 and URL all survive a change
of model with the new model's vectors of their images; a record that cannot be recovered fails
the operation and leaves the collection as it was, unless the caller allows dropping it."""

from __future__ import annotations

import asyncio
import base64
import urllib.request

import grpc
import numpy as np
import pytest
from fixtures.reembed import COLORS
from google.longrunning import operations_pb2_grpc
from support.apps import LOOPBACK_URLS
from support.models import png_bytes

from simmesh_client.cli import main
from simmesh_client.errors import SimmeshError
from simmesh_client.operations import wait_operation
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc, indexer_pb2, indexer_pb2_grpc

pytestmark = pytest.mark.integration


def unit_rows(batch: common_pb2.VectorBatch) -> np.ndarray:
    rows = np.frombuffer(batch.data, "<f4").reshape(batch.count, batch.dimension)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def unit(vector: common_pb2.Vector) -> np.ndarray:
    row = np.frombuffer(vector.data, "<f4")
    return row / np.linalg.norm(row)


class Mesh:
    """The indexer's and embedder's stubs on one channel each."""

    def __init__(self, router_address: str, indexer: grpc.Channel, embedder: grpc.Channel) -> None:
        self.router_address = router_address
        self.indexer = indexer_pb2_grpc.IndexerServiceStub(indexer)
        self.operations = operations_pb2_grpc.OperationsStub(indexer)
        self.embedder = embedder_pb2_grpc.EmbedderServiceStub(embedder)

    def create(self, collection_id: str, **fields) -> None:
        self.indexer.CreateCollection(
            indexer_pb2.CreateCollectionRequest(
                collection_id=collection_id, collection=indexer_pb2.Collection(model="models/small", **fields)
            )
        )

    def insert(self, collection_id: str, records: list[indexer_pb2.RecordInput]) -> None:
        reply = self.indexer.InsertRecords(
            indexer_pb2.InsertRecordsRequest(collection=f"collections/{collection_id}", records=records)
        )
        assert not reply.errors, reply.errors

    def get(self, collection_id: str, ids: list[str], view: int = 0) -> dict[str, indexer_pb2.Record]:
        reply = self.indexer.BatchGetRecords(
            indexer_pb2.BatchGetRecordsRequest(
                collection=f"collections/{collection_id}", ids=ids, include_vectors=True, view=view
            )
        )
        return {record.id: record for record in reply.records}

    def reembed(self, collection_id: str, allow_drop: bool = False) -> indexer_pb2.ReembedResponse:
        operation = self.indexer.ReembedCollection(
            indexer_pb2.ReembedCollectionRequest(
                collection=f"collections/{collection_id}", model="models/large", allow_drop=allow_drop
            )
        )
        return wait_operation(
            self.operations, operation, response_type=indexer_pb2.ReembedResponse, timeout=120, poll_interval=0.3
        )

    def collection(self, collection_id: str) -> indexer_pb2.Collection:
        return self.indexer.GetCollection(indexer_pb2.GetCollectionRequest(name=f"collections/{collection_id}"))

    def embed_large(self, images: list[common_pb2.Image]) -> np.ndarray:
        return unit_rows(self.embedder.Embed(embedder_pb2.EmbedRequest(model="models/large", images=images)).vectors)


def mixed_records(url: str) -> list[indexer_pb2.RecordInput]:
    """One record per way of sending an image, each with its own metadata."""
    data = [png_bytes(color, size=(48, 48)) for color in COLORS[:2]]
    return [
        indexer_pb2.RecordInput(id="bytes", image=common_pb2.Image(content=data[0]), metadata={"sent": "bytes"}),
        indexer_pb2.RecordInput(
            id="b64", image=common_pb2.Image(base64=base64.b64encode(data[1]).decode()), metadata={"sent": "base64"}
        ),
        indexer_pb2.RecordInput(id="url", image=common_pb2.Image(url=f"{url}/2.png"), metadata={"sent": "url"}),
    ]


@pytest.fixture
async def mesh(embedder, indexer_cluster):
    # The router keeps copies of URL images, fetched from the image server on loopback.
    env = {"SIMMESH_URL_ALLOWED_NETWORKS": ",".join(LOOPBACK_URLS)}
    cluster = await asyncio.to_thread(indexer_cluster, 2, embedder_addr=embedder.address, env=env)
    with grpc.insecure_channel(cluster.router_address) as indexer, grpc.insecure_channel(embedder.address) as embedding:
        yield Mesh(cluster.router_address, indexer, embedding)


async def test_every_record_survives_with_the_new_models_embedding_of_its_image(mesh, image_server, tmp_path):
    def scenario() -> None:
        mesh.create("mixed", shard_count=2)
        mesh.insert("mixed", mixed_records(image_server.url))
        ids = ["bytes", "b64", "url"]
        kept = mesh.get("mixed", ids, indexer_pb2.RECORD_VIEW_IMAGE)
        assert kept["bytes"].image and kept["b64"].image == png_bytes(COLORS[1], size=(48, 48))
        assert not kept["url"].image and not kept["url"].image_uri  # a URL record keeps its URL only
        with urllib.request.urlopen(kept["bytes"].thumbnail_uri, timeout=10) as reply:  # presigned on S3
            assert reply.read() == kept["bytes"].thumbnail

        image, small = tmp_path / "bytes.png", tmp_path / "bytes.jpg"
        cli = ["--indexer", mesh.router_address, "get", "--collection", "mixed", "--id"]
        assert main([*cli, "bytes", "--image", str(image), "--thumbnail", str(small)]) == 0
        assert image.read_bytes() == kept["bytes"].image and small.read_bytes() == kept["bytes"].thumbnail
        assert main([*cli, "url", "--image", str(image)]) == 1  # nothing kept for it

        done = mesh.reembed("mixed")
        assert done.reembedded_count == 3 and not done.missing_image_ids
        assert (mesh.collection("mixed").model, mesh.collection("mixed").dimension) == ("models/large", 12)
        after = mesh.get("mixed", ids)
        assert sorted(after) == sorted(ids)
        assert {i: after[i].metadata["sent"] for i in ids} == {"bytes": "bytes", "b64": "base64", "url": "url"}
        expected = mesh.embed_large(
            [
                common_pb2.Image(content=kept["bytes"].image),
                common_pb2.Image(content=kept["b64"].image),
                common_pb2.Image(url=f"{image_server.url}/2.png"),
            ]
        )
        for row, record_id in enumerate(ids):
            assert after[record_id].vector.dimension == 12
            np.testing.assert_allclose(unit(after[record_id].vector), expected[row], atol=1e-5)

    await asyncio.to_thread(scenario)


async def test_an_unrecoverable_record_fails_the_operation_and_changes_nothing(mesh, image_server):
    def scenario() -> None:
        mesh.create("plain", shard_count=2)
        mesh.create("copies", shard_count=2, image_keeping=indexer_pb2.IMAGE_KEEPING_ALL)
        for collection_id in ("plain", "copies"):
            mesh.insert(collection_id, mixed_records(image_server.url))
        before = mesh.get("plain", ["bytes", "b64", "url"])
        image_server.stop()  # the URL record of `plain` has no copy and nowhere to come from

        with pytest.raises(SimmeshError) as caught:
            mesh.reembed("plain")
        assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert caught.value.reason == "UNRECOVERABLE_RECORDS"
        assert caught.value.metadata["record_ids"] == "url" and "url" in caught.value.message
        collection = mesh.collection("plain")
        assert (collection.model, collection.dimension, collection.record_count) == ("models/small", 8, 3)
        unchanged = mesh.get("plain", ["bytes", "b64", "url"])
        assert {i: r.vector.data for i, r in unchanged.items()} == {i: r.vector.data for i, r in before.items()}

        copied = mesh.reembed("copies")  # the same records, with a copy of the URL image kept
        assert copied.reembedded_count == 3 and not copied.missing_image_ids

        dropped = mesh.reembed("plain", allow_drop=True)
        assert dropped.reembedded_count == 2
        assert dropped.missing_image_count == 1 and list(dropped.missing_image_ids) == ["url"]
        collection = mesh.collection("plain")
        assert (collection.model, collection.record_count) == ("models/large", 2)

    await asyncio.to_thread(scenario)
