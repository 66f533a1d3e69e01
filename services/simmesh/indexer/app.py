"""Wires the indexer router's server from its settings."""

from __future__ import annotations

from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc

from simmesh.indexer.servicer import IndexerServicer
from simmesh.indexer.settings import RouterSettings
from simmesh.kit.server import App, binding, build_server


async def build_router(settings: RouterSettings) -> App:
    servicer = IndexerServicer()
    return build_server(
        settings,
        [binding(servicer, indexer_pb2, indexer_pb2_grpc, "IndexerService")],
        service_label="indexer",
    )
