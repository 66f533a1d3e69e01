"""A trained model as one ONNX file plus the manifest that feeds it, checked like an import."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import onnx
import torch
from torch import nn

from simmesh.imaging.manifest import validate
from simmesh_proto.v1.embedder_pb2 import ModelManifest

# IR version written into exported files: the one matching opset 17, loadable by every runtime
# the embedder uses (ONNX Runtime 1.31 refuses the IR 14 that onnx 1.23 writes by default).
IR_VERSION = 8
OPSET = 17
MAX_IR_VERSION = 10
INPUT_NAME = "input"
OUTPUT_NAME = "embedding"


@dataclass(frozen=True)
class TrainedModel:
    """An ONNX model version: the file, its manifest, evaluation figures and training time."""

    onnx: bytes
    manifest: ModelManifest
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def export_module(module: nn.Module, example: torch.Tensor) -> bytes:
    """`module` ([N, ...] -> [N, D]) as ONNX with a dynamic batch, input `input`, output `embedding`."""
    module.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(
            module,
            (example,),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to file objects
            dynamo=False,
            opset_version=OPSET,
            do_constant_folding=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
        )
    model = onnx.load_model_from_string(buffer.getvalue())
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()


def checked(onnx_bytes: bytes, manifest: ModelManifest) -> ModelManifest:
    """The manifest after the registry's own checks (names, shapes, a trial run, dimension)."""
    return validate(manifest, onnx_bytes)
