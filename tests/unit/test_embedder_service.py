"""The embedder through gRPC, in-process ONNX Runtime and a file store: import, embed, errors."""

from __future__ import annotations

import base64

import grpc
import numpy as np
import onnxruntime as ort
import pytest
from fixtures.status import fields_of, reason_of
from google.protobuf import field_mask_pb2
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh.imaging.decode import decode
from simmesh.imaging.preprocess import preprocess
from simmesh_proto.v1 import common_pb2, embedder_pb2


@pytest.fixture
def stub(embedder_stub):
    return embedder_stub


async def _import(stub, model_id="tiny", onnx=None, manifest=None, chunk=1000, **header):
    onnx = onnx if onnx is not None else tiny_embedding_model()
    head = embedder_pb2.ImportModelRequest.Header(
        model_id=model_id, manifest=manifest or tiny_manifest(), size_bytes=len(onnx), **header
    )

    def parts():
        yield embedder_pb2.ImportModelRequest(header=head)
        for start in range(0, len(onnx), chunk):
            yield embedder_pb2.ImportModelRequest(chunk=onnx[start : start + chunk])

    return await stub.ImportModel(parts())


def _rows(response) -> np.ndarray:
    batch = response.vectors
    return np.frombuffer(batch.data, dtype="<f4").reshape(batch.count, batch.dimension)


async def test_import_then_embed_matches_onnxruntime(stub):
    version = await _import(stub, description="test model")
    assert version.name == "models/tiny/versions/1" and version.loaded and version.manifest.dimension == 8
    images = [png_bytes((200, 10, 10)), png_bytes((10, 200, 10), size=(64, 64), fmt="JPEG")]
    reply = await stub.Embed(
        embedder_pb2.EmbedRequest(
            model="models/tiny",
            images=[common_pb2.Image(content=images[0]), common_pb2.Image(base64=base64.b64encode(images[1]).decode())],
        )
    )
    assert reply.model_version == "models/tiny/versions/1" and not reply.errors
    vectors = _rows(reply)
    session = ort.InferenceSession(tiny_embedding_model(), providers=["CPUExecutionProvider"])
    expected = session.run(["embedding"], {"input": preprocess([decode(b) for b in images], tiny_manifest())})[0]
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


async def test_a_bad_image_fails_only_its_item(stub):
    await _import(stub)
    good = png_bytes((30, 60, 90))
    reply = await stub.Embed(
        embedder_pb2.EmbedRequest(
            model="models/tiny/versions/1",
            images=[
                common_pb2.Image(content=good),
                common_pb2.Image(content=b"not an image"),
                common_pb2.Image(base64="%%%"),
                common_pb2.Image(),
                common_pb2.Image(content=good),
            ],
            ids=["a", "b", "c", "d", "e"],
        )
    )
    failed = {e.index: (e.id, e.status.code, reason_of(e.status)) for e in reply.errors}
    assert failed == {
        1: ("b", grpc.StatusCode.INVALID_ARGUMENT.value[0], "IMAGE_UNDECODABLE"),
        2: ("c", grpc.StatusCode.INVALID_ARGUMENT.value[0], "IMAGE_BASE64_INVALID"),
        3: ("d", grpc.StatusCode.INVALID_ARGUMENT.value[0], "IMAGE_EMPTY"),
    }
    vectors = _rows(reply)
    assert vectors.shape == (5, 8)
    np.testing.assert_allclose(vectors[0], vectors[4], atol=1e-6)
    assert np.abs(vectors[0]).sum() > 0 and not vectors[1:4].any()


async def test_stream_embed_answers_each_batch_in_order(stub):
    await _import(stub)
    colors = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]

    def requests():
        for color in colors:
            yield embedder_pb2.EmbedRequest(model="models/tiny", images=[common_pb2.Image(content=png_bytes(color))])

    replies = [r async for r in stub.StreamEmbed(requests())]
    single = [
        _rows(
            await stub.Embed(
                embedder_pb2.EmbedRequest(model="models/tiny", images=[common_pb2.Image(content=png_bytes(c))])
            )
        )
        for c in colors
    ]
    assert len(replies) == 3
    for reply, expected in zip(replies, single):
        np.testing.assert_allclose(_rows(reply), expected, atol=1e-6)


