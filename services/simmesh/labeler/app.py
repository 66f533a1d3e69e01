"""Wires the labeler's server from its settings."""

from __future__ import annotations

from simmesh_proto.v1 import labeler_pb2, labeler_pb2_grpc

from simmesh.labeler.servicer import LabelerServicer
from simmesh.labeler.settings import LabelerSettings
from simmesh.kit.server import App, binding, build_server


async def build_app(settings: LabelerSettings) -> App:
    servicer = LabelerServicer()
    return build_server(
        settings,
        [binding(servicer, labeler_pb2, labeler_pb2_grpc, "LabelerService")],
        service_label="labeler",
    )
