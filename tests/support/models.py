"""Small ONNX embedding models generated in code, for tests that need a model of their own."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from simmesh_proto.v1 import embedder_pb2


def tiny_embedding_model(size: int = 16, dimension: int = 8, seed: int = 0, *, ir_version: int = 8) -> bytes:
    """[N, 3, size, size] float -> [N, dimension]: average-pool to 4x4, flatten, fixed projection."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((3 * 4 * 4, dimension)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node(
                "AveragePool",
                ["input"],
                ["pooled"],
                kernel_shape=[size // 4, size // 4],
                strides=[size // 4, size // 4],
            ),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weights"], ["embedding"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", dimension])],
        [numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model.SerializeToString()


def input_manifest(size: int, **fields: Any) -> embedder_pb2.ModelManifest:
    """A manifest for a square NCHW RGB input `input` and an output `embedding`; `fields` add to or replace these."""
    base: dict[str, Any] = dict(
        input_name="input",
        output_name="embedding",
        input_width=size,
        input_height=size,
        layout=embedder_pb2.TENSOR_LAYOUT_NCHW,
        color_order=embedder_pb2.COLOR_ORDER_RGB,
    )
    return embedder_pb2.ModelManifest(**{**base, **fields})


def tiny_manifest(size: int = 16, dimension: int = 8) -> embedder_pb2.ModelManifest:
    return input_manifest(
        size,
        resize_policy=embedder_pb2.RESIZE_POLICY_STRETCH,
        scale=1 / 255,
        dimension=dimension,
        normalize=True,
        family="tiny",
    )


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (40, 30), fmt: str = "PNG") -> bytes:
    """An encoded image of a colour gradient starting at `color`."""
    width, height = size
    ramp = np.linspace(0, 60, width, dtype=np.float32)[None, :, None]
    pixels = np.clip(np.array(color, dtype=np.float32)[None, None, :] + ramp, 0, 255).astype(np.uint8)
    pixels = np.repeat(pixels, height, axis=0)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, fmt)
    return buffer.getvalue()
