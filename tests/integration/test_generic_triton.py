"""The built-in `generic` model from a first start: created by the embedder, served through a real
tritonserver (repository in a real S3 server), the same vectors as in-process ONNX Runtime."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tritonclient.grpc as tritongrpc
from PIL import Image
from support.apps import through_triton_and_in_process

from simmesh_proto.v1 import common_pb2, embedder_pb2

pytestmark = pytest.mark.integration


def _photo_like(seed: int, size: tuple[int, int]) -> bytes:
    """A JPEG of smooth random shapes and texture, so the network sees edges and colours."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    noise = rng.integers(-20, 21, base.shape, dtype=np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _rows(reply: embedder_pb2.EmbedResponse) -> np.ndarray:
    return np.frombuffer(reply.vectors.data, "<f4").reshape(reply.vectors.count, reply.vectors.dimension)


async def test_first_start_serves_generic_through_triton_like_onnxruntime(tmp_path, triton_s3, triton_s3_embedder):
    images = [common_pb2.Image(content=_photo_like(i, (320 + 40 * i, 240))) for i in range(5)]
    async with through_triton_and_in_process(tmp_path, triton_s3_embedder, builtin_models=True) as (
        through_triton,
        in_process,
    ):
        request = embedder_pb2.EmbedRequest(model="models/generic", images=images)
        served, local = await through_triton.Embed(request), await in_process.Embed(request)
        assert served.model_version == "models/generic/versions/1" == local.model_version
        with tritongrpc.InferenceServerClient(triton_s3.grpc_url) as client:
            assert client.is_model_ready("generic_v1")
        assert _rows(served).shape == (5, 1280)
        np.testing.assert_allclose(np.linalg.norm(_rows(served), axis=1), 1.0, atol=1e-5)
        assert np.abs(_rows(served) - _rows(local)).max() < 1e-4
