"""The model registry as other services see it: model names, its object-store layout, a read-only port.

A model a tenant imports is kept under its internal id (`acme.mine` for tenant acme's `mine`, see
`simmesh.kit.auth.tenancy`): in model names (`models/acme.mine/versions/1`) and object-store keys
(`models/acme.mine/model.json`) as is; the embedder's runtimes (and Triton, whose model names are
letters, digits, `_` and `-`) know it as `acme-mine_v1` (see `simmesh.embedder.registry.runtime_key`).
Callers name models by public names; the embedder translates at its edge. A built-in model (source
MODEL_SOURCE_BUILTIN, of the default tenant) is shared: every tenant may use it, only the default
tenant may change it."""

from __future__ import annotations

import asyncio
import re
from typing import Protocol

from google.protobuf import json_format

from simmesh.kit import reasons
from simmesh.kit.auth.tenancy import SEPARATOR, owner, public, scoped
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, NotFound
from simmesh_proto.v1 import embedder_pb2

_MODEL_ID = r"[a-z][a-z0-9-]{0,62}"
# A model name as callers give it: `models/{model}` or `models/{model}/versions/{n}`.
MODEL_NAME_RE = re.compile(rf"^models/({_MODEL_ID})(?:/versions/(\d+))?$")
# A model name behind the embedder's edge: the model id may name its tenant, `models/acme.mine`.
_TENANT = rf"{_MODEL_ID}{re.escape(SEPARATOR)}"
INTERNAL_MODEL_NAME_RE = re.compile(rf"^models/((?:{_TENANT})?{_MODEL_ID})(?:/versions/(\d+))?$")


def parse_model_name(name: str, field: str = "model") -> tuple[str, int]:
    """`models/x` -> ("x", 0) (the default version); `models/x/versions/3` -> ("x", 3). Internal
    names are accepted: `models/acme.x` -> ("acme.x", 0)."""
    return _parse(INTERNAL_MODEL_NAME_RE, name, field)


def parse_public_model_name(name: str, field: str = "model") -> tuple[str, int]:
    """`parse_model_name` for a name a caller gave: a public one, without a tenant."""
    return _parse(MODEL_NAME_RE, name, field)


def _parse(pattern: re.Pattern[str], name: str, field: str) -> tuple[str, int]:
    match = pattern.match(name or "")
    if not match:
        raise InvalidArgument(
            f"{field} must be `models/{{model}}` or `models/{{model}}/versions/{{n}}`, got {name!r}",
            reason=reasons.INVALID_MODEL_NAME,
            field=field,
        )
    return match.group(1), int(match.group(2) or 0)


def version_name(model_id: str, number: int) -> str:
    return f"models/{model_id}/versions/{number}"


def public_model_name(name: str) -> str:
    """What the current caller calls the model or version `name` (internal): `models/acme.x/versions/2`
    is `models/x/versions/2` to tenant acme; names that are not model names stay as they are."""
    match = INTERNAL_MODEL_NAME_RE.match(name)
    if not match:
        return name
    return name[: match.start(1)] + public(match.group(1)) + name[match.end(1) :]


def default_number(model: embedder_pb2.Model) -> int:
    """The model's default version number; FAILED_PRECONDITION (MODEL_HAS_NO_VERSION) when it has none."""
    if model.default_version <= 0:
        shown = public_model_name(model.name)
        raise FailedPrecondition(
            f"model `{shown}` has no version yet", reason=reasons.MODEL_HAS_NO_VERSION, metadata={"model": shown}
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


def is_shared(store: BlobStore, layout: RegistryLayout, model_id: str) -> bool:
    """Whether `model_id` (internal) is a built-in model, which every tenant may use."""
    if owner(model_id):
        return False
    try:
        data = store.get_bytes(layout.model_key(model_id))
    except NotFound:
        return False
    model = json_format.Parse(data, embedder_pb2.Model(), ignore_unknown_fields=True)
    return model.source == embedder_pb2.MODEL_SOURCE_BUILTIN


def caller_model_id(store: BlobStore, layout: RegistryLayout, model_id: str) -> str:
    """The internal id of the model the current caller calls `model_id`: the caller's own model,
    else a built-in model of that id; the caller's own id (missing) when neither exists. The
    default tenant's and the mesh's ids are their internal ids: no object-store read for them."""
    own = scoped(model_id)
    if own == model_id or store.exists(layout.model_key(own)):
        return own
    return model_id if is_shared(store, layout, model_id) else own


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
        """The ONNX file of `models/{m}/versions/{n}`, a name the embedder gave the current caller."""
        model_id, number = parse_model_name(version)
        return await asyncio.to_thread(self._onnx, model_id, number)

    def _onnx(self, model_id: str, number: int) -> bytes:
        internal = caller_model_id(self.store, self.layout, model_id)
        return self.store.get_bytes(self.layout.onnx_key(internal, number))
