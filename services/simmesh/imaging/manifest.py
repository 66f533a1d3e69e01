"""A model manifest checked against its ONNX graph: input and output names, input shape, a trial run."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from simmesh.imaging.preprocess import input_shape
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh_proto.v1.embedder_pb2 import ModelManifest

# ONNX Runtime 1.31 loads IR versions up to this.
MAX_IR_VERSION = 13


def parse_graph(onnx_model: bytes, field: str) -> onnx.ModelProto:
    """The ONNX file parsed, once it is one the runtime can load; its faults name `field`."""
    if not onnx_model:
        raise InvalidArgument("the ONNX file is empty", reason=reasons.MODEL_INVALID, field=field)
    try:
        graph = onnx.load_model_from_string(onnx_model)
    except Exception as error:  # any parse failure means "not an ONNX file"
        raise InvalidArgument(f"not a valid ONNX file: {error}", reason=reasons.MODEL_INVALID, field=field) from None
    if graph.ir_version > MAX_IR_VERSION:
        raise InvalidArgument(
            f"the ONNX file declares IR version {graph.ir_version}; the runtime loads IR <= {MAX_IR_VERSION} "
            "(re-save it with an older IR version)",
            reason=reasons.MODEL_IR_UNSUPPORTED,
            field=field,
        )
    return graph


def graph_tensors(graph: onnx.ModelProto) -> tuple[dict[str, onnx.ValueInfoProto], set[str]]:
    """The graph's inputs by name (initializers aside) and its output names."""
    initializers = {i.name for i in graph.graph.initializer}
    inputs = {i.name: i for i in graph.graph.input if i.name not in initializers}
    return inputs, {o.name for o in graph.graph.output}


def require_output(which: str, field: str, name: str, outputs: set[str]) -> None:
    """`name` (the manifest's `field`) is one of the `outputs` of `which` graph."""
    if name not in outputs:
        raise InvalidArgument(
            f"{field} {name!r} is not an output of {which} (outputs: {sorted(outputs)})",
            reason=reasons.MANIFEST_MISMATCH,
            field=f"header.{field}",
        )


def validate(manifest: ModelManifest, onnx_model: bytes, trial_batch: int = 2) -> ModelManifest:
    """The manifest, checked against the graph and a trial run (dimension filled in if 0)."""
    graph = parse_graph(onnx_model, "chunk")
    inputs, outputs = graph_tensors(graph)
    if manifest.input_name not in inputs:
        raise InvalidArgument(
            f"manifest.input_name {manifest.input_name!r} is not an input of the graph (inputs: {sorted(inputs)})",
            reason=reasons.MANIFEST_MISMATCH,
            field="header.manifest.input_name",
        )
    require_output("the graph", "manifest.output_name", manifest.output_name, outputs)
    try:
        shape = input_shape(manifest, trial_batch)
    except ValueError as error:
        raise InvalidArgument(str(error), reason=reasons.INVALID_MANIFEST, field="header.manifest") from None
    declared = [
        d.dim_value if d.HasField("dim_value") else None for d in inputs[manifest.input_name].type.tensor_type.shape.dim
    ]
    if declared and (
        len(declared) != len(shape) or any(d is not None and d != s for d, s in zip(declared[1:], shape[1:]))
    ):
        raise InvalidArgument(
            f"the graph's input {manifest.input_name!r} has shape {declared}; the manifest gives [N, "
            f"{', '.join(map(str, shape[1:]))}] (check layout, input_width and input_height)",
            reason=reasons.MANIFEST_MISMATCH,
            field="header.manifest",
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    try:
        session = ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
        batch = np.zeros(shape, dtype=np.float32)
        if declared and declared[0] not in (None, trial_batch):
            batch = batch[: declared[0]]
        output = session.run([manifest.output_name], {manifest.input_name: batch})[0]
    except Exception as error:  # the trial run failing is the user's model failing
        raise InvalidArgument(
            f"the trial run of the model failed: {error}", reason=reasons.MODEL_TRIAL_FAILED, field="chunk"
        ) from None
    dimension = int(np.prod(output.shape[1:]))
    if manifest.dimension and manifest.dimension != dimension:
        raise InvalidArgument(
            f"manifest.dimension is {manifest.dimension} but the output {manifest.output_name!r} has "
            f"{dimension} values per image",
            reason=reasons.MANIFEST_MISMATCH,
            field="header.manifest.dimension",
        )
    checked = ModelManifest()
    checked.CopyFrom(manifest)
    checked.dimension = dimension
    return checked
