"""The models a caller sees and may change: the embedder's edge turns the model names a tenant
gives into the registry's internal names, and the names it answers with back."""

from __future__ import annotations

import asyncio

from simmesh.embedder.registry import ModelRegistry, check_model_id
from simmesh.kit import reasons
from simmesh.kit.auth.tenancy import mesh_itself, scoped, visible
from simmesh.kit.errors import PermissionDenied
from simmesh.kit.model_registry import (
    caller_model_id,
    is_shared,
    parse_model_name,
    parse_public_model_name,
    public_model_name,
    version_name,
)
from simmesh_proto.v1 import embedder_pb2


class ModelScope:
    """The current caller's view of the registry (see `simmesh.kit.model_registry`).

    A tenant's `models/mine` is the registry's `models/acme.mine`; a model of another tenant is
    missing to it (NOT_FOUND, naming what it gave); built-in models are every tenant's to use, but a
    tenant other than the default one may not change them, nor import a model of a built-in's id
    (PERMISSION_DENIED, BUILTIN_MODEL_READ_ONLY). The default tenant, every call with auth off and
    the mesh acting for itself use internal names as they are, with no object-store read.
    """

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    async def readable(self, name: str, field: str) -> tuple[str, int]:
        """The internal id and the version number (0: none) of the model `name` that the caller may use."""
        model_id, number = _parse(name, field)
        return await self._internal(model_id), number

    async def readable_name(self, name: str, field: str) -> str:
        """The internal name of the model or version `name` that the caller may use."""
        model_id, number = await self.readable(name, field)
        return version_name(model_id, number) if number else f"models/{model_id}"

    async def writable(self, name: str, field: str) -> tuple[str, int]:
        """The internal id and the version number (0: none) of the caller's own model `name`."""
        model_id, number = _parse(name, field)
        internal = await self._internal(model_id)
        if internal != scoped(model_id):
            raise PermissionDenied(
                f"`models/{model_id}` is a built-in model, shared read-only: "
                "import a model of your own under another id",
                reason=reasons.BUILTIN_MODEL_READ_ONLY,
                field=field,
                metadata={"model": f"models/{model_id}"},
            )
        return internal, number

    async def new_version_id(self, model_id: str, field: str) -> str:
        """The internal id of the model an import by the caller adds a version to."""
        if mesh_itself():
            return model_id
        check_model_id(model_id, field)
        internal, _ = await self.writable(f"models/{model_id}", field)
        return internal

    def listed(self, model_id: str) -> bool:
        """Whether the caller's listing shows the model of internal id `model_id` (blocks)."""
        return visible(model_id) or is_shared(self.registry.store, self.registry.layout, model_id)

    async def _internal(self, model_id: str) -> str:
        if scoped(model_id) == model_id:
            return model_id
        return await asyncio.to_thread(caller_model_id, self.registry.store, self.registry.layout, model_id)


def _parse(name: str, field: str) -> tuple[str, int]:
    return parse_model_name(name, field) if mesh_itself() else parse_public_model_name(name, field)


def shown_model(model: embedder_pb2.Model) -> embedder_pb2.Model:
    """`model` as the caller calls it (changed in place)."""
    model.name = public_model_name(model.name)
    return model


def shown_version(version: embedder_pb2.ModelVersion) -> embedder_pb2.ModelVersion:
    """`version` as the caller calls it (changed in place)."""
    version.name = public_model_name(version.name)
    return version
