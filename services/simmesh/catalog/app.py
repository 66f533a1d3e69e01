"""Wires the catalog's server from its settings."""

from __future__ import annotations

from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc

from simmesh.catalog.servicer import CatalogServicer
from simmesh.catalog.settings import CatalogSettings
from simmesh.kit.operations import close_operations, open_operations, operations_binding
from simmesh.kit.server import App, binding, build_server


async def build_app(settings: CatalogSettings) -> App:
    operations = open_operations(settings.data_dir)
    operations.recover()
    servicer = CatalogServicer()
    app = build_server(
        settings,
        [binding(servicer, catalog_pb2, catalog_pb2_grpc, "CatalogService"), operations_binding(operations)],
        service_label="catalog",
    )
    app.on_close(lambda: close_operations(operations))
    return app
