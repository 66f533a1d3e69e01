"""Labeler settings (flags and SIMMESH_* variables)."""

from __future__ import annotations

import dataclasses

from simmesh.kit.settings import BlobSettings, EtcdSettings, PeerSettings, ServerSettings, db_url_field


@dataclasses.dataclass(frozen=True)
class LabelerSettings(ServerSettings, BlobSettings, PeerSettings, EtcdSettings):
    port: int = 50054
    catalog_addr: str = dataclasses.field(
        default="", metadata={"help": "catalog host:port, for projects on task models; empty = tasks refused"}
    )
    labeler_db_url: str = db_url_field("labels")
    collection_shards: int = dataclasses.field(
        default=1, metadata={"help": "shards of each project's indexer collection"}
    )
