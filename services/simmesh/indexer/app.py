"""Wires the indexer router's server from its settings."""

from __future__ import annotations

from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc

from simmesh.indexer.servicer import IndexerServicer
from simmesh.indexer.settings import RouterSettings
from simmesh.kit.operations import close_operations, open_operations, operations_binding
from simmesh.kit.server import App, binding, build_server


async def build_router(settings: RouterSettings) -> App:
    operations = open_operations(settings.data_dir)
    operations.recover()
    servicer = IndexerServicer()
    app = build_server(
        settings,
        [binding(servicer, indexer_pb2, indexer_pb2_grpc, "IndexerService"), operations_binding(operations)],
        service_label="indexer",
    )
    app.on_close(lambda: close_operations(operations))
    return app
