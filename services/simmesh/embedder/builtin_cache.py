"""An on-disk cache of the built-in models' ONNX exports, keyed by everything that shapes the bytes."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from pathlib import Path

import onnx
import torch

from simmesh.embedder.builtin import BuiltinModel
from simmesh.pretrained.generic import file_sha256

log = logging.getLogger("simmesh.embedder")

# Modules whose source decides what an export contains; a change to any of them is a new key.
_CODE_MODULES = (
    "simmesh.embedder.builtin",
    "simmesh.pretrained.generic",
    "efficientnet_lite_pytorch.model",
    "efficientnet_lite_pytorch.utils",
)


def export_key(model: BuiltinModel) -> str:
    """SHA-256 over the model's name, description and manifest, the exporting code and library
    versions, and the weights file's actual bytes (so a changed checkpoint never hits the cache)."""
    digest = hashlib.sha256()
    for part in (model.name, model.description, torch.__version__, onnx.__version__):
        digest.update(part.encode() + b"\0")
    digest.update(model.manifest().SerializeToString(deterministic=True))
    for module in _CODE_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin:
            digest.update(Path(spec.origin).read_bytes())
    if model.weights is not None:
        digest.update(file_sha256(model.weights()).encode())
    return digest.hexdigest()


def cached_export(model: BuiltinModel, cache_dir: Path | None) -> bytes:
    """`model.export_onnx()`, read from `cache_dir` when an earlier start wrote it (no cache: None)."""
    if cache_dir is None:
        return model.export_onnx()
    path = cache_dir / f"{model.name}-{export_key(model)}.onnx"
    if path.is_file():
        return path.read_bytes()
    onnx_bytes = model.export_onnx()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".export-", delete=False) as out:
            out.write(onnx_bytes)
        os.replace(out.name, path)
    except OSError as error:
        log.warning("cannot cache the export of models/%s in %s: %s", model.name, cache_dir, error)
    return onnx_bytes
