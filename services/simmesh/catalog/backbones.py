"""Imported backbones for training: the ONNX file and manifest of a registry version, read straight
from the object store the embedder keeps its registry in (`models/{m}/versions/{n}`).

    backbones = Backbones(ModelRegistry(open_blobstore(settings.blob_config(settings.models_blob_url))))
    backbone = backbones.load("models/mobilenet")          # the default version, or .../versions/3
    train(..., backbone=(backbone.onnx, backbone.manifest))
"""

from __future__ import annotations

from dataclasses import dataclass

from simmesh_proto.v1 import embedder_pb2

from simmesh.embedder.registry import ModelRegistry, parse_model_name

FIELD = "training_config.backbone_model"


@dataclass(frozen=True)
class Backbone:
    # `models/{m}/versions/{n}`: the version the name resolved to.
    version: str
    onnx: bytes
    manifest: embedder_pb2.ModelManifest


class Backbones:
    """Reads registry versions; never writes."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def load(self, name: str) -> Backbone:
        """The version `models/{m}` (its default) or `models/{m}/versions/{n}` names. NOT_FOUND
        (MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND) when it does not exist. Blocks."""
        version = self.registry.resolve(name, FIELD)
        model_id, number = parse_model_name(version.name, FIELD)
        return Backbone(version=version.name, onnx=self.registry.onnx_bytes(model_id, number),
                        manifest=version.manifest)
