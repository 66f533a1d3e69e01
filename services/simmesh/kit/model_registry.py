"""The model registry as other services see it: model names, its object-store layout, a read-only port."""

from __future__ import annotations

import asyncio
import re
from typing import Protocol

from simmesh.kit import reasons
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import FailedPrecondition, InvalidArgument
from simmesh_proto.v1 import embedder_pb2

MODEL_NAME_RE = re.compile(r"^models/([a-z][a-z0-9-]{0,62})(?:/versions/(\d+))?$")


def parse_model_name(name: str, field: str = "model") -> tuple[str, int]:
    """`models/x` -> ("x", 0) (the default version); `models/x/versions/3` -> ("x", 3)."""
    match = MODEL_NAME_RE.match(name or "")
    if not match:
        raise InvalidArgument(
            f"{field} must be `models/{{model}}` or `models/{{model}}/versions/{{n}}`, got {name!r}",
            reason=reasons.INVALID_MODEL_NAME,
            field=field,
        )
    return match.group(1), int(match.group(2) or 0)


def version_name(model_id: str, number: int) -> str:
    return f"models/{model_id}/versions/{number}"


def default_number(model: embedder_pb2.Model) -> int:
    """The model's default version number; FAILED_PRECONDITION (MODEL_HAS_NO_VERSION) when it has none."""
    if model.default_version <= 0:
        raise FailedPrecondition(
            f"model `{model.name}` has no version yet",
            reason=reasons.MODEL_HAS_NO_VERSION,
            metadata={"model": model.name},
        )
    return int(model.default_version)


class RegistryLayout:
    """Where the registry keeps each file in its object store; the embedder alone writes them.

    models/{model}/model.json                     the Model (description, source, versions)
    models/{model}/versions/{n}/model.onnx        the ONNX file
    models/{model}/versions/{n}/version.json      the ModelVersion (manifest, sha256, metrics)
    models/{model}/versions/{n}/text.onnx         a dual encoder's text graph
    models/{model}/versions/{n}/tokenizer.json    a dual encoder's tokenizer (Hugging Face tokenizers)
    """

    def __init__(self, prefix: str = "models") -> None:
        self.prefix = prefix.strip("/")

    def model_key(self, model_id: str) -> str:
        return f"{self.prefix}/{model_id}/model.json"

    def versions_folder(self, model_id: str) -> str:
        return f"{self.prefix}/{model_id}/versions"

    def version_folder(self, model_id: str, number: int) -> str:
        return f"{self.versions_folder(model_id)}/{number}"

    def onnx_key(self, model_id: str, number: int) -> str:
        return f"{self.version_folder(model_id, number)}/model.onnx"

    def version_key(self, model_id: str, number: int) -> str:
        return f"{self.version_folder(model_id, number)}/version.json"

    def text_onnx_key(self, model_id: str, number: int) -> str:
        return f"{self.version_folder(model_id, number)}/text.onnx"

    def tokenizer_key(self, model_id: str, number: int) -> str:
        return f"{self.version_folder(model_id, number)}/tokenizer.json"


class ModelVersions(Protocol):
    """The embedder's registry calls a reader needs; the embedder's peer client answers them."""

    async def get_model(self, name: str, timeout: float | None = None) -> embedder_pb2.Model: ...

    async def get_version(self, name: str, timeout: float | None = None) -> embedder_pb2.ModelVersion: ...


class RegistryReader:
    """Registry versions read, never written: names resolved through the embedder's API, then the
    version's ONNX file read from the registry's object store (no RPC serves the file itself)."""

    def __init__(self, embedder: ModelVersions, store: BlobStore, layout: RegistryLayout | None = None) -> None:
        self.embedder = embedder
        self.store = store
        self.layout = layout or RegistryLayout()

    async def resolve(self, name: str, field: str = "model") -> embedder_pb2.ModelVersion:
        """The version `models/{m}` (its default) or `models/{m}/versions/{n}` names; NOT_FOUND
        (MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND) when it does not exist."""
        model_id, number = parse_model_name(name, field)
        if not number:
            number = default_number(await self.embedder.get_model(f"models/{model_id}"))
        return await self.embedder.get_version(version_name(model_id, number))

    async def onnx(self, version: str) -> bytes:
        """The ONNX file of `models/{m}/versions/{n}`."""
        model_id, number = parse_model_name(version)
        return await asyncio.to_thread(self.store.get_bytes, self.layout.onnx_key(model_id, number))
