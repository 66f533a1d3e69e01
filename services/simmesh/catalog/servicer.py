"""gRPC surface of the catalog: proto <-> domain, no logic."""

from __future__ import annotations

from simmesh_proto.v1 import catalog_pb2_grpc


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    """`simmesh.v1.CatalogService`."""
