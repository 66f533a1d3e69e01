"""gRPC surface of the labeler: proto <-> domain, no logic."""

from __future__ import annotations

from simmesh_proto.v1 import labeler_pb2_grpc


class LabelerServicer(labeler_pb2_grpc.LabelerServiceServicer):
    """`simmesh.v1.LabelerService`."""
