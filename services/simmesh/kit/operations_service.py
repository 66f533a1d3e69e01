"""The standard `google.longrunning.Operations` service over an `OperationManager`, and its
registration with `build_server`."""

from __future__ import annotations

import grpc
from google.longrunning import operations_pb2_grpc, operations_proto_pb2
from google.protobuf import empty_pb2

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh.kit.operation_store import Operation, OperationFilter
from simmesh.kit.operations import OperationManager
from simmesh.kit.server import ServiceBinding

SERVICE_NAME: str = operations_proto_pb2.DESCRIPTOR.services_by_name["Operations"].full_name


# Left of the caller's deadline when WaitOperation answers, so the reply arrives in time.
_DEADLINE_MARGIN_S = 0.05


class OperationsServicer(operations_pb2_grpc.OperationsServicer):
    """`google.longrunning.Operations` over an OperationManager. Raises the catalogue's errors."""

    def __init__(self, manager: OperationManager) -> None:
        self._manager = manager

    async def ListOperations(
        self, request: operations_proto_pb2.ListOperationsRequest, context: grpc.aio.ServicerContext
    ) -> operations_proto_pb2.ListOperationsResponse:
        operations, next_token = self._manager.store.list(
            OperationFilter.parse(request.filter), request.page_size, request.page_token
        )
        return operations_proto_pb2.ListOperationsResponse(operations=operations, next_page_token=next_token)

    async def GetOperation(
        self, request: operations_proto_pb2.GetOperationRequest, context: grpc.aio.ServicerContext
    ) -> Operation:
        return self._manager.store.get(_required_name(request.name))

    async def DeleteOperation(
        self, request: operations_proto_pb2.DeleteOperationRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        self._manager.store.delete(_required_name(request.name))
        return empty_pb2.Empty()

    async def CancelOperation(
        self, request: operations_proto_pb2.CancelOperationRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self._manager.cancel(_required_name(request.name))
        return empty_pb2.Empty()

    async def WaitOperation(
        self, request: operations_proto_pb2.WaitOperationRequest, context: grpc.aio.ServicerContext
    ) -> Operation:
        name = _required_name(request.name)
        timeout: float | None = None
        if request.HasField("timeout"):
            timeout = request.timeout.ToTimedelta().total_seconds()
            if timeout < 0:
                raise InvalidArgument("timeout must not be negative", reason=reasons.INVALID_TIMEOUT, field="timeout")
        remaining = context.time_remaining()
        if remaining is not None:
            budget = max(0.0, remaining - _DEADLINE_MARGIN_S)
            timeout = budget if timeout is None else min(timeout, budget)
        return await self._manager.wait(name, timeout)


def _required_name(name: str) -> str:
    if not name:
        raise InvalidArgument("name is required", reason=reasons.MISSING_NAME, field="name")
    return name


def add_to_server(manager: OperationManager, server: grpc.aio.Server) -> OperationsServicer:
    """Register the Operations service (full name: SERVICE_NAME) on `server`."""
    servicer = OperationsServicer(manager)
    operations_pb2_grpc.add_OperationsServicer_to_server(servicer, server)
    return servicer


def operations_binding(manager: OperationManager) -> ServiceBinding:
    """The Operations service for `build_server`."""
    return ServiceBinding(
        servicer=OperationsServicer(manager),
        add_to_server=operations_pb2_grpc.add_OperationsServicer_to_server,
        descriptor=operations_proto_pb2.DESCRIPTOR.services_by_name["Operations"],
    )
