"""Dual-encoder models in the embedder: importing a text graph and tokenizer, embedding texts, and the
imports and requests it refuses."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from fixtures.status import fields_of, reason_of
from support.dual_encoder import DIMENSION, MAX_LENGTH, TinyDualEncoder, untrained_dual_encoder, word_tokenizer
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh_proto.v1 import common_pb2, embedder_pb2


@pytest.fixture
def stub(embedder_stub):
    return embedder_stub


async def _import(stub, model: TinyDualEncoder, manifest: embedder_pb2.ModelManifest, model_id: str = "shapes"):
    return await stub.ImportModel(iter(model.import_requests(model_id, manifest)))


def _rows(reply) -> np.ndarray:
    return np.frombuffer(reply.vectors.data, "<f4").reshape(reply.vectors.count, reply.vectors.dimension)


async def test_a_dual_encoder_embeds_texts_as_its_text_graph_does(stub):
    version = await _import(stub, *untrained_dual_encoder())
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
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _import(stub, *untrained_dual_encoder(vocabulary=5))
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
    model, manifest = untrained_dual_encoder(dimension=DIMENSION // 2 if change == "dimension" else DIMENSION)
    if change == "tokenizer":
        model = TinyDualEncoder(model.image_onnx, model.text_onnx, b'{"not": "a tokenizer"}')
    elif change == "no text graph":
        model = TinyDualEncoder(model.image_onnx, b"", model.tokenizer_json)
    elif change == "mask name":
        manifest.text.attention_mask_name = "mask"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _import(stub, model, manifest)
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
    await _import(stub, *untrained_dual_encoder())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(embedder_pb2.EmbedRequest(model="models/shapes", **request_fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == reason and fields_of(caught.value) == [field]
