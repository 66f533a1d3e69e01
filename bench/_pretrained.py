"""The pretrained models beside the project (../shared/models): where they are and what their input is."""

from __future__ import annotations

from pathlib import Path

from simmesh_proto.v1 import embedder_pb2

SHARED = Path(__file__).resolve().parents[2] / "shared"
MOBILENET_V2 = SHARED / "models" / "mobilenet_v2" / "mobilenet_v2_1.0_224_float.onnx"


def mobilenet_v2_manifest() -> embedder_pb2.ModelManifest:
    """MobileNetV2 as ../shared/models/PROVENANCE.md describes its input: RGB, pixel / 127.5 - 1."""
    return embedder_pb2.ModelManifest(
        input_name="input",
        output_name="embedding",
        input_width=224,
        input_height=224,
        layout=embedder_pb2.TENSOR_LAYOUT_NCHW,
        color_order=embedder_pb2.COLOR_ORDER_RGB,
        resize_policy=embedder_pb2.RESIZE_POLICY_SHORTER_SIDE_CENTER_CROP,
        resize_shorter_side=256,
        scale=1 / 127.5,
        mean=[1.0, 1.0, 1.0],
        std=[1.0, 1.0, 1.0],
        dimension=1280,
        normalize=True,
        family="mobilenet_v2",
    )
