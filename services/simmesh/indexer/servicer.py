"""gRPC surface of the indexer router: proto <-> domain, no logic."""

from __future__ import annotations

from simmesh_proto.v1 import indexer_pb2_grpc


class IndexerServicer(indexer_pb2_grpc.IndexerServiceServicer):
    """`simmesh.v1.IndexerService`."""
