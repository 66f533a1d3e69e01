"""Catalog settings (flags and SIMMESH_* variables)."""

from __future__ import annotations

import dataclasses

from simmesh.kit.settings import BlobSettings, PeerSettings, ServerSettings


@dataclasses.dataclass(frozen=True)
class CatalogSettings(ServerSettings, BlobSettings, PeerSettings):
    port: int = 50053
