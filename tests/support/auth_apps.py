"""Every server of the mesh with API keys kept in etcd: the apps, their settings, the shared credentials."""

from __future__ import annotations

from pathlib import Path

from simmesh.catalog.app import build_app as build_catalog
from simmesh.catalog.settings import CatalogSettings
from simmesh.embedder.app import build_app as build_embedder
from simmesh.embedder.settings import EmbedderSettings
from simmesh.indexer.app import build_router, build_shard
from simmesh.indexer.settings import RouterSettings, ShardSettings
from simmesh.labeler.app import build_app as build_labeler
from simmesh.labeler.settings import LabelerSettings

INTERNAL_TOKEN = "matrix-internal-credential"
BOOTSTRAP_KEY = "matrix-bootstrap-key"

# Each server the mesh runs, how it is built, and the services it must serve (checked below).
APPS = {
    "embedder": (build_embedder, EmbedderSettings, {"simmesh.v1.EmbedderService"}),
    "router": (build_router, RouterSettings, {"simmesh.v1.IndexerService", "google.longrunning.Operations"}),
    "catalog": (
        build_catalog,
        CatalogSettings,
        {
            "simmesh.v1.CatalogService",
            "google.longrunning.Operations",
            "simmesh.v1.DatabaseBackupService",
            "simmesh.v1.KeyService",
        },
    ),
    "labeler": (build_labeler, LabelerSettings, {"simmesh.v1.LabelerService", "simmesh.v1.DatabaseBackupService"}),
    "shard": (build_shard, ShardSettings, {"simmesh.internal.v1.ShardService"}),
}


def auth_settings(kind: str, tmp_path: Path, etcd_endpoint: str, etcd_prefix: str):
    _, settings_cls, _ = APPS[kind]
    extra = {"embedder": {"builtin_models": False}, "shard": {"shard_ordinal": 0, "faiss_threads": 1}}
    return settings_cls(
        host="127.0.0.1",
        port=0,
        data_dir=str(tmp_path / kind),
        etcd_endpoints=(etcd_endpoint,),
        etcd_prefix=etcd_prefix,
        api_keys="etcd",
        internal_token=INTERNAL_TOKEN,
        bootstrap_key=BOOTSTRAP_KEY,
        **extra.get(kind, {}),
    )
