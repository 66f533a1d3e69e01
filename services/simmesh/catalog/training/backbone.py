"""Training a projection head on a frozen imported backbone, and merging the two into one graph.

The backbone's features are computed once with ONNX Runtime, fed exactly as the embedder feeds
the backbone (`preprocess` with its manifest), so no augmentation is applied. The head
(`ProjectionHead`) is trained on them in torch, written as a small ONNX graph at the backbone's
opset and IR version, and joined to the backbone with `onnx.compose.merge_models`: the
backbone's embedding output feeds the head's `features` input, names are prefixed `backbone/`
and `head/`. The merged model takes the backbone's input with the backbone's preprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import onnx.compose
import onnx.utils
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from simmesh.catalog.training.data import PreparedSet
from simmesh.catalog.training.evaluate import retrieval
from simmesh.catalog.training.export import MAX_IR_VERSION, TrainedModel, checked
from simmesh.catalog.training.loop import Hooks, embed, fit
from simmesh.catalog.training.network import EPS, ProjectionHead
from simmesh.catalog.training.options import Options
from simmesh.imaging.preprocess import preprocess
from simmesh.kit import reasons
from simmesh.kit.errors import Internal, InvalidArgument
from simmesh_proto.v1.embedder_pb2 import ModelManifest

FAMILY = "trained-head"
BACKBONE_PREFIX = "backbone/"
HEAD_PREFIX = "head/"
HEAD_INPUT = "features"
HEAD_OUTPUT = "embedding"
# The merged model must reproduce backbone-then-head to within this, per vector component.
TOLERANCE = 1e-4
_MIN_OPSET = 7  # Flatten, Sub, Mul, MatMul, Add, Relu, Sqrt, Div with broadcasting
_CHECK_IMAGES = 4


def backbone_features(
    onnx_bytes: bytes, manifest: ModelManifest, pictures: Sequence[Image.Image], batch: int = 32, threads: int = 2
) -> np.ndarray:
    """[n, F] float32: the backbone's output for each picture, flattened."""
    session = _session(onnx_bytes, threads)
    rows = []
    for start in range(0, len(pictures), batch):
        x = preprocess(pictures[start : start + batch], manifest)
        out = session.run([manifest.output_name], {manifest.input_name: x})[0]
        rows.append(np.asarray(out, dtype=np.float32).reshape(len(x), -1))
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def head_model(head: ProjectionHead, features: onnx.TypeProto, opset: int, ir_version: int) -> onnx.ModelProto:
    """`head` as an ONNX graph `features` -> `embedding` (same arithmetic as its forward)."""
    hidden, out = head.hidden, head.out
    tensors = {
        "mean": head.mean,
        "inv_std": head.inv_std,
        "w1": hidden.weight.T,
        "b1": hidden.bias,
        "w2": out.weight.T,
        "b2": out.bias,
        "ones": torch.ones(out.out_features, 1),
        "eps": torch.tensor([EPS]),
    }
    initializers = [
        numpy_helper.from_array(t.detach().float().contiguous().numpy(), name) for name, t in tensors.items()
    ]
    nodes = [
        helper.make_node("Flatten", [HEAD_INPUT], ["flat"], axis=1),
        helper.make_node("Sub", ["flat", "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "inv_std"], ["standard"]),
        helper.make_node("MatMul", ["standard", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["y0"]),
        helper.make_node("Add", ["y0", "b2"], ["y"]),
        helper.make_node("Mul", ["y", "y"], ["squares"]),
        helper.make_node("MatMul", ["squares", "ones"], ["sum"]),
        helper.make_node("Add", ["sum", "eps"], ["sum_eps"]),
        helper.make_node("Sqrt", ["sum_eps"], ["norm"]),
        helper.make_node("Div", ["y", "norm"], [HEAD_OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "projection_head",
        [helper.make_value_info(HEAD_INPUT, features)],
        [helper.make_tensor_value_info(HEAD_OUTPUT, TensorProto.FLOAT, ["N", out.out_features])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def merge(backbone_bytes: bytes, manifest: ModelManifest, head: ProjectionHead) -> tuple[bytes, ModelManifest]:
    """Backbone and head as one ONNX file, with the manifest that feeds it."""
    full = onnx.load_model_from_string(backbone_bytes)
    opset = next((o.version for o in full.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < _MIN_OPSET:
        raise InvalidArgument(
            f"the backbone uses opset {opset}; a head can be attached from opset {_MIN_OPSET}",
            reason=reasons.BACKBONE_OPSET_UNSUPPORTED,
            field="training_config.backbone_model",
        )
    ir_version = min(full.ir_version, MAX_IR_VERSION)
    backbone = onnx.utils.Extractor(full).extract_model([manifest.input_name], [manifest.output_name])
    backbone.ir_version = ir_version
    del backbone.opset_import[:]
    backbone.opset_import.extend(full.opset_import)
    output_type = next(o.type for o in backbone.graph.output if o.name == manifest.output_name)
    merged = onnx.compose.merge_models(
        backbone,
        head_model(head, output_type, opset, ir_version),
        io_map=[(manifest.output_name, HEAD_INPUT)],
        prefix1=BACKBONE_PREFIX,
        prefix2=HEAD_PREFIX,
    )
    merged.ir_version = ir_version
    onnx.checker.check_model(merged)
    result = ModelManifest()
    result.CopyFrom(manifest)
    result.input_name = BACKBONE_PREFIX + manifest.input_name
    result.output_name = HEAD_PREFIX + HEAD_OUTPUT
    result.dimension = head.out.out_features
    result.output_normalized = True
    result.normalize = True
    result.family = FAMILY
    return merged.SerializeToString(), result


def train_head(
    features: torch.Tensor,
    groups: np.ndarray,
    related: np.ndarray,
    options: Options,
    hooks: Hooks,
    monitor: tuple[torch.Tensor, np.ndarray] | None = None,
) -> tuple[ProjectionHead, float]:
    """A head trained on frozen `features` [n, F] labelled by `groups`; also the last epoch's loss.

    `monitor` (features, labels) gives the per-epoch metric (recall@1); the training data when None.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        head = ProjectionHead(features.mean(dim=0), features.std(dim=0), options.dimension)
    monitor_x, monitor_labels = monitor if monitor is not None and len(monitor[0]) else (features, groups)

    def metric() -> float:
        return retrieval(embed(head, monitor_x), monitor_labels, ks=(1,)).get("recall@1", 0.0)

    rng = np.random.default_rng(options.seed)
    loss = fit(head, features, groups, torch.from_numpy(related), options, rng, hooks, metric)
    return head, loss


def train_imported(
    prepared: PreparedSet, options: Options, backbone_bytes: bytes, backbone_manifest: ModelManifest, hooks: Hooks
) -> TrainedModel:
    """A projection head trained on the frozen backbone's features of `prepared`, merged with it."""
    backbone_manifest = checked(backbone_bytes, backbone_manifest)
    features = torch.from_numpy(backbone_features(backbone_bytes, backbone_manifest, prepared.pictures))
    train_x, test_x = features[prepared.train], features[prepared.test]
    test_labels = prepared.groups[prepared.test]
    head, loss = train_head(
        train_x, prepared.groups[prepared.train], prepared.related, options, hooks, (test_x, test_labels)
    )
    metrics = retrieval(embed(head, test_x), test_labels) if len(test_x) else {}
    metrics["loss"] = loss
    onnx_bytes, manifest = merge(backbone_bytes, backbone_manifest, head)
    manifest = checked(onnx_bytes, manifest)
    sample = [prepared.pictures[i] for i in range(min(_CHECK_IMAGES, len(prepared.pictures)))]
    check_exported(onnx_bytes, manifest, embed(head, features[: len(sample)]), sample)
    return TrainedModel(onnx=onnx_bytes, manifest=manifest, metrics=metrics)


def check_exported(
    onnx_bytes: bytes, manifest: ModelManifest, expected: np.ndarray, pictures: Sequence[Image.Image]
) -> None:
    """INTERNAL (MERGED_MODEL_MISMATCH) unless the exported graph gives `expected` for `pictures`."""
    got = _session(onnx_bytes, 1).run([manifest.output_name], {manifest.input_name: preprocess(pictures, manifest)})[0]
    error = float(np.abs(got - expected).max()) if got.size else 0.0
    if error > TOLERANCE:
        raise Internal(
            f"the merged model differs from backbone + head by {error:.2e} (> {TOLERANCE})",
            reason=reasons.MERGED_MODEL_MISMATCH,
        )


def _session(onnx_bytes: bytes, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
