"""Errors as the SDK raises them: the gRPC status with its `google.rpc` details unpacked.

Servers send a `google.rpc.Status` in the `grpc-status-details-bin` trailer, carrying an
`ErrorInfo` (stable `reason`, domain "simmesh", metadata) and, where a request field is wrong, a
`BadRequest` with field violations, and where a retry should wait, a `RetryInfo`. `SimmeshError`
exposes them as plain attributes:

    try:
        client.indexer.search("products", vector=query)
    except SimmeshError as err:
        if err.reason == "COLLECTION_NOT_FOUND": ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from simmesh_proto.v1 import common_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"

_CODES_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def status_code(value: int) -> grpc.StatusCode:
    """The `grpc.StatusCode` for a numeric code (UNKNOWN for numbers outside the canon)."""
    return _CODES_BY_VALUE.get(value, grpc.StatusCode.UNKNOWN)


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class SimmeshError(Exception):
    """A failed call: canonical code, message, and the details the server attached."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        violations: Sequence[FieldViolation] = (),
        metadata: Mapping[str, str] | None = None,
        details: Sequence[any_pb2.Any] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        self.metadata: dict[str, str] = dict(metadata or {})
        # Every detail as sent, including kinds not unpacked above.
        self.details: tuple[any_pb2.Any, ...] = tuple(details)

    @property
    def retriable(self) -> bool:
        """True when trying again may succeed: the server said so, or the service was unreachable."""
        if "retriable" in self.metadata:
            return self.metadata["retriable"] == "true"
        return self.code is grpc.StatusCode.UNAVAILABLE

    @property
    def retry_delay(self) -> float | None:
        """Seconds the server asked to wait before a retry (its `RetryInfo`: a key over its rate
        limit or daily quota, a busy server); None when it named none."""
        info = error_details_pb2.RetryInfo()
        for detail in self.details:
            if detail.Unpack(info):
                return info.retry_delay.ToNanoseconds() / 1e9
        return None

    def __str__(self) -> str:
        head = self.code.name if not self.reason else f"{self.code.name} ({self.reason})"
        text = f"{head}: {self.message}" if self.message else head
        if self.violations:
            text += " [" + "; ".join(f"{v.field}: {v.description}" for v in self.violations) + "]"
        return text

    def __repr__(self) -> str:
        return f"SimmeshError({self.code.name}, {self.message!r}, reason={self.reason!r})"

    @classmethod
    def from_status(cls, status: status_pb2.Status) -> SimmeshError:
        """From a `google.rpc.Status` (an operation's error, an item's error, a trailer)."""
        reason = domain = ""
        metadata: dict[str, str] = {}
        violations: list[FieldViolation] = []
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, domain = info.reason, info.domain
                metadata.update(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
        return cls(
            status_code(status.code),
            status.message,
            reason=reason,
            domain=domain,
            violations=violations,
            metadata=metadata,
            details=list(status.details),
        )

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> SimmeshError:
        """From a failed gRPC call, reading the rich status from its trailers when present."""
        call = cast(grpc.Call, error)
        code = call.code() if hasattr(call, "code") else grpc.StatusCode.UNKNOWN
        message = (call.details() if hasattr(call, "details") else None) or ""
        trailers = (call.trailing_metadata() if hasattr(call, "trailing_metadata") else None) or ()
        for key, value in trailers:
            if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
                status = status_pb2.Status.FromString(value)
                if status.code == code.value[0]:
                    return cls.from_status(status)
        return cls(code, message)


@dataclass(frozen=True)
class ItemFailure:
    """One failed item of a batch whose other items succeeded."""

    index: int
    id: str
    error: SimmeshError

    @classmethod
    def from_proto(cls, item: common_pb2.ItemError) -> ItemFailure:
        return cls(item.index, item.id, SimmeshError.from_status(item.status))


class PartialFailure(SimmeshError):
    """Some items of a batch failed. `result` holds what the call returned for the rest."""

    def __init__(self, failures: Sequence[ItemFailure], result: object, *, total: int) -> None:
        first = failures[0]
        label = f"item {first.index}" + (f" ({first.id})" if first.id else "")
        super().__init__(
            first.error.code,
            f"{len(failures)} of {total} items failed; {label}: {first.error.message}",
            reason=first.error.reason,
            domain=first.error.domain,
            violations=first.error.violations,
            metadata=first.error.metadata,
        )
        self.failures: tuple[ItemFailure, ...] = tuple(failures)
        self.result = result


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise any `grpc.RpcError` inside the block as a `SimmeshError`."""
    try:
        yield
    except grpc.RpcError as error:
        raise SimmeshError.from_rpc_error(error) from error


StubT = TypeVar("StubT")


class ErrorMappingStub(Generic[StubT]):
    """A generated stub whose methods raise `SimmeshError` instead of `grpc.RpcError`.

    Unary methods are wrapped as calls; response streams are wrapped so that an error met while
    iterating is translated too. The generated stub stays reachable as `raw`.
    """

    def __init__(self, stub: StubT) -> None:
        self.raw = stub

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.raw, name)
        streams = isinstance(method, (grpc.UnaryStreamMultiCallable, grpc.StreamStreamMultiCallable))

        def call(request: Any, **kwargs: Any) -> Any:
            with translate_errors():
                result = method(request, **kwargs)
            return _ErrorMappingIterator(result) if streams else result

        call.__name__ = name
        return call


class _ErrorMappingIterator:
    """A response stream that raises `SimmeshError`; other attributes reach the call object."""

    def __init__(self, responses: Any) -> None:
        self._responses = responses

    def __iter__(self) -> _ErrorMappingIterator:
        return self

    def __next__(self) -> Any:
        with translate_errors():
            return next(self._responses)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._responses, name)
