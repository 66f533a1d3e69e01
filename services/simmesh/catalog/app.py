"""Wires the catalog's server from its settings."""

from __future__ import annotations

from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc

from simmesh.catalog.servicer import CatalogServicer
from simmesh.catalog.settings import CatalogSettings
from simmesh.kit.server import App, binding, build_server


async def build_app(settings: CatalogSettings) -> App:
    servicer = CatalogServicer()
    return build_server(
        settings,
        [binding(servicer, catalog_pb2, catalog_pb2_grpc, "CatalogService")],
        service_label="catalog",
    )
