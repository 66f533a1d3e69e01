"""Model imports: manifests from dicts and JSON files (enums by short name), the ONNX file in chunks.

    as_manifest({
        "input_name": "input", "output_name": "embedding",
        "input_width": 224, "input_height": 224,
        "layout": "nchw", "color_order": "rgb", "resize_policy": "shorter-side-crop",
        "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "normalize": True,
    })
    as_manifest({..., "kind": "dual-encoder", "text": {
        "input_ids_name": "input_ids", "attention_mask_name": "attention_mask",
        "output_name": "text_embedding", "max_length": 77,
    }})

Keys are the `ModelManifest` field names, snake_case or the proto-JSON camelCase; enum fields take
the full value name (`TENSOR_LAYOUT_NCHW`) or its short form (`nchw`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from google.protobuf import json_format

from simmesh_client.enums import COLOR_ORDER, LAYOUT, MODEL_KIND, RESIZE_POLICY, enum_value
from simmesh_proto.v1 import embedder_pb2

ModelManifest = embedder_pb2.ModelManifest

OnnxSource = bytes | bytearray | memoryview | str | os.PathLike[str]

DEFAULT_CHUNK_SIZE = 1024 * 1024

_ENUM_FIELDS = {
    "layout": LAYOUT,
    "color_order": COLOR_ORDER,
    "colorOrder": COLOR_ORDER,
    "resize_policy": RESIZE_POLICY,
    "resizePolicy": RESIZE_POLICY,
    "kind": MODEL_KIND,
}


def as_manifest(value: ModelManifest | Mapping[str, Any]) -> ModelManifest:
    """A `ModelManifest` from a message (copied) or a dict. Raises ValueError on unknown keys or values."""
    if isinstance(value, ModelManifest):
        manifest = ModelManifest()
        manifest.CopyFrom(value)
        return manifest
    if not isinstance(value, Mapping):
        raise TypeError(f"a manifest must be a ModelManifest or a dict, got {type(value).__name__}")
    fields = dict(value)
    for key, (enum, prefix) in _ENUM_FIELDS.items():
        if key in fields and fields[key] is not None:
            fields[key] = enum_value(enum, prefix, fields[key])
    try:
        return json_format.ParseDict(fields, ModelManifest())
    except json_format.ParseError as error:
        raise ValueError(f"invalid manifest: {error}") from None


def load_manifest(path: str | os.PathLike[str]) -> ModelManifest:
    """A manifest from a JSON file holding one object."""
    with open(path, encoding="utf-8") as file:
        try:
            value = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{os.fspath(path)}: not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{os.fspath(path)}: a manifest must be a JSON object")
    return as_manifest(value)


class OnnxFile:
    """An ONNX model to upload: bytes, or a local file opened at once (so a missing file fails early)."""

    def __init__(self, source: OnnxSource) -> None:
        self._data: memoryview | None = None
        self._file: BinaryIO | None = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._data = memoryview(source).cast("B")
            self.size = len(self._data)
        elif isinstance(source, (str, os.PathLike)):
            self._file = open(source, "rb")  # noqa: SIM115 - closed by close()
            self.size = os.fstat(self._file.fileno()).st_size
        else:
            raise TypeError(f"an ONNX model must be bytes or a path, got {type(source).__name__}")

    def chunks(self, chunk_size: int) -> Iterator[bytes]:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        if self._data is not None:
            for start in range(0, len(self._data), chunk_size):
                yield bytes(self._data[start : start + chunk_size])
            return
        assert self._file is not None
        while chunk := self._file.read(chunk_size):
            yield chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> OnnxFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def import_requests(
    header: embedder_pb2.ImportModelRequest.Header,
    onnx: OnnxFile,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    *,
    text: OnnxFile | None = None,
    tokenizer: OnnxFile | None = None,
) -> Iterator[embedder_pb2.ImportModelRequest]:
    """The `ImportModel` stream: the header, then the file in chunks, then a dual encoder's text graph
    and tokenizer in chunks."""
    yield embedder_pb2.ImportModelRequest(header=header)
    for chunk in onnx.chunks(chunk_size):
        yield embedder_pb2.ImportModelRequest(chunk=chunk)
    for chunk in text.chunks(chunk_size) if text is not None else ():
        yield embedder_pb2.ImportModelRequest(text_chunk=chunk)
    for chunk in tokenizer.chunks(chunk_size) if tokenizer is not None else ():
        yield embedder_pb2.ImportModelRequest(tokenizer_chunk=chunk)
