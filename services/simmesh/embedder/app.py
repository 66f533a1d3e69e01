"""Wires the embedder's server from its settings."""

from __future__ import annotations

from simmesh_proto.v1 import embedder_pb2, embedder_pb2_grpc

from simmesh.embedder.servicer import EmbedderServicer
from simmesh.embedder.settings import EmbedderSettings
from simmesh.kit.server import App, binding, build_server


async def build_app(settings: EmbedderSettings) -> App:
    servicer = EmbedderServicer()
    return build_server(
        settings,
        [binding(servicer, embedder_pb2, embedder_pb2_grpc, "EmbedderService")],
        service_label="embedder",
    )
