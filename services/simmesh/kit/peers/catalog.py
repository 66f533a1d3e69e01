"""The catalog's client: what other services read of its tasks and their versions."""

from __future__ import annotations

import grpc

from simmesh.kit import reasons
from simmesh.kit.peers.calls import PeerClient
from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc


class CatalogClient(PeerClient):
    """`simmesh.v1.CatalogService`, the reads of tasks (`tasks/{task}`) and versions (`tasks/{task}/versions/{n}`)."""

    PEER = "catalog"
    UNAVAILABLE = reasons.CATALOG_UNAVAILABLE

    def __init__(self, channel: grpc.aio.Channel, address: str, *, default_timeout: float | None = None) -> None:
        super().__init__(channel, address, default_timeout=default_timeout)
        self._stub = catalog_pb2_grpc.CatalogServiceStub(channel)

    async def get_task(self, name: str, timeout: float | None = None) -> catalog_pb2.Task:
        return await self.call(self._stub.GetTask, catalog_pb2.GetTaskRequest(name=name), timeout)

    async def get_task_version(self, name: str, timeout: float | None = None) -> catalog_pb2.TaskVersion:
        return await self.call(self._stub.GetTaskVersion, catalog_pb2.GetTaskVersionRequest(name=name), timeout)
