"""gRPC surface of the embedder: proto <-> domain, no logic."""

from __future__ import annotations

from simmesh_proto.v1 import embedder_pb2_grpc


class EmbedderServicer(embedder_pb2_grpc.EmbedderServiceServicer):
    """`simmesh.v1.EmbedderService`."""
