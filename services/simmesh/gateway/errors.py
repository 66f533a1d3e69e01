"""gRPC status -> HTTP status and `google.rpc.Status` JSON body (RetryInfo also as Retry-After)."""

from __future__ import annotations

import math

import grpc
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from starlette.responses import JSONResponse

from simmesh.kit.errors import STATUS_DETAILS_KEY, SimmeshError

HTTP_STATUS: dict[int, int] = {
    code_pb2.OK: 200,
    code_pb2.CANCELLED: 499,
    code_pb2.UNKNOWN: 500,
    code_pb2.INVALID_ARGUMENT: 400,
    code_pb2.DEADLINE_EXCEEDED: 504,
    code_pb2.NOT_FOUND: 404,
    code_pb2.ALREADY_EXISTS: 409,
    code_pb2.PERMISSION_DENIED: 403,
    code_pb2.UNAUTHENTICATED: 401,
    code_pb2.RESOURCE_EXHAUSTED: 429,
    code_pb2.FAILED_PRECONDITION: 400,
    code_pb2.ABORTED: 409,
    code_pb2.OUT_OF_RANGE: 400,
    code_pb2.UNIMPLEMENTED: 501,
    code_pb2.INTERNAL: 500,
    code_pb2.UNAVAILABLE: 503,
    code_pb2.DATA_LOSS: 500,
}
_RETRY_AFTER_STATUSES = frozenset({429, 503})


def rpc_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The status a failed call carries: its `grpc-status-details-bin`, else its code and message."""
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return status_pb2.Status(code=error.code().value[0], message=error.details() or "")


def status_json(status: status_pb2.Status) -> dict[str, object]:
    """The Status as JSON (`code`, `message`, `details` with their `@type`)."""
    body = json_format.MessageToDict(status)
    body.setdefault("code", status.code)
    body.setdefault("message", status.message)
    return body


def status_response(status: status_pb2.Status, http_status: int | None = None) -> JSONResponse:
    """An HTTP error answer: the mapped status (or `http_status`), the Status body, Retry-After when told."""
    code = http_status or HTTP_STATUS.get(status.code, 500)
    headers = {}
    retry_after = _retry_after(status)
    if retry_after is not None and code in _RETRY_AFTER_STATUSES:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(status_json(status), status_code=code, headers=headers)


def error_response(error: SimmeshError, http_status: int | None = None) -> JSONResponse:
    """The gateway's own error, in the same form as the mesh's."""
    return status_response(error.to_status(), http_status)


def _retry_after(status: status_pb2.Status) -> int | None:
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            return max(1, math.ceil(retry.retry_delay.ToNanoseconds() / 1e9))
    return None
