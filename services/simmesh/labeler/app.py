"""Wires the labeler's server from its settings."""

from __future__ import annotations

from simmesh_proto.v1 import catalog_pb2_grpc, embedder_pb2_grpc, indexer_pb2_grpc, labeler_pb2, labeler_pb2_grpc

from simmesh.kit.channels import open_channel
from simmesh.kit.server import App, binding, build_server
from simmesh.labeler.peers import Mesh
from simmesh.labeler.service import build_labeler
from simmesh.labeler.servicer import LabelerServicer
from simmesh.labeler.settings import LabelerSettings
from simmesh.labeler.store import default_db_url, open_labeler_store


async def build_app(settings: LabelerSettings) -> App:
    store = open_labeler_store(settings.labeler_db_url or default_db_url(settings.data_dir))
    channels = [open_channel(settings.embedder_addr, settings.auth_token),
                open_channel(settings.indexer_addr, settings.auth_token)]
    catalog = None
    if settings.catalog_addr:
        channels.append(open_channel(settings.catalog_addr, settings.auth_token))
        catalog = catalog_pb2_grpc.CatalogServiceStub(channels[2])
    mesh = Mesh(embedder_pb2_grpc.EmbedderServiceStub(channels[0]), indexer_pb2_grpc.IndexerServiceStub(channels[1]),
                catalog)
    labeler = build_labeler(store, mesh, shard_count=settings.collection_shards)
    app = build_server(
        settings,
        [binding(LabelerServicer(labeler), labeler_pb2, labeler_pb2_grpc, "LabelerService")],
        service_label="labeler",
    )
    for channel in channels:
        app.on_close(channel.close)
    app.on_close(store.close)
    return app
