"""Text queries through the mesh: a tiny dual encoder trained here on coloured shapes and their captions,
imported into the embedder, bound to a collection of generated shapes; "a red circle" finds red circles
through the SDK and `simctl search --text`, and an image-only model refuses text queries."""

from __future__ import annotations

import asyncio
import base64
import json

import grpc
import pytest
from fixtures.sdk_servers import config_for
from support.dual_encoder import CLASSES, TinyDualEncoder, caption, shape_png, train_tiny_dual_encoder
from support.models import tiny_embedding_model, tiny_manifest

from simmesh.embedder.app import build_app
from simmesh.embedder.settings import EmbedderSettings
from simmesh_client import Client, SimmeshError
from simmesh_client.cli import main

pytestmark = pytest.mark.integration

IMAGES_PER_CLASS = 8


@pytest.fixture(scope="module")
def trained() -> TinyDualEncoder:
    """Trained once for the module: about 20 s of CPU time."""
    return train_tiny_dual_encoder()


@pytest.fixture
async def embedder(tmp_path):
    app = await build_app(
        EmbedderSettings(host="127.0.0.1", port=0, data_dir=str(tmp_path / "embedder"), builtin_models=False)
    )
    await app.start()
    yield app
    await app.stop(grace=0)


def _shapes() -> list[dict]:
    return [
        {
            "_id": f"{color}-{shape}-{n}",
            "_base64": base64.b64encode(shape_png(color, shape, seed=10_000 + 100 * k + n)).decode(),
            "color": color,
            "shape": shape,
        }
        for k, (color, shape) in enumerate(CLASSES)
        for n in range(IMAGES_PER_CLASS)
    ]


def _described(hits) -> list[str]:
    return [caption(hit.metadata["color"], hit.metadata["shape"]) for hit in hits]


async def test_a_caption_finds_the_shapes_it_describes_through_the_mesh(trained, embedder, indexer_cluster, capsys):
    cluster = await asyncio.to_thread(indexer_cluster, 1, embedder_addr=embedder.address)

    def scenario() -> None:
        with Client(config_for(embedder=embedder.address, indexer=cluster.router_address)) as client:
            version = client.embedder.import_model(
                "tiny-clip",
                trained.image_onnx,
                trained.manifest(),
                text_onnx=trained.text_onnx,
                tokenizer=trained.tokenizer_json,
            )
            assert version.manifest.dimension == 32 and version.text_sha256
            client.indexer.create_collection("shapes", model="tiny-clip")
            summary = client.indexer.insert("shapes", _shapes())
            assert summary.inserted == len(CLASSES) * IMAGES_PER_CLASS and not summary.failures

            for text in ("a red circle", "a blue triangle", "a green square"):
                result = client.indexer.search("shapes", text=text, k=5)
                assert _described(result.hits) == [text] * 5

            code = main(
                ["--indexer", cluster.router_address, "search", "--collection", "shapes", "--text", "a red circle",
                 "-k", "5", "--json"]
            )  # fmt: skip
            assert code == 0
            hits = json.loads(capsys.readouterr().out)["hits"]
            assert [(hit["metadata"]["color"], hit["metadata"]["shape"]) for hit in hits] == [("red", "circle")] * 5

            with pytest.raises(SimmeshError) as empty:
                client.indexer.search("shapes", text=" ", k=5)
            assert empty.value.code == grpc.StatusCode.INVALID_ARGUMENT and empty.value.reason == "EMPTY_TEXT"
            assert [v.field for v in empty.value.violations] == ["queries[0].text"]

    await asyncio.to_thread(scenario)


async def test_a_text_query_to_an_image_only_model_says_it_has_no_text_tower(embedder, indexer_cluster):
    cluster = await asyncio.to_thread(indexer_cluster, 1, embedder_addr=embedder.address)

    def scenario() -> None:
        with Client(config_for(embedder=embedder.address, indexer=cluster.router_address)) as client:
            client.embedder.import_model("plain", tiny_embedding_model(), tiny_manifest())
            client.indexer.create_collection("plain", model="plain")
            with pytest.raises(SimmeshError) as caught:
                client.indexer.search("plain", text="a red circle", k=5)
            assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION and caught.value.reason == "NO_TEXT_TOWER"
            assert "no text tower" in caught.value.message
            assert caught.value.violations[0].field == "queries[0].text"

    await asyncio.to_thread(scenario)
