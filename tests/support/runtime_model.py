"""A MatMul embedding model over [N,3,8,8] pixel tensors, its manifest and inputs, for the runtime tests."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from simmesh.kit.errors import SimmeshError
from support.models import input_manifest

INPUT, OUTPUT, SHAPE, DIM = "pixels", "embedding", (3, 8, 8), 16

MANIFEST = input_manifest(SHAPE[1], input_name=INPUT, output_name=OUTPUT, dimension=DIM)


def tiny_embedder(seed: int) -> bytes:
    """[N,3,8,8] float -> flatten -> MatMul with fixed random weights -> [N,16]."""
    weights = np.random.default_rng(seed).standard_normal((int(np.prod(SHAPE)), DIM)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", [INPUT], ["flat"], axis=1), helper.make_node("MatMul", ["flat", "w"], [OUTPUT])],
        "tiny_embedder",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", *SHAPE])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", DIM])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10  # onnx 1.23 writes IR 14 by default; ONNX Runtime 1.31 refuses it
    onnx.checker.check_model(model)
    return model.SerializeToString()


def images(n: int, shape: tuple[int, ...] = SHAPE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


async def refused(awaitable: Awaitable[object], code: grpc.StatusCode, reason: str) -> SimmeshError:
    with pytest.raises(SimmeshError) as caught:
        await awaitable
    assert (caught.value.code, caught.value.reason) == (code, reason), caught.value
    return caught.value
