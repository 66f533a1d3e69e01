"""Catalog settings (flags and SIMMESH_* variables)."""

from __future__ import annotations

import dataclasses

from simmesh.imaging.limits import ImageSettings
from simmesh.kit.settings import (
    BlobSettings,
    EtcdSettings,
    OperationSettings,
    PeerSettings,
    ServerSettings,
    db_url_field,
)


@dataclasses.dataclass(frozen=True)
class CatalogSettings(ServerSettings, BlobSettings, PeerSettings, ImageSettings, OperationSettings, EtcdSettings):
    port: int = 50053
    catalog_db_url: str = db_url_field("metadata")
    models_blob_url: str = dataclasses.field(
        default="",
        metadata={
            "help": "object store holding the embedder's model registry "
            "(models/{m}/versions/{n}), read for imported backbones; empty = blob_url"
        },
    )
