"""ONNX embedding models served by a real tritonserver on CPU (Python backend + ONNX Runtime)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
from onnx import TensorProto, helper, numpy_helper
from tritonclient.utils import InferenceServerException

from simmesh.devstack.triton import TritonServer
from simmesh.embedder.triton_repository import write_model

pytestmark = pytest.mark.integration

INPUT, OUTPUT, SHAPE, DIM = "pixels", "embedding", (3, 8, 8), 16


def tiny_embedder(seed: int) -> bytes:
    """[N,3,8,8] float -> flatten -> MatMul with fixed random weights -> [N,16]."""
    weights = np.random.default_rng(seed).standard_normal((int(np.prod(SHAPE)), DIM)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", [INPUT], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weights"], [OUTPUT]),
        ],
        "tiny_embedder",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", *SHAPE])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", DIM])],
        initializer=[numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10  # onnx writes IR 14 by default; ONNX Runtime 1.31 refuses it
    onnx.checker.check_model(model)
    return model.SerializeToString()


def reference(onnx_bytes: bytes, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {INPUT: batch})[0]


def publish(server: TritonServer, name: str, version: int, onnx_bytes: bytes, **kwargs) -> None:
    write_model(
        Path(server.repository),
        name,
        version,
        onnx_bytes,
        input_name=INPUT,
        output_name=OUTPUT,
        dimension=DIM,
        input_shape=SHAPE,
        **kwargs,
    )


def infer(client: grpcclient.InferenceServerClient, name: str, batch: np.ndarray, version: str = "") -> np.ndarray:
    tensor = grpcclient.InferInput(INPUT, list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    result = client.infer(name, [tensor], model_version=version, outputs=[grpcclient.InferRequestedOutput(OUTPUT)])
    return result.as_numpy(OUTPUT)


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *SHAPE), dtype=np.float32)


@pytest.fixture
def client(triton_server: TritonServer):
    with grpcclient.InferenceServerClient(triton_server.grpc_url) as client:
        yield client


def test_load_infer_unload(triton_server: TritonServer, client: grpcclient.InferenceServerClient) -> None:
    model = tiny_embedder(seed=1)
    publish(triton_server, "tiny_embedder", 1, model)
    client.load_model("tiny_embedder")
    assert client.is_model_ready("tiny_embedder")

    batch = images(5)
    served = infer(client, "tiny_embedder", batch)
    assert served.shape == (5, DIM) and served.dtype == np.float32
    assert np.max(np.abs(served - reference(model, batch))) < 1e-4

    client.unload_model("tiny_embedder")
    assert not client.is_model_ready("tiny_embedder")
    with pytest.raises(InferenceServerException, match="tiny_embedder"):
        infer(client, "tiny_embedder", batch)


def test_concurrent_requests_get_their_own_rows(
    triton_server: TritonServer, client: grpcclient.InferenceServerClient
) -> None:
    model = tiny_embedder(seed=2)
    publish(triton_server, "batched", 1, model)
    client.load_model("batched")
    batches = [images(n, seed=n) for n in (1, 2, 3, 4, 5, 6, 7, 8)]

    def call(batch: np.ndarray) -> np.ndarray:
        with grpcclient.InferenceServerClient(triton_server.grpc_url) as own:
            return infer(own, "batched", batch)

    with ThreadPoolExecutor(len(batches)) as pool:
        served = list(pool.map(call, batches))
    for batch, out in zip(batches, served):
        assert np.max(np.abs(out - reference(model, batch))) < 1e-4
    client.unload_model("batched")


def test_new_version_is_served_and_pinned_versions_coexist(
    triton_server: TritonServer, client: grpcclient.InferenceServerClient
) -> None:
    first, second = tiny_embedder(seed=3), tiny_embedder(seed=4)
    batch = images(5)
    publish(triton_server, "versioned", 1, first)
    client.load_model("versioned")
    assert np.max(np.abs(infer(client, "versioned", batch) - reference(first, batch))) < 1e-4

    # Default policy: loading again after version 2 appears serves 2 and retires 1.
    publish(triton_server, "versioned", 2, second)
    client.load_model("versioned")
    assert client.is_model_ready("versioned", "2")
    assert not client.is_model_ready("versioned", "1")
    assert np.max(np.abs(infer(client, "versioned", batch) - reference(second, batch))) < 1e-4

    # Pinning both versions serves each with its own weights.
    publish(triton_server, "versioned", 2, second, versions=[1, 2])
    client.load_model("versioned")
    assert np.max(np.abs(infer(client, "versioned", batch, "1") - reference(first, batch))) < 1e-4
    assert np.max(np.abs(infer(client, "versioned", batch, "2") - reference(second, batch))) < 1e-4
    client.unload_model("versioned")
