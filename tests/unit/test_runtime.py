"""In-process ONNX Runtime: loading, inference off the event loop, and merging concurrent calls."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import onnxruntime as ort
import pytest
from support.runtime_model import DIM, INPUT, MANIFEST, OUTPUT, images, refused, tiny_embedder

from simmesh.embedder.onnx_runtime import OnnxRuntimeRuntime
from simmesh.embedder.runtime import Runtime
from simmesh_proto.v1 import embedder_pb2


def reference(onnx_bytes: bytes, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {INPUT: batch})[0]


@pytest.fixture
async def runtime():
    runtime = OnnxRuntimeRuntime()
    try:
        yield runtime
    finally:
        await runtime.close()


async def test_load_infer_unload(runtime: OnnxRuntimeRuntime) -> None:
    assert isinstance(runtime, Runtime)
    model = tiny_embedder(1)
    await runtime.load("tiny_v1", model, MANIFEST)
    assert runtime.loaded("tiny_v1")

    batch = images(5)
    out = await runtime.infer("tiny_v1", batch)
    assert out.shape == (5, DIM) and out.dtype == np.float32
    assert np.max(np.abs(out - reference(model, batch))) < 1e-5
    assert (await runtime.infer("tiny_v1", batch[:0])).shape == (0, DIM)

    await runtime.unload("tiny_v1")
    assert not runtime.loaded("tiny_v1")
    error = await refused(runtime.infer("tiny_v1", batch), grpc.StatusCode.NOT_FOUND, "MODEL_NOT_LOADED")
    assert "tiny_v1" in error.message
    await runtime.unload("tiny_v1")  # unloading twice is not an error


async def test_unknown_key_is_not_loaded(runtime: OnnxRuntimeRuntime) -> None:
    error = await refused(runtime.infer("never_v1", images(1)), grpc.StatusCode.NOT_FOUND, "MODEL_NOT_LOADED")
    assert error.metadata["model"] == "never_v1"


async def test_reloading_a_key_serves_the_new_model(runtime: OnnxRuntimeRuntime) -> None:
    first, second = tiny_embedder(1), tiny_embedder(2)
    batch = images(3)
    await runtime.load("m_v1", first, MANIFEST)
    assert np.max(np.abs(await runtime.infer("m_v1", batch) - reference(first, batch))) < 1e-5
    await runtime.load("m_v1", second, MANIFEST)
    assert np.max(np.abs(await runtime.infer("m_v1", batch) - reference(second, batch))) < 1e-5


async def test_bad_models_manifests_and_inputs_are_refused(runtime: OnnxRuntimeRuntime) -> None:
    await refused(
        runtime.load("junk_v1", b"not an onnx file", MANIFEST), grpc.StatusCode.INVALID_ARGUMENT, "MODEL_INVALID"
    )
    renamed = embedder_pb2.ModelManifest()
    renamed.CopyFrom(MANIFEST)
    renamed.output_name = "features"
    error = await refused(
        runtime.load("renamed_v1", tiny_embedder(1), renamed), grpc.StatusCode.INVALID_ARGUMENT, "MODEL_INVALID"
    )
    assert "features" in error.message and "embedding" in error.message
    bigger = embedder_pb2.ModelManifest()
    bigger.CopyFrom(MANIFEST)
    bigger.input_width = bigger.input_height = 224
    await refused(runtime.load("size_v1", tiny_embedder(1), bigger), grpc.StatusCode.INVALID_ARGUMENT, "MODEL_INVALID")
    await refused(
        runtime.load("bad/key", tiny_embedder(1), MANIFEST), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_MANIFEST"
    )
    assert not runtime.loaded("junk_v1") and not runtime.loaded("renamed_v1")

    await runtime.load("tiny_v1", tiny_embedder(1), MANIFEST)
    error = await refused(
        runtime.infer("tiny_v1", np.zeros((2, 3, 16, 16), np.float32)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_INPUT",
    )
    assert "tiny_v1" in error.message


async def test_concurrent_calls_are_merged_and_each_caller_gets_its_own_rows() -> None:
    runtime = OnnxRuntimeRuntime(max_batch=64)
    try:
        model = tiny_embedder(3)
        await runtime.load("merged_v1", model, MANIFEST)
        batches = [images(n, seed=100 + i) for i, n in enumerate([1, 2, 3, 1, 4, 1, 5, 2, 1, 1, 3, 2, 1, 6, 1, 2])]
        outputs = await asyncio.gather(*(runtime.infer("merged_v1", b) for b in batches))
        stats = runtime.stats("merged_v1")
        assert stats.calls == len(batches)
        assert stats.runs < len(batches)
        assert stats.rows == sum(len(b) for b in batches)
        for batch, out in zip(batches, outputs):
            assert out.shape == (len(batch), DIM)
            assert np.max(np.abs(out - reference(model, batch))) < 1e-5
    finally:
        await runtime.close()


async def test_merged_runs_respect_max_batch_and_big_calls_run_alone() -> None:
    runtime = OnnxRuntimeRuntime(max_batch=8)
    try:
        model = tiny_embedder(4)
        await runtime.load("capped_v1", model, MANIFEST)
        batches = [images(3, seed=i) for i in range(10)] + [images(20, seed=99)]
        outputs = await asyncio.gather(*(runtime.infer("capped_v1", b) for b in batches))
        stats = runtime.stats("capped_v1")
        assert stats.largest_run == 20  # the one call above max_batch, on its own
        assert stats.runs >= 1 + 30 // 8
        for batch, out in zip(batches, outputs):
            assert np.max(np.abs(out - reference(model, batch))) < 1e-5
    finally:
        await runtime.close()


async def test_a_wait_window_gathers_callers_that_arrive_apart() -> None:
    runtime = OnnxRuntimeRuntime(max_wait=0.15)
    try:
        model = tiny_embedder(7)
        await runtime.load("window_v1", model, MANIFEST)
        batches = [images(1, seed=i) for i in range(4)]

        async def later(i: int) -> np.ndarray:
            await asyncio.sleep(0.01 * i)
            return await runtime.infer("window_v1", batches[i])

        outputs = await asyncio.gather(*(later(i) for i in range(4)))
        assert runtime.stats("window_v1").runs == 1
        for batch, out in zip(batches, outputs):
            assert np.max(np.abs(out - reference(model, batch))) < 1e-5
    finally:
        await runtime.close()


async def test_a_cancelled_caller_does_not_disturb_the_others(runtime: OnnxRuntimeRuntime) -> None:
    model = tiny_embedder(5)
    await runtime.load("cancel_v1", model, MANIFEST)
    batches = [images(2, seed=i) for i in range(6)]
    tasks = [asyncio.create_task(runtime.infer("cancel_v1", b)) for b in batches]
    await asyncio.sleep(0)  # every call is queued
    tasks[2].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    for i in (0, 1, 3, 4, 5):
        assert np.max(np.abs(results[i] - reference(model, batches[i]))) < 1e-5


async def test_unload_answers_calls_already_queued(runtime: OnnxRuntimeRuntime) -> None:
    model = tiny_embedder(6)
    await runtime.load("drain_v1", model, MANIFEST)
    batches = [images(2, seed=i) for i in range(4)]
    tasks = [asyncio.create_task(runtime.infer("drain_v1", b)) for b in batches]
    await asyncio.sleep(0)
    await runtime.unload("drain_v1")
    for batch, task in zip(batches, tasks):
        assert np.max(np.abs(await task - reference(model, batch))) < 1e-5
