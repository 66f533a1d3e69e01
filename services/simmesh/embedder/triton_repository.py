"""Triton model-repository entries for ONNX embedding models.

One model version is three files under the repository root:

    {model}/config.pbtxt          CPU: Python backend running ONNX Runtime (triton_python_model.py)
    {model}/config.gpu.pbtxt      GPU: Triton's onnxruntime_onnx platform, same inputs and outputs
    {model}/{version}/model.onnx
    {model}/{version}/model.py

`repository_files` returns them as relative path -> bytes, so the same entry can be written to a
local directory (`write_model`) or uploaded to an object store under a prefix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PYTHON_MODEL_SOURCE = Path(__file__).with_name("triton_python_model.py")

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def check_model_name(model_name: str) -> str:
    """Triton-safe names only: letters, digits, `_` and `-`."""
    if not _NAME.match(model_name):
        raise ValueError(f"model name {model_name!r} must match [A-Za-z0-9_-]+")
    return model_name


def _dims(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


@dataclass(frozen=True)
class ModelConfig:
    """The tensors and batching of one model version, shared by its CPU and GPU configs.

    `versions` pins the served versions; None keeps Triton's default (the latest one).
    `intra_op_threads` is ONNX Runtime's thread count in the CPU config.
    """

    input_name: str
    output_name: str
    dimension: int
    max_batch_size: int = 64
    input_shape: Sequence[int] = (3, 224, 224)
    intra_op_threads: int = 1
    instances: int = 1
    versions: Sequence[int] | None = None

    def render(self, model_name: str, *, gpu: bool) -> str:
        """config.pbtxt: on CPU the Python backend running ONNX Runtime, on GPU Triton's own
        onnxruntime backend (same tensors)."""
        check_model_name(model_name)
        if self.dimension <= 0 or self.max_batch_size <= 0:
            raise ValueError("dimension and max_batch_size must be positive")
        head, kind = ('platform: "onnxruntime_onnx"', "KIND_GPU") if gpu else ('backend: "python"', "KIND_CPU")
        parameters = {} if gpu else {"intra_op_threads": str(self.intra_op_threads)}
        lines = [
            f'name: "{model_name}"',
            head,
            f"max_batch_size: {self.max_batch_size}",
            f'input [{{ name: "{self.input_name}" data_type: TYPE_FP32 dims: {_dims(self.input_shape)} }}]',
            f'output [{{ name: "{self.output_name}" data_type: TYPE_FP32 dims: [{self.dimension}] }}]',
            "dynamic_batching { max_queue_delay_microseconds: 500 }",
            f"instance_group [{{ count: {self.instances} kind: {kind} }}]",
        ]
        if self.versions:
            lines.append(f"version_policy: {{ specific: {{ versions: {_dims(self.versions)} }} }}")
        lines += [f'parameters {{ key: "{k}" value: {{ string_value: "{v}" }} }}' for k, v in parameters.items()]
        return "\n".join(lines) + "\n"


def repository_files(model_name: str, version: int, onnx_bytes: bytes, config: ModelConfig) -> dict[str, bytes]:
    """The files of one model version, keyed by path relative to the repository root."""
    if version <= 0:
        raise ValueError(f"version must be a positive integer, got {version}")
    return {
        f"{model_name}/config.pbtxt": config.render(model_name, gpu=False).encode(),
        f"{model_name}/config.gpu.pbtxt": config.render(model_name, gpu=True).encode(),
        f"{model_name}/{version}/model.onnx": onnx_bytes,
        f"{model_name}/{version}/model.py": PYTHON_MODEL_SOURCE.read_bytes(),
    }


def write_model(repo_dir: Path, model_name: str, version: int, onnx_bytes: bytes, **config: Any) -> Path:
    """Write one model version into a local Triton repository; returns the model's directory.
    `config` holds the fields of `ModelConfig`.

    Each file is written to a temporary name and renamed, so a server loading the model never
    reads a half-written file.
    """
    files = repository_files(model_name, version, onnx_bytes, ModelConfig(**config))
    root = Path(repo_dir)
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return root / model_name
