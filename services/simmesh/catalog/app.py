"""Wires the catalog's server from its settings."""

from __future__ import annotations

from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc

from simmesh.catalog.images import TrainingImages
from simmesh.catalog.servicer import CatalogServicer
from simmesh.catalog.settings import CatalogSettings
from simmesh.catalog.store import default_db_url, open_catalog_store
from simmesh.embedder.images import ImageSource
from simmesh.kit.blobstore import open_blobstore
from simmesh.kit.operations import close_operations, open_operations, operations_binding
from simmesh.kit.server import App, binding, build_server


async def build_app(settings: CatalogSettings) -> App:
    store = open_catalog_store(settings.catalog_db_url or default_db_url(settings.data_dir))
    blobs = open_blobstore(settings.blob_config())
    images = TrainingImages(store, blobs, ImageSource(settings.image_limits(), blobs))
    operations = open_operations(settings.data_dir)
    operations.recover()
    servicer = CatalogServicer(store, images)
    app = build_server(
        settings,
        [binding(servicer, catalog_pb2, catalog_pb2_grpc, "CatalogService"), operations_binding(operations)],
        service_label="catalog",
    )
    app.on_close(lambda: close_operations(operations))
    app.on_close(images.close)
    app.on_close(store.close)
    return app
