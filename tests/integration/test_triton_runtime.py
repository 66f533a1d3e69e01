"""TritonRuntime against a real tritonserver that reads its model repository from a real S3 server,
checked against the in-process OnnxRuntimeRuntime on the same inputs."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
from support.models import input_manifest
from support.runtime_model import DIM, MANIFEST, images, refused, tiny_embedder

from simmesh.devstack.process import free_port
from simmesh.devstack.triton import TritonServer
from simmesh.embedder.onnx_runtime import OnnxRuntimeRuntime
from simmesh.embedder.runtime import Runtime
from simmesh.embedder.triton_runtime import TritonRuntime
from simmesh.kit.blobstore_s3 import S3BlobStore

pytestmark = pytest.mark.integration

PREFIX = "triton"
MOBILENET = input_manifest(224, dimension=1280)


@pytest.fixture
async def runtimes(triton_s3: TritonServer, triton_repository: S3BlobStore):
    triton = TritonRuntime(triton_s3.grpc_url, triton_repository, PREFIX)
    local = OnnxRuntimeRuntime()
    try:
        yield triton, local
    finally:
        await triton.close()
        await local.close()


async def test_triton_and_onnxruntime_give_the_same_vectors(
    runtimes: tuple[TritonRuntime, OnnxRuntimeRuntime], triton_repository: S3BlobStore, triton_s3: TritonServer
) -> None:
    triton, local = runtimes
    assert isinstance(triton, Runtime)
    model = tiny_embedder(1)
    await triton.load("tiny_v1", model, MANIFEST)
    await local.load("tiny_v1", model, MANIFEST)
    assert triton.loaded("tiny_v1")
    stored = {info.key for info in triton_repository.list(f"{PREFIX}/tiny_v1/")}
    assert stored == {
        f"{PREFIX}/tiny_v1/{name}" for name in ("config.pbtxt", "config.gpu.pbtxt", "1/model.onnx", "1/model.py")
    }

    for n in (1, 7, 70):  # 70 rows go to Triton as two requests (its max batch is 64)
        batch = images(n, seed=n)
        served, expected = await triton.infer("tiny_v1", batch), await local.infer("tiny_v1", batch)
        assert served.shape == (n, DIM) and served.dtype == np.float32
        assert np.max(np.abs(served - expected)) < 1e-4

    await triton.unload("tiny_v1")
    assert not triton.loaded("tiny_v1")
    error = await refused(triton.infer("tiny_v1", images(2)), grpc.StatusCode.NOT_FOUND, "MODEL_NOT_LOADED")
    assert "tiny_v1" in error.message
    with grpcclient.InferenceServerClient(triton_s3.grpc_url) as client:
        assert not client.is_model_ready("tiny_v1")
    assert list(triton_repository.list(f"{PREFIX}/tiny_v1/")) == []


async def test_model_unloaded_inside_triton_is_reported_by_name(
    runtimes: tuple[TritonRuntime, OnnxRuntimeRuntime], triton_s3: TritonServer
) -> None:
    triton, _ = runtimes
    await triton.load("gone_v1", tiny_embedder(2), MANIFEST)
    with grpcclient.InferenceServerClient(triton_s3.grpc_url) as client:
        client.unload_model("gone_v1")
    error = await refused(triton.infer("gone_v1", images(1)), grpc.StatusCode.NOT_FOUND, "MODEL_NOT_LOADED")
    assert "gone_v1" in error.message
    assert not triton.loaded("gone_v1")
    await triton.unload("gone_v1")


async def test_unreachable_triton_is_unavailable(triton_repository: S3BlobStore) -> None:
    triton = TritonRuntime(f"127.0.0.1:{free_port()}", triton_repository, "triton-unreachable", timeout=5)
    try:
        error = await refused(
            triton.load("lost_v1", tiny_embedder(3), MANIFEST), grpc.StatusCode.UNAVAILABLE, "TRITON_UNAVAILABLE"
        )
        assert "lost_v1" in error.message and error.retriable
    finally:
        await triton.close()
        triton_repository.delete_prefix("triton-unreachable/")


async def test_mobilenet_v2_matches_between_runtimes(
    runtimes: tuple[TritonRuntime, OnnxRuntimeRuntime], mobilenet_v2_onnx: Path
) -> None:
    triton, local = runtimes
    model = mobilenet_v2_onnx.read_bytes()
    declared = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).get_inputs()[0]
    assert declared.name == MOBILENET.input_name and declared.shape[1:] == [3, 224, 224]
    await triton.load("mobilenet_v2_v1", model, MOBILENET)
    await local.load("mobilenet_v2_v1", model, MOBILENET)
    batch = images(32, (3, 224, 224), seed=7) * 2 - 1  # the model takes pixels scaled to [-1, 1]

    served = await triton.infer("mobilenet_v2_v1", batch)
    expected = await local.infer("mobilenet_v2_v1", batch)
    assert served.shape == (32, 1280)
    assert np.max(np.abs(served - expected)) < 1e-4

    timings = {}
    for name, runtime in (("triton", triton), ("onnxruntime", local)):
        started = time.perf_counter()
        for _ in range(3):
            await runtime.infer("mobilenet_v2_v1", batch)
        timings[name] = (time.perf_counter() - started) / 3
    print(
        f"\nMobileNetV2 batch 32 round trip: triton {timings['triton'] * 1000:.0f} ms, "
        f"onnxruntime in-process {timings['onnxruntime'] * 1000:.0f} ms, "
        f"ratio {timings['triton'] / timings['onnxruntime']:.2f}"
    )
    await triton.unload("mobilenet_v2_v1")
