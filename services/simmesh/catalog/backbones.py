"""Backbones for training: a registry version's manifest and ONNX file, read through the registry port."""

from __future__ import annotations

from dataclasses import dataclass

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh.kit.model_registry import RegistryReader
from simmesh_proto.v1 import catalog_pb2, embedder_pb2

FIELD = "training_config.backbone_model"
# The built-in model whose trunk BACKBONE_GENERIC trains on.
GENERIC_MODEL = "models/generic"


@dataclass(frozen=True)
class Backbone:
    # `models/{m}/versions/{n}`: the version the name resolved to.
    version: str
    onnx: bytes
    manifest: embedder_pb2.ModelManifest


def backbone_name(config: catalog_pb2.TrainingConfig) -> str | None:
    """The registry model `config` trains on (`models/{m}[/versions/{n}]`); None for a backbone trained from scratch.

    INVALID_ARGUMENT: an imported backbone without `backbone_model` (BACKBONE_REQUIRED), a generic
    backbone naming another model (INVALID_TRAINING_CONFIG).
    """
    if config.backbone == catalog_pb2.BACKBONE_IMPORTED:
        if not config.backbone_model:
            raise InvalidArgument(
                "an imported backbone needs training_config.backbone_model "
                "(`models/{model}` or `models/{model}/versions/{n}`)",
                reason=reasons.BACKBONE_REQUIRED,
                field=FIELD,
            )
        return config.backbone_model
    if config.backbone == catalog_pb2.BACKBONE_GENERIC:
        name = config.backbone_model or GENERIC_MODEL
        if name != GENERIC_MODEL and not name.startswith(f"{GENERIC_MODEL}/versions/"):
            raise InvalidArgument(
                f"the generic backbone trains on `{GENERIC_MODEL}` or one of its versions, not `{name}`; "
                "use the IMPORTED backbone for other models",
                reason=reasons.INVALID_TRAINING_CONFIG,
                field=FIELD,
            )
        return name
    return None


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
