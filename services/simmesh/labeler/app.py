"""Wires the labeler's server from its settings."""

from __future__ import annotations

from simmesh.kit.auth.setup import peer_token
from simmesh.kit.blobstore_config import open_blobstore
from simmesh.kit.channels import open_channel
from simmesh.kit.database_backup_service import database_backup_binding
from simmesh.kit.database_backups import DatabaseBackups
from simmesh.kit.peers import CatalogClient, EmbedderClient, IndexerClient
from simmesh.kit.server import App, binding, build_server
from simmesh.labeler.backends import Backends
from simmesh.labeler.collection import Collections
from simmesh.labeler.domain import build_labeler
from simmesh.labeler.embedding import Embedding
from simmesh.labeler.servicer import LabelerServicer
from simmesh.labeler.settings import LabelerSettings
from simmesh.labeler.store import default_db_url, open_labeler_store
from simmesh_proto.v1 import labeler_pb2, labeler_pb2_grpc


async def build_app(settings: LabelerSettings) -> App:
    store = open_labeler_store(settings.labeler_db_url or default_db_url(settings.data_dir))
    channels = [
        open_channel(settings.embedder_addr, peer_token(settings), settings.peer_tls()),
        open_channel(settings.indexer_addr, peer_token(settings), settings.peer_tls()),
    ]
    catalog = None
    if settings.catalog_addr:
        channels.append(open_channel(settings.catalog_addr, peer_token(settings), settings.peer_tls()))
        catalog = CatalogClient(channels[2], settings.catalog_addr)
    embedding = Embedding(EmbedderClient(channels[0], settings.embedder_addr), catalog)
    collections = Collections(IndexerClient(channels[1], settings.indexer_addr))
    labeler = build_labeler(Backends(store, embedding, collections, shard_count=settings.collection_shards))
    app = build_server(
        settings,
        [
            binding(LabelerServicer(labeler), labeler_pb2, labeler_pb2_grpc, "LabelerService"),
            database_backup_binding(DatabaseBackups(store.database, open_blobstore(settings.blob_config()), "labeler")),
        ],
        service_label="labeler",
    )
    for channel in channels:
        app.on_close(channel.close)
    app.on_close(store.close)
    return app
