"""The standard `google.longrunning.Operations` service over an `OperationManager`, and its
registration with `build_server`. Operations are private to the tenant that started them: their
stored names are internal (`operations/acme.{uuid}`), callers see and give public ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import grpc
from google.longrunning import operations_pb2_grpc, operations_proto_pb2
from google.protobuf import empty_pb2

from simmesh.kit import reasons
from simmesh.kit.auth.tenancy import caller_tenant, mesh_itself, public, scoped, visible
from simmesh.kit.errors import InvalidArgument, NotFound
from simmesh.kit.operation_store import Operation, OperationFilter, not_found
from simmesh.kit.operations import OperationManager
from simmesh.kit.server import ServiceBinding

SERVICE_NAME: str = operations_proto_pb2.DESCRIPTOR.services_by_name["Operations"].full_name


# Left of the caller's deadline when WaitOperation answers, so the reply arrives in time.
_DEADLINE_MARGIN_S = 0.05


# What a service shows of an operation's metadata, response and error to the caller (their names
# public); it may change the operation it is given.
Present = Callable[[Operation], Operation]


class OperationsServicer(operations_pb2_grpc.OperationsServicer):
    """`google.longrunning.Operations` over an OperationManager. Raises the catalogue's errors."""

    def __init__(self, manager: OperationManager, present: Present | None = None) -> None:
        self._manager = manager
        self._present = present or public_operation_name

    async def ListOperations(
        self, request: operations_proto_pb2.ListOperationsRequest, context: grpc.aio.ServicerContext
    ) -> operations_proto_pb2.ListOperationsResponse:
        tenant = None if mesh_itself() else caller_tenant()
        filter = dataclasses.replace(OperationFilter.parse(request.filter), tenant=tenant)
        operations, next_token = self._manager.store.list(filter, request.page_size, request.page_token)
        return operations_proto_pb2.ListOperationsResponse(
            operations=[self._present(o) for o in operations], next_page_token=next_token
        )

    async def GetOperation(
        self, request: operations_proto_pb2.GetOperationRequest, context: grpc.aio.ServicerContext
    ) -> Operation:
        return self._present(self._manager.store.get(self._internal_name(request.name)))

    async def DeleteOperation(
        self, request: operations_proto_pb2.DeleteOperationRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        self._manager.store.delete(self._internal_name(request.name))
        return empty_pb2.Empty()

    async def CancelOperation(
        self, request: operations_proto_pb2.CancelOperationRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self._manager.cancel(self._internal_name(request.name))
        return empty_pb2.Empty()

    async def WaitOperation(
        self, request: operations_proto_pb2.WaitOperationRequest, context: grpc.aio.ServicerContext
    ) -> Operation:
        name = self._internal_name(request.name)
        timeout: float | None = None
        if request.HasField("timeout"):
            timeout = request.timeout.ToTimedelta().total_seconds()
            if timeout < 0:
                raise InvalidArgument("timeout must not be negative", reason=reasons.INVALID_TIMEOUT, field="timeout")
        remaining = context.time_remaining()
        if remaining is not None:
            budget = max(0.0, remaining - _DEADLINE_MARGIN_S)
            timeout = budget if timeout is None else min(timeout, budget)
        return self._present(await self._manager.wait(name, timeout))

    def _internal_name(self, name: str) -> str:
        """The stored name of the caller's operation `name`; NOT_FOUND, naming `name`, for an
        operation of another tenant exactly as for a missing one."""
        if not name:
            raise InvalidArgument("name is required", reason=reasons.MISSING_NAME, field="name")
        kind, slash, operation_id = name.partition("/")
        internal = f"{kind}{slash}{scoped(operation_id)}"
        if visible(scoped(operation_id)):
            try:
                self._manager.store.get_record(internal)
                return internal
            except NotFound:
                pass
        raise not_found(name)


def public_operation_name(operation: Operation) -> Operation:
    """`operation` named as its caller knows it (`operations/{uuid}`)."""
    kind, slash, operation_id = operation.name.partition("/")
    operation.name = f"{kind}{slash}{public(operation_id)}"
    return operation


def add_to_server(manager: OperationManager, server: grpc.aio.Server) -> OperationsServicer:
    """Register the Operations service (full name: SERVICE_NAME) on `server`."""
    servicer = OperationsServicer(manager)
    operations_pb2_grpc.add_OperationsServicer_to_server(servicer, server)
    return servicer


def operations_binding(manager: OperationManager, present: Present | None = None) -> ServiceBinding:
    """The Operations service for `build_server`; `present`: what callers see of an operation (by
    default its public name)."""
    return ServiceBinding(
        servicer=OperationsServicer(manager, present),
        add_to_server=operations_pb2_grpc.add_OperationsServicer_to_server,
        descriptor=operations_proto_pb2.DESCRIPTOR.services_by_name["Operations"],
    )
