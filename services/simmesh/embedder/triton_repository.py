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
from pathlib import Path
from typing import TypedDict

PYTHON_MODEL_SOURCE = Path(__file__).with_name("triton_python_model.py")

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class _Tensors(TypedDict):
    """The tensor settings the CPU and GPU configs of one model version share."""

    input_name: str
    output_name: str
    dimension: int
    max_batch_size: int
    input_shape: Sequence[int]
    versions: Sequence[int] | None


def check_model_name(model_name: str) -> str:
    """Triton-safe names only: letters, digits, `_` and `-`."""
    if not _NAME.match(model_name):
        raise ValueError(f"model name {model_name!r} must match [A-Za-z0-9_-]+")
    return model_name


def _dims(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def _render(
    model_name: str,
    head: str,
    *,
    input_name: str,
    output_name: str,
    dimension: int,
    max_batch_size: int,
    input_shape: Sequence[int],
    instance_kind: str,
    instance_count: int,
    versions: Sequence[int] | None,
    parameters: dict[str, str],
) -> str:
    check_model_name(model_name)
    if dimension <= 0 or max_batch_size <= 0:
        raise ValueError("dimension and max_batch_size must be positive")
    lines = [
        f'name: "{model_name}"',
        head,
        f"max_batch_size: {max_batch_size}",
        f'input [{{ name: "{input_name}" data_type: TYPE_FP32 dims: {_dims(input_shape)} }}]',
        f'output [{{ name: "{output_name}" data_type: TYPE_FP32 dims: [{dimension}] }}]',
        "dynamic_batching { max_queue_delay_microseconds: 500 }",
        f"instance_group [{{ count: {instance_count} kind: {instance_kind} }}]",
    ]
    if versions:
        lines.append(f"version_policy: {{ specific: {{ versions: {_dims(versions)} }} }}")
    lines += [f'parameters {{ key: "{k}" value: {{ string_value: "{v}" }} }}' for k, v in parameters.items()]
    return "\n".join(lines) + "\n"


def render_cpu_config(
    model_name: str,
    *,
    input_name: str,
    output_name: str,
    dimension: int,
    max_batch_size: int = 64,
    input_shape: Sequence[int] = (3, 224, 224),
    intra_op_threads: int = 1,
    instances: int = 1,
    versions: Sequence[int] | None = None,
) -> str:
    """config.pbtxt for the Python backend running ONNX Runtime on CPU.

    `versions` pins the served versions; None keeps Triton's default (the latest one).
    """
    return _render(
        model_name,
        'backend: "python"',
        input_name=input_name,
        output_name=output_name,
        dimension=dimension,
        max_batch_size=max_batch_size,
        input_shape=input_shape,
        instance_kind="KIND_CPU",
        instance_count=instances,
        versions=versions,
        parameters={"intra_op_threads": str(intra_op_threads)},
    )


def render_gpu_config(
    model_name: str,
    *,
    input_name: str,
    output_name: str,
    dimension: int,
    max_batch_size: int = 64,
    input_shape: Sequence[int] = (3, 224, 224),
    instances: int = 1,
    versions: Sequence[int] | None = None,
) -> str:
    """config.pbtxt for Triton's own onnxruntime backend on GPU (same tensors as the CPU one)."""
    return _render(
        model_name,
        'platform: "onnxruntime_onnx"',
        input_name=input_name,
        output_name=output_name,
        dimension=dimension,
        max_batch_size=max_batch_size,
        input_shape=input_shape,
        instance_kind="KIND_GPU",
        instance_count=instances,
        versions=versions,
        parameters={},
    )


def repository_files(
    model_name: str,
    version: int,
    onnx_bytes: bytes,
    *,
    input_name: str,
    output_name: str,
    dimension: int,
    max_batch_size: int = 64,
    input_shape: Sequence[int] = (3, 224, 224),
    intra_op_threads: int = 1,
    versions: Sequence[int] | None = None,
) -> dict[str, bytes]:
    """The files of one model version, keyed by path relative to the repository root."""
    if version <= 0:
        raise ValueError(f"version must be a positive integer, got {version}")
    tensors = _Tensors(
        input_name=input_name,
        output_name=output_name,
        dimension=dimension,
        max_batch_size=max_batch_size,
        input_shape=input_shape,
        versions=versions,
    )
    cpu = render_cpu_config(model_name, intra_op_threads=intra_op_threads, **tensors)
    gpu = render_gpu_config(model_name, **tensors)
    return {
        f"{model_name}/config.pbtxt": cpu.encode(),
        f"{model_name}/config.gpu.pbtxt": gpu.encode(),
        f"{model_name}/{version}/model.onnx": onnx_bytes,
        f"{model_name}/{version}/model.py": PYTHON_MODEL_SOURCE.read_bytes(),
    }


def write_model(
    repo_dir: Path,
    model_name: str,
    version: int,
    onnx_bytes: bytes,
    *,
    input_name: str,
    output_name: str,
    dimension: int,
    max_batch_size: int = 64,
    input_shape: Sequence[int] = (3, 224, 224),
    intra_op_threads: int = 1,
    versions: Sequence[int] | None = None,
) -> Path:
    """Write one model version into a local Triton repository; returns the model's directory.

    Each file is written to a temporary name and renamed, so a server loading the model never
    reads a half-written file.
    """
    files = repository_files(
        model_name,
        version,
        onnx_bytes,
        input_name=input_name,
        output_name=output_name,
        dimension=dimension,
        max_batch_size=max_batch_size,
        input_shape=input_shape,
        intra_op_threads=intra_op_threads,
        versions=versions,
    )
    root = Path(repo_dir)
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return root / model_name
