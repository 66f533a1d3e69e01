"""Dual-encoder models in the embedder: importing a text graph and tokenizer, embedding texts, and the
imports and requests it refuses."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from fixtures.status import fields_of, reason_of
from support.dual_encoder import DIMENSION, MAX_LENGTH, TinyDualEncoder, lookup_text_graph, word_tokenizer
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh_proto.v1 import common_pb2, embedder_pb2

SIZE = 16


@pytest.fixture
def stub(embedder_stub):
    return embedder_stub


def _untrained(vocabulary: int | None = None, dimension: int = DIMENSION) -> TinyDualEncoder:
    """A dual encoder of fixed random weights: the tiny image graph and a lookup-table text graph."""
    tokenizer = word_tokenizer()
    return TinyDualEncoder(
        image_onnx=tiny_embedding_model(size=SIZE, dimension=DIMENSION),
        text_onnx=lookup_text_graph(vocabulary or tokenizer.get_vocab_size(), dimension),
        tokenizer_json=tokenizer.to_str().encode(),
    )


def _manifest(model: TinyDualEncoder) -> embedder_pb2.ModelManifest:
    manifest = model.manifest()
    image = tiny_manifest(size=SIZE, dimension=DIMENSION)
    manifest.input_name, manifest.output_name = image.input_name, image.output_name
    manifest.input_width = manifest.input_height = SIZE
    return manifest


async def _import(stub, model: TinyDualEncoder, model_id: str = "shapes", manifest=None):
    header = embedder_pb2.ImportModelRequest.Header(model_id=model_id, manifest=manifest or _manifest(model))
    parts = [
        embedder_pb2.ImportModelRequest(header=header),
        embedder_pb2.ImportModelRequest(chunk=model.image_onnx),
        embedder_pb2.ImportModelRequest(text_chunk=model.text_onnx),
        embedder_pb2.ImportModelRequest(tokenizer_chunk=model.tokenizer_json),
    ]
    return await stub.ImportModel(iter(parts))


def _rows(reply) -> np.ndarray:
    return np.frombuffer(reply.vectors.data, "<f4").reshape(reply.vectors.count, reply.vectors.dimension)


async def test_a_dual_encoder_embeds_texts_as_its_text_graph_does(stub):
    model = _untrained()
    version = await _import(stub, model)
    assert version.manifest.kind == embedder_pb2.MODEL_KIND_DUAL_ENCODER and version.loaded
    assert version.text_sha256 and version.tokenizer_sha256
    reply = await stub.Embed(embedder_pb2.EmbedRequest(model="models/shapes", texts=["a red circle", "A Blue Square"]))
    assert reply.model_version == "models/shapes/versions/1" and not reply.errors
    vectors = _rows(reply)
    tokenizer = word_tokenizer()
    table = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), DIMENSION)).astype(np.float32)
    for row, text in zip(vectors, ["a red circle", "a blue square"]):
        ids = tokenizer.encode(text).ids
        assert len(ids) == MAX_LENGTH
        expected = table[ids].mean(axis=0)
        np.testing.assert_allclose(row, expected / np.linalg.norm(expected), atol=1e-5)
    streamed = [
        r
        async for r in stub.StreamEmbed(
            iter([embedder_pb2.EmbedRequest(model="models/shapes", texts=["a red circle"])])
        )
    ]
    np.testing.assert_allclose(_rows(streamed[0])[0], vectors[0], atol=1e-6)
    images = await stub.Embed(
        embedder_pb2.EmbedRequest(model="models/shapes", images=[common_pb2.Image(content=png_bytes((200, 0, 0)))])
    )
    assert images.vectors.dimension == reply.vectors.dimension == DIMENSION


async def test_a_text_for_an_image_only_model_is_refused_naming_the_missing_text_tower(stub):
    header = embedder_pb2.ImportModelRequest.Header(model_id="tiny", manifest=tiny_manifest())
    await stub.ImportModel(
        iter(
            [
                embedder_pb2.ImportModelRequest(header=header),
                embedder_pb2.ImportModelRequest(chunk=tiny_embedding_model()),
            ]
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(embedder_pb2.EmbedRequest(model="models/tiny", texts=["a red circle"]))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(caught.value) == "NO_TEXT_TOWER" and "no text tower" in caught.value.details()


async def test_a_tokenizer_larger_than_the_text_graphs_table_is_refused_and_nothing_is_stored(stub):
    model = _untrained(vocabulary=5)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _import(stub, model)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == "TOKENIZER_MISMATCH" and fields_of(caught.value) == ["tokenizer_chunk"]
    assert "10 tokens" in caught.value.details() and "5 rows" in caught.value.details()
    assert not (await stub.ListModels(embedder_pb2.ListModelsRequest())).models


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("tokenizer", "TOKENIZER_INVALID"),
        ("dimension", "MANIFEST_MISMATCH"),
        ("no text graph", "TEXT_TOWER_MISSING"),
        ("mask name", "MANIFEST_MISMATCH"),
    ],
)
async def test_a_text_tower_that_does_not_fit_its_manifest_is_refused(stub, change, reason):
    model = _untrained(dimension=DIMENSION // 2 if change == "dimension" else DIMENSION)
    manifest = _manifest(model)
    if change == "tokenizer":
        model = TinyDualEncoder(model.image_onnx, model.text_onnx, b'{"not": "a tokenizer"}')
    elif change == "no text graph":
        model = TinyDualEncoder(model.image_onnx, b"", model.tokenizer_json)
    elif change == "mask name":
        manifest.text.attention_mask_name = "mask"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _import(stub, model, manifest=manifest)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and reason_of(caught.value) == reason
    assert not (await stub.ListModels(embedder_pb2.ListModelsRequest())).models


@pytest.mark.parametrize(
    ("request_fields", "reason", "field"),
    [
        ({"texts": ["a red circle", "  "]}, "EMPTY_TEXT", "texts[1]"),
        ({"texts": ["a red circle"], "images": [common_pb2.Image(content=b"x")]}, "IMAGES_AND_TEXTS", "texts"),
        ({"texts": ["a", "b"], "ids": ["only one"]}, "IDS_LENGTH_MISMATCH", "ids"),
    ],
)
async def test_bad_text_requests_are_refused(stub, request_fields, reason, field):
    await _import(stub, _untrained())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(embedder_pb2.EmbedRequest(model="models/shapes", **request_fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == reason and fields_of(caught.value) == [field]
