"""A product collection through the whole mesh: the 600 ImageNet sample photos, three per product,
inserted as bytes into a `product` collection (which binds `models/generic`); a search by record
id answers with results grouped by product without asking for it, and each record keeps its
photo and a thumbnail."""

from __future__ import annotations

import io
from pathlib import Path

import grpc
import pytest
from PIL import Image as PILImage

from simmesh.devstack.mesh import Mesh, MeshConfig
from simmesh.devstack.triton import tritonserver_available
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc, indexer_pb2, indexer_pb2_grpc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "models/generic"
PER_PRODUCT = 3
BATCH = 50
K = 5
OPTIONS = [("grpc.max_receive_message_length", 1 << 27), ("grpc.max_send_message_length", 1 << 27)]


def photos(folder: Path) -> list[Path]:
    found = sorted(folder.glob("*.JPEG"))
    if len(found) < 600:
        pytest.skip(f"the 600 ImageNet sample photos are not in {folder}")
    return found[:600]


def product_of(position: int) -> str:
    """Consecutive photos (in synset order) make one product."""
    return f"p{position // PER_PRODUCT:03d}"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, imagenet_sample_dir: Path):
    photos(imagenet_sample_dir)
    config = MeshConfig(
        data_dir=tmp_path_factory.mktemp("products") / "mesh", ports="auto", with_triton=not tritonserver_available()
    )
    started = Mesh(config).start(timeout=300)
    try:
        yield started
    finally:
        started.stop()


def test_a_product_collection_answers_a_search_by_record_with_groups(mesh, imagenet_sample_dir: Path) -> None:
    files = photos(imagenet_sample_dir)
    with (
        grpc.insecure_channel(mesh.addresses["indexer"], options=OPTIONS) as indexer_channel,
        grpc.insecure_channel(mesh.addresses["embedder"], options=OPTIONS) as embedder_channel,
    ):
        embedder = embedder_pb2_grpc.EmbedderServiceStub(embedder_channel)
        try:
            embedder.GetModel(embedder_pb2.GetModelRequest(name=MODEL))
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                pytest.skip(f"{MODEL} not available")
            raise
        indexer = indexer_pb2_grpc.IndexerServiceStub(indexer_channel)
        collection = indexer.CreateCollection(
            indexer_pb2.CreateCollectionRequest(
                collection_id="shop",
                collection=indexer_pb2.Collection(type=indexer_pb2.COLLECTION_TYPE_PRODUCT, shard_count=2),
            )
        )
        assert (collection.model, collection.product_id_field) == (MODEL, "product_id")

        for start in range(0, len(files), BATCH):
            records = [
                indexer_pb2.RecordInput(
                    id=path.stem,
                    image=common_pb2.Image(content=path.read_bytes()),
                    metadata={"product_id": product_of(start + j), "synset": path.name[:9]},
                )
                for j, path in enumerate(files[start : start + BATCH])
            ]
            reply = indexer.InsertRecords(
                indexer_pb2.InsertRecordsRequest(collection="collections/shop", records=records)
            )
            assert not reply.errors, reply.errors[0]

        listed = indexer.ListCollections(indexer_pb2.ListCollectionsRequest(filter="type = PRODUCT"))
        assert [c.name for c in listed.collections] == ["collections/shop"]
        assert listed.collections[0].record_count == 600

        query = files[0].stem
        response = indexer.Search(
            indexer_pb2.SearchRequest(
                collection="collections/shop",
                queries=[indexer_pb2.Query(record_id=query)],
                k=K,
                group_size=2,
                include_metadata=True,
            )
        )
        result = response.results[0]
        assert not result.hits and len(result.groups) == K
        assert len({group.product_id for group in result.groups}) == K
        for group in result.groups:
            assert 1 <= len(group.hits) <= 2 and group.score == group.hits[0].score
            assert all(hit.metadata["product_id"] == group.product_id and hit.id != query for hit in group.hits)
        scores = [group.score for group in result.groups]
        assert scores == sorted(scores, reverse=True)

        ungrouped = indexer.Search(
            indexer_pb2.SearchRequest(
                collection="collections/shop", queries=[indexer_pb2.Query(record_id=query)], k=K, group_by_product=False
            )
        )
        assert len(ungrouped.results[0].hits) == K and not ungrouped.results[0].groups

        kept = indexer.BatchGetRecords(
            indexer_pb2.BatchGetRecordsRequest(
                collection="collections/shop", ids=[query], view=indexer_pb2.RECORD_VIEW_IMAGE
            )
        ).records[0]
        assert kept.image == files[0].read_bytes()
        assert max(PILImage.open(io.BytesIO(kept.thumbnail)).size) == 256
