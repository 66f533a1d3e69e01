"""Indexer settings (flags and SIMMESH_* variables), for the router and for shards."""

from __future__ import annotations

import dataclasses

from simmesh.kit.settings import BlobSettings, EtcdSettings, PeerSettings, ServerSettings


@dataclasses.dataclass(frozen=True)
class RouterSettings(ServerSettings, BlobSettings, EtcdSettings, PeerSettings):
    port: int = 50052
