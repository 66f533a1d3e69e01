"""The error catalogue: one exception class per canonical gRPC code.

Domain code raises these; the server's error interceptor turns them into a gRPC status whose
details carry a `google.rpc.ErrorInfo` (stable `reason`, domain "simmesh") and, where a request
field is at fault, a `google.rpc.BadRequest` with the field violations. Anything else that
escapes a handler becomes INTERNAL with a generic message (the traceback goes to the log).

    raise InvalidArgument("dimension must be positive", reason=reasons.INVALID_DIMENSION,
                          field="collection.dimension")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from simmesh.kit import reasons

DOMAIN = "simmesh"

# gRPC trailing-metadata key under which grpc-status-details-bin travels.
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class SimmeshError(Exception):
    """Base of every error that maps to a gRPC status."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    default_reason: str = reasons.UNKNOWN
    retriable: bool = False

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        field: str | None = None,
        violations: Sequence[tuple[str, str]] = (),
        metadata: Mapping[str, object] | None = None,
        retriable: bool | None = None,
        retry_after: float | None = None,
        quota_violations: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.violations: list[tuple[str, str]] = list(violations)
        if field is not None:
            self.violations.insert(0, (field, message))
        self.metadata = {k: str(v) for k, v in (metadata or {}).items()}
        if retriable is not None:
            self.retriable = retriable
        # Seconds the caller should wait before retrying (sent as RetryInfo), and (subject,
        # description) of each quota it ran out of (sent as QuotaFailure).
        self.retry_after = retry_after
        self.quota_violations: list[tuple[str, str]] = list(quota_violations)

    def to_status(self) -> status_pb2.Status:
        """This error as a `google.rpc.Status` with ErrorInfo (and BadRequest) details."""
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self.metadata)
        if self.retriable:
            info.metadata["retriable"] = "true"
        details = [_pack(info)]
        if self.violations:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in self.violations
                ]
            )
            details.append(_pack(bad))
        if self.retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(int(self.retry_after * 1e9))
            details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
        if self.quota_violations:
            quota = error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(subject=s, description=d) for s, d in self.quota_violations
                ]
            )
            details.append(_pack(quota))
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=details)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class InvalidArgument(SimmeshError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = reasons.INVALID_ARGUMENT


class NotFound(SimmeshError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = reasons.NOT_FOUND


class AlreadyExists(SimmeshError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = reasons.ALREADY_EXISTS


class FailedPrecondition(SimmeshError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = reasons.FAILED_PRECONDITION


class OutOfRange(SimmeshError):
    code = grpc.StatusCode.OUT_OF_RANGE
    default_reason = reasons.OUT_OF_RANGE


class ResourceExhausted(SimmeshError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = reasons.RESOURCE_EXHAUSTED


class Aborted(SimmeshError):
    code = grpc.StatusCode.ABORTED
    default_reason = reasons.ABORTED
    retriable = True


class Unavailable(SimmeshError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = reasons.UNAVAILABLE
    retriable = True


class DeadlineExceeded(SimmeshError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = reasons.DEADLINE_EXCEEDED
    retriable = True


class Cancelled(SimmeshError):
    code = grpc.StatusCode.CANCELLED
    default_reason = reasons.CANCELLED


class Unauthenticated(SimmeshError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = reasons.UNAUTHENTICATED


class PermissionDenied(SimmeshError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = reasons.PERMISSION_DENIED


class Unimplemented(SimmeshError):
    code = grpc.StatusCode.UNIMPLEMENTED
    default_reason = reasons.NOT_IMPLEMENTED


class Internal(SimmeshError):
    code = grpc.StatusCode.INTERNAL
    default_reason = reasons.INTERNAL


_BY_CODE: dict[int, type[SimmeshError]] = {
    cls.code.value[0]: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        OutOfRange,
        ResourceExhausted,
        Aborted,
        Unavailable,
        DeadlineExceeded,
        Cancelled,
        Unauthenticated,
        PermissionDenied,
        Unimplemented,
        Internal,
    )
}


def from_status(status: status_pb2.Status) -> SimmeshError:
    """The SimmeshError a `google.rpc.Status` describes (reason and violations kept)."""
    cls = _BY_CODE.get(status.code, SimmeshError)
    reason, metadata, violations = None, {}, []
    retry_after: float | None = None
    quota: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToNanoseconds() / 1e9
        elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
            quota = [(v.subject, v.description) for v in failure.violations]
    retriable = metadata.pop("retriable", None) == "true" or None
    return cls(
        status.message,
        reason=reason,
        violations=violations,
        metadata=metadata,
        retriable=retriable,
        retry_after=retry_after,
        quota_violations=quota,
    )


def from_rpc_error(error: grpc.RpcError) -> SimmeshError:
    """The SimmeshError carried by a failed call (from its status details, else its code)."""
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            return from_status(status)
    code = error.code()
    return from_status(status_pb2.Status(code=code.value[0], message=error.details() or ""))
