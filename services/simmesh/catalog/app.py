"""Wires the catalog's server from its settings."""

from __future__ import annotations

from simmesh.catalog.backbones import Backbones
from simmesh.catalog.deploy import Deployer
from simmesh.catalog.descriptors import Descriptors
from simmesh.catalog.publish import Publisher
from simmesh.catalog.servicer import CatalogServicer
from simmesh.catalog.settings import CatalogSettings
from simmesh.catalog.store import default_db_url, open_catalog_store
from simmesh.catalog.trainer import Trainer
from simmesh.catalog.training_images import TrainingImages
from simmesh.catalog.versions import Versions
from simmesh.imaging.source import ImageSource
from simmesh.kit.auth.key_service import key_binding
from simmesh.kit.auth.setup import open_authenticator, peer_token
from simmesh.kit.blobstore_config import open_blobstore
from simmesh.kit.channels import open_channel
from simmesh.kit.database_backup_service import database_backup_binding
from simmesh.kit.database_backups import DatabaseBackups
from simmesh.kit.model_registry import RegistryReader
from simmesh.kit.operations import close_operations, open_operations
from simmesh.kit.operations_service import operations_binding
from simmesh.kit.peers import EmbedderClient, IndexerClient
from simmesh.kit.server import App, binding, build_server
from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc

# Seconds a call to the embedder or the indexer may take when the caller gives no deadline.
CALL_TIMEOUT = 60.0


async def build_app(settings: CatalogSettings) -> App:
    store = open_catalog_store(settings.catalog_db_url or default_db_url(settings.data_dir))
    blobs = open_blobstore(settings.blob_config())
    models = open_blobstore(settings.blob_config(settings.models_blob_url))
    images = TrainingImages(store, blobs, ImageSource(settings.image_limits(), blobs))
    embedder_channel = open_channel(settings.embedder_addr, peer_token(settings), settings.peer_tls())
    indexer_channel = open_channel(settings.indexer_addr, peer_token(settings), settings.peer_tls())
    embedder = EmbedderClient(embedder_channel, settings.embedder_addr, default_timeout=CALL_TIMEOUT)
    indexer = IndexerClient(indexer_channel, settings.indexer_addr, default_timeout=CALL_TIMEOUT)
    operations = open_operations(settings.data_dir, settings.operation_ttl)
    operations.recover()
    versions = Versions(store, embedder)
    trainer = Trainer(store, blobs, Backbones(RegistryReader(embedder, models)), Publisher(store, embedder), operations)
    servicer = CatalogServicer(
        store,
        images,
        trainer=trainer,
        versions=versions,
        deployer=Deployer(versions, indexer, operations),
        descriptors=Descriptors(versions, embedder, indexer),
    )
    authenticator = open_authenticator(settings)
    app = build_server(
        settings,
        [
            binding(servicer, catalog_pb2, catalog_pb2_grpc, "CatalogService"),
            operations_binding(operations),
            database_backup_binding(DatabaseBackups(store.database, blobs, "catalog")),
            key_binding(authenticator.store if authenticator else None),  # the catalog hosts the keys
        ],
        service_label="catalog",
        authenticator=authenticator,
    )
    app.on_close(lambda: close_operations(operations))
    app.on_close(embedder_channel.close)
    app.on_close(indexer_channel.close)
    app.on_close(images.close)
    app.on_close(store.close)
    return app
