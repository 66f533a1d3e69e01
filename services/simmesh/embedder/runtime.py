"""The interface every inference runtime serves, and what runtimes share: tensor specs, errors, cores."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from simmesh.embedder.triton_repository import check_model_name
from simmesh.imaging.preprocess import input_shape
from simmesh.kit import reasons
from simmesh.kit.errors import Internal, InvalidArgument, NotFound
from simmesh_proto.v1.embedder_pb2 import ModelManifest


@runtime_checkable
class Runtime(Protocol):
    """Inference runtimes behind one interface: in-process ONNX Runtime, or a tritonserver.

        runtime: Runtime = OnnxRuntimeRuntime()            # or TritonRuntime("triton:8001", store)
        await runtime.load("match_v1", onnx_bytes, manifest)
        vectors = await runtime.infer("match_v1", batch)   # float32 [N, ...] -> float32 [N, D]
        await runtime.unload("match_v1")
        await runtime.close()

    `key` is a Triton-safe model id (letters, digits, `_`, `-`), one per model version. The
    manifest names the graph's input and output and the embedding's dimension; its input size,
    layout and colour order give the per-image input shape.

    Errors (both runtimes):

    | reason             | code             | when                                                    |
    |--------------------|------------------|---------------------------------------------------------|
    | MODEL_NOT_LOADED   | NOT_FOUND        | `infer` on a key that is not loaded (never, or unloaded) |
    | INVALID_MANIFEST   | INVALID_ARGUMENT | the key is not Triton-safe, or the manifest has no usable shape |
    | MODEL_INVALID      | INVALID_ARGUMENT | ONNX Runtime cannot load it, or its tensors differ from the manifest |
    | INVALID_INPUT      | INVALID_ARGUMENT | the batch's shape does not fit the model's input        |
    | MODEL_LOAD_FAILED  | INTERNAL         | tritonserver refused to load the entry                  |
    | TRITON_UNAVAILABLE | UNAVAILABLE      | tritonserver cannot be reached (retriable)              |
    | INFERENCE_FAILED   | INTERNAL         | the model failed while running                          |

    Every message names the model.
    """

    async def load(self, key: str, onnx: bytes, manifest: ModelManifest) -> None:
        """Makes `key` servable (replacing what was loaded under it)."""

    async def unload(self, key: str) -> None:
        """Stops serving `key`; a key that is not loaded is not an error."""

    def loaded(self, key: str) -> bool: ...

    async def infer(self, key: str, batch: np.ndarray) -> np.ndarray:
        """float32 [N, ...] in, float32 [N, D] out (the manifest's output), row i for input i."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class TensorSpec:
    """What a runtime needs from a manifest: tensor names, per-image shape, embedding length."""

    input_name: str
    output_name: str
    item_shape: tuple[int, ...]
    dimension: int

    @classmethod
    def from_manifest(cls, key: str, manifest: ModelManifest) -> TensorSpec:
        try:
            check_model_name(key)
        except ValueError as error:
            raise InvalidArgument(
                str(error), reason=reasons.INVALID_MANIFEST, field="key", metadata={"model": key}
            ) from None
        if not manifest.input_name or not manifest.output_name:
            raise InvalidArgument(
                f"model {key}: the manifest must name the input and the output tensor",
                reason=reasons.INVALID_MANIFEST,
                field="manifest",
                metadata={"model": key},
            )
        if manifest.dimension <= 0:
            raise InvalidArgument(
                f"model {key}: manifest dimension must be positive, got {manifest.dimension}",
                reason=reasons.INVALID_MANIFEST,
                field="manifest.dimension",
                metadata={"model": key},
            )
        try:
            shape = input_shape(manifest, 1)[1:]
        except ValueError as error:
            raise InvalidArgument(
                f"model {key}: {error}", reason=reasons.INVALID_MANIFEST, field="manifest", metadata={"model": key}
            ) from None
        if min(shape) <= 0:
            raise InvalidArgument(
                f"model {key}: manifest input size must be positive, got {shape}",
                reason=reasons.INVALID_MANIFEST,
                field="manifest",
                metadata={"model": key},
            )
        return cls(manifest.input_name, manifest.output_name, tuple(int(d) for d in shape), manifest.dimension)

    def check_batch(self, key: str, batch: np.ndarray) -> np.ndarray:
        """`batch` as contiguous float32 [N, *item_shape], or INVALID_INPUT."""
        array = np.ascontiguousarray(batch, dtype=np.float32)
        if array.shape[1:] != self.item_shape:
            raise InvalidArgument(
                f"model {key}: input batch has shape {tuple(array.shape)}, expected [N, "
                f"{', '.join(map(str, self.item_shape))}]",
                reason=reasons.INVALID_INPUT,
                field="batch",
                metadata={"model": key},
            )
        return array

    def check_output(self, key: str, output: np.ndarray, rows: int) -> np.ndarray:
        output = np.asarray(output, dtype=np.float32)
        if output.shape[0] != rows or output.size != rows * self.dimension:
            raise Internal(
                f"model {key}: output {self.output_name!r} has shape {tuple(output.shape)}, expected "
                f"[{rows}, {self.dimension}]",
                reason=reasons.INFERENCE_FAILED,
                metadata={"model": key},
            )
        return output.reshape(rows, self.dimension)


def not_loaded(key: str) -> NotFound:
    return NotFound(f"model {key} is not loaded", reason=reasons.MODEL_NOT_LOADED, metadata={"model": key})


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def split_rows(batch: np.ndarray, max_rows: int) -> Sequence[np.ndarray]:
    """`batch` in consecutive chunks of at most `max_rows` rows."""
    return [batch[i : i + max_rows] for i in range(0, len(batch), max_rows)] or [batch]