async def test_versions_default_and_delete(stub):
    await _import(stub)
    second = await _import(stub, onnx=tiny_embedding_model(seed=1), set_default=False)
    assert second.name == "models/tiny/versions/2"
    model = await stub.GetModel(embedder_pb2.GetModelRequest(name="models/tiny"))
    assert (model.default_version, model.latest_version) == (1, 2)
    image = [common_pb2.Image(content=png_bytes((5, 100, 200)))]
    v1 = _rows(await stub.Embed(embedder_pb2.EmbedRequest(model="models/tiny", images=image)))
    v2 = _rows(await stub.Embed(embedder_pb2.EmbedRequest(model="models/tiny/versions/2", images=image)))
    assert not np.allclose(v1, v2)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteModelVersion(embedder_pb2.DeleteModelVersionRequest(name="models/tiny/versions/1"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(caught.value) == "MODEL_VERSION_IS_DEFAULT"

    updated = await stub.UpdateModel(
        embedder_pb2.UpdateModelRequest(
            model=embedder_pb2.Model(name="models/tiny", default_version=2),
            update_mask=field_mask_pb2.FieldMask(paths=["default_version"]),
        )
    )
    assert updated.default_version == 2
    now = _rows(await stub.Embed(embedder_pb2.EmbedRequest(model="models/tiny", images=image)))
    np.testing.assert_allclose(now, v2, atol=1e-6)

    await stub.DeleteModelVersion(embedder_pb2.DeleteModelVersionRequest(name="models/tiny/versions/1"))
    versions = await stub.ListModelVersions(embedder_pb2.ListModelVersionsRequest(parent="models/tiny"))
    assert [v.name for v in versions.versions] == ["models/tiny/versions/2"]

    await stub.DeleteModel(embedder_pb2.DeleteModelRequest(name="models/tiny"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(embedder_pb2.EmbedRequest(model="models/tiny", images=image))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND and reason_of(caught.value) == "MODEL_NOT_FOUND"


async def test_list_models_pages(stub):
    for name in ("alpha", "beta", "gamma"):
        await _import(stub, model_id=name)
    first = await stub.ListModels(embedder_pb2.ListModelsRequest(page_size=2))
    second = await stub.ListModels(embedder_pb2.ListModelsRequest(page_size=2, page_token=first.next_page_token))
    assert [m.name for m in first.models] == ["models/alpha", "models/beta"]
    assert [m.name for m in second.models] == ["models/gamma"] and not second.next_page_token


@pytest.mark.parametrize(
    "case, reason, field",
    [
        ("wrong output", "MANIFEST_MISMATCH", "header.manifest.output_name"),
        ("wrong input", "MANIFEST_MISMATCH", "header.manifest.input_name"),
        ("wrong size", "MANIFEST_MISMATCH", "header.manifest"),
        ("wrong dimension", "MANIFEST_MISMATCH", "header.manifest.dimension"),
        ("not onnx", "MODEL_INVALID", "chunk"),
        ("ir too new", "MODEL_IR_UNSUPPORTED", "chunk"),
        ("bad id", "INVALID_MODEL_ID", "header.model_id"),
    ],
)
async def test_import_checks_the_manifest_against_the_graph(stub, case, reason, field):
    manifest, onnx, model_id = tiny_manifest(), tiny_embedding_model(), "tiny"
    if case == "wrong output":
        manifest.output_name = "logits"
    elif case == "wrong input":
        manifest.input_name = "data"
    elif case == "wrong size":
        manifest.input_width = manifest.input_height = 32
    elif case == "wrong dimension":
        manifest.dimension = 9
    elif case == "not onnx":
        onnx = b"\x00garbage" * 10
    elif case == "ir too new":
        onnx = tiny_embedding_model(ir_version=14)
    elif case == "bad id":
        model_id = "Bad Id"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _import(stub, model_id=model_id, onnx=onnx, manifest=manifest)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == reason
    assert fields_of(caught.value)[:1] == [field]
    models = await stub.ListModels(embedder_pb2.ListModelsRequest())
    assert not models.models, "a refused import must store nothing"


async def test_request_level_errors(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(embedder_pb2.EmbedRequest(model="models/nope", images=[common_pb2.Image(content=b"x")]))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND and reason_of(caught.value) == "MODEL_NOT_FOUND"
    await _import(stub)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(embedder_pb2.EmbedRequest(model="models/tiny"))
    assert reason_of(caught.value) == "NO_IMAGES"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(embedder_pb2.EmbedRequest(model="tiny", images=[common_pb2.Image(content=b"x")]))
    assert reason_of(caught.value) == "INVALID_MODEL_NAME"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(
            embedder_pb2.EmbedRequest(model="models/tiny", images=[common_pb2.Image(content=b"x")], ids=["a", "b"])
        )
    assert reason_of(caught.value) == "IDS_LENGTH_MISMATCH"


async def test_compare_scores_each_candidate_against_the_reference(stub):
    await _import(stub)
    red, green = png_bytes((220, 20, 20)), png_bytes((20, 220, 20))
    reply = await stub.Compare(
        embedder_pb2.CompareRequest(
            model="models/tiny",
            reference=common_pb2.Image(content=red),
            candidates=[common_pb2.Image(content=red), common_pb2.Image(base64=base64.b64encode(green).decode())],
        )
    )
    assert reply.model_version == "models/tiny/versions/1"
    vectors = _rows(
        await stub.Embed(embedder_pb2.EmbedRequest(model="models/tiny", images=[common_pb2.Image(content=green)]))
    )
    reference = _rows(
        await stub.Embed(embedder_pb2.EmbedRequest(model="models/tiny", images=[common_pb2.Image(content=red)]))
    )
    assert reply.similarities[0] == pytest.approx(1.0, abs=1e-5)
    assert reply.similarities[1] == pytest.approx(float(vectors[0] @ reference[0]), abs=1e-5)
    assert reply.similarities[1] < reply.similarities[0]


@pytest.mark.parametrize(
    ("reference", "candidates", "reason", "field"),
    [
        (b"not an image", [png_bytes((1, 2, 3))], "IMAGE_UNDECODABLE", "reference"),
        (png_bytes((1, 2, 3)), [png_bytes((1, 2, 3))] * 3 + [b"not an image"], "IMAGE_UNDECODABLE", "candidates[3]"),
        (png_bytes((1, 2, 3)), [png_bytes((1, 2, 3)), b""], "IMAGE_EMPTY", "candidates[1]"),
        (png_bytes((1, 2, 3)), [], "NO_CANDIDATES", "candidates"),
    ],
    ids=["bad-reference", "bad-candidate", "empty-candidate", "no-candidates"],
)
async def test_compare_refuses_a_bad_image_naming_it(stub, reference, candidates, reason, field):
    await _import(stub)
    request = embedder_pb2.CompareRequest(
        model="models/tiny",
        reference=common_pb2.Image(content=reference),
        candidates=[common_pb2.Image(content=c) for c in candidates],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Compare(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == reason
    assert fields_of(caught.value)[0].split(".")[0] == field  # the image, or its source field
    assert field in caught.value.details()
    versions = await stub.ListModelVersions(embedder_pb2.ListModelVersionsRequest(parent="models/tiny"))
    assert [v.name for v in versions.versions] == ["models/tiny/versions/1"], "a refused compare stores nothing"


async def test_compare_with_an_unknown_model_is_not_found(stub):
    request = embedder_pb2.CompareRequest(
        model="models/nope",
        reference=common_pb2.Image(content=png_bytes((1, 2, 3))),
        candidates=[common_pb2.Image(content=png_bytes((1, 2, 3)))],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Compare(request)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND and reason_of(caught.value) == "MODEL_NOT_FOUND"
