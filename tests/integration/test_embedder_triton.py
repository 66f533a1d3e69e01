"""The embedder serving through a real tritonserver that reads its repository from a real S3 server:
the same vectors as in-process ONNX Runtime, and deleting a model unloads it from Triton; a dual
encoder's images go through Triton and its texts through its in-process text tower."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tritongrpc
from support.apps import through_triton_and_in_process
from support.dual_encoder import untrained_dual_encoder
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh_proto.v1 import common_pb2, embedder_pb2

pytestmark = pytest.mark.integration


async def _import(stub, model_id: str, onnx: bytes) -> embedder_pb2.ModelVersion:
    def parts():
        yield embedder_pb2.ImportModelRequest(
            header=embedder_pb2.ImportModelRequest.Header(
                model_id=model_id, manifest=tiny_manifest(), size_bytes=len(onnx)
            )
        )
        yield embedder_pb2.ImportModelRequest(chunk=onnx)

    return await stub.ImportModel(parts())


def _rows(reply: embedder_pb2.EmbedResponse) -> np.ndarray:
    return np.frombuffer(reply.vectors.data, "<f4").reshape(reply.vectors.count, reply.vectors.dimension)


async def test_triton_and_in_process_give_the_same_vectors_and_delete_unloads(tmp_path, triton_s3, triton_s3_embedder):
    onnx = tiny_embedding_model(seed=5)
    images = [
        common_pb2.Image(content=png_bytes(c, size=(50 + 10 * i, 40)))
        for i, c in enumerate([(250, 20, 20), (20, 250, 20), (20, 20, 250), (128, 128, 128)])
    ]
    images.append(common_pb2.Image(content=b"broken"))
    async with through_triton_and_in_process(tmp_path, triton_s3_embedder) as (through_triton, in_process):
        version = await _import(through_triton, "tiny-triton", onnx)
        assert version.loaded
        await _import(in_process, "tiny-triton", onnx)
        with tritongrpc.InferenceServerClient(triton_s3.grpc_url) as client:
            assert client.is_model_ready("tiny_triton_v1")
        request = embedder_pb2.EmbedRequest(model="models/tiny-triton", images=images)
        served, local = await through_triton.Embed(request), await in_process.Embed(request)
        assert [e.index for e in served.errors] == [4] == [e.index for e in local.errors]
        assert np.abs(_rows(served) - _rows(local)).max() < 1e-4
        assert np.abs(_rows(served)[:4]).sum() > 0

        await through_triton.DeleteModel(embedder_pb2.DeleteModelRequest(name="models/tiny-triton"))
        with tritongrpc.InferenceServerClient(triton_s3.grpc_url) as client:
            assert not client.is_model_ready("tiny_triton_v1")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await through_triton.Embed(request)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_dual_encoder_in_triton_mode_embeds_images_through_triton_and_texts_alike(
    tmp_path, triton_s3, triton_s3_embedder
):
    model, manifest = untrained_dual_encoder()
    async with through_triton_and_in_process(tmp_path, triton_s3_embedder) as stubs:
        for stub in stubs:
            assert (await stub.ImportModel(iter(model.import_requests("shapes", manifest)))).loaded
        with tritongrpc.InferenceServerClient(triton_s3.grpc_url) as client:
            assert client.is_model_ready("shapes_v1")
        images = embedder_pb2.EmbedRequest(
            model="models/shapes", images=[common_pb2.Image(content=png_bytes((9, 99, 199)))]
        )
        texts = embedder_pb2.EmbedRequest(model="models/shapes", texts=["a red circle", "a green square"])
        for request in (images, texts):
            served, local = [_rows(await stub.Embed(request)) for stub in stubs]
            assert served.shape == local.shape and np.abs(served - local).max() < 1e-4
