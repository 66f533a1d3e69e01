"""Imported backbones for training: a registry version's manifest and ONNX file, read through the registry port."""

from __future__ import annotations

from dataclasses import dataclass

from simmesh.kit.model_registry import RegistryReader
from simmesh_proto.v1 import embedder_pb2

FIELD = "training_config.backbone_model"


@dataclass(frozen=True)
class Backbone:
    # `models/{m}/versions/{n}`: the version the name resolved to.
    version: str
    onnx: bytes
    manifest: embedder_pb2.ModelManifest


class Backbones:
    """Reads registry versions; never writes.

    backbones = Backbones(RegistryReader(embedder, open_blobstore(settings.blob_config(settings.models_blob_url))))
    backbone = await backbones.load("models/mobilenet")    # the default version, or .../versions/3
    train(..., backbone=(backbone.onnx, backbone.manifest))
    """

    def __init__(self, registry: RegistryReader) -> None:
        self.registry = registry

    async def load(self, name: str) -> Backbone:
        """The version `models/{m}` (its default) or `models/{m}/versions/{n}` names. NOT_FOUND
        (MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND) when it does not exist; UNAVAILABLE when the
        embedder cannot be reached."""
        version = await self.registry.resolve(name, FIELD)
        return Backbone(version=version.name, onnx=await self.registry.onnx(version.name), manifest=version.manifest)
