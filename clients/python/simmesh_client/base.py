"""What every service client shares: the generated stub on the hub's channel, the interceptor that
gives each call its default deadline and token, paging, resource names, request conversions, and
starting a long-running operation with or without waiting for it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import struct_pb2
from google.protobuf.message import Message

from simmesh_client.config import Service
from simmesh_client.errors import ErrorMappingStub
from simmesh_client.operations import OperationTypes, ResponseT, wait_operation
from simmesh_proto.v1 import common_pb2

StubT = TypeVar("StubT")
RequestT = TypeVar("RequestT", bound=Message)

ImageSource = common_pb2.Image | bytes | bytearray | memoryview | str | os.PathLike[str]


class Channels(Protocol):
    """What a service client needs of the hub (`simmesh_client.Client`): each service's channel."""

    def channel(self, service: Service) -> grpc.Channel: ...

    def operations(self, service: Service) -> operations_pb2_grpc.OperationsStub: ...


class ServiceClient(Generic[StubT]):
    """One service's generated stub on the client's channel, plus convenience methods."""

    service: ClassVar[Service]
    stub_class: ClassVar[type[Any]]

    def __init__(self, client: Channels) -> None:
        self._client = client
        self._channel: grpc.Channel | None = None
        self._stub: StubT | None = None

    @property
    def stub(self) -> StubT:
        """The generated stub: calls raise `grpc.RpcError`."""
        channel = self._client.channel(self.service)
        if self._stub is None or self._channel is not channel:
            self._channel, self._stub = channel, cast(StubT, self.stub_class(channel))
        return self._stub

    @property
    def rpc(self) -> StubT:
        """The generated stub's methods, raising `SimmeshError`."""
        return cast(StubT, ErrorMappingStub(self.stub))

    @property
    def operations(self) -> operations_pb2_grpc.OperationsStub:
        return self._client.operations(self.service)

    def _operation_result(
        self,
        operation: operations_pb2.Operation,
        types: OperationTypes[ResponseT],
        wait: bool,
        timeout: float | None,
        poll_interval: float,
        on_progress: Callable[[Any], None] | None,
    ) -> ResponseT | operations_pb2.Operation:
        """A just-started operation as it is, or with `wait` its response once it is done (polled by
        `wait_operation`, which calls `on_progress` with its metadata)."""
        if not wait:
            return operation
        return wait_operation(
            self.operations,
            operation,
            timeout=timeout,
            poll_interval=poll_interval,
            on_progress=on_progress,
            response_type=types.response,
            metadata_type=types.metadata,
        )


def paginate(method: Callable[[RequestT], Any], request: RequestT, items: str) -> Iterator[Any]:
    """Every item of a List method across its pages, following `next_page_token`."""
    page = type(request)()
    page.CopyFrom(request)
    while True:
        response = method(page)
        yield from getattr(response, items)
        if not response.next_page_token:
            return
        page.page_token = response.next_page_token


def resource_name(collection_id: str, name: str) -> str:
    """`products` -> `collections/products`; a full name is returned unchanged."""
    prefix = f"{collection_id}/"
    return name if name.startswith(prefix) else prefix + name


def as_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def as_image(source: ImageSource) -> common_pb2.Image:
    """An Image from bytes, a local file path, an http(s) URL, or a URI in the server's object store
    (`s3://`, `file://`)."""
    if isinstance(source, common_pb2.Image):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return common_pb2.Image(content=bytes(source))
    if isinstance(source, str):
        scheme = source.split("://", 1)[0].lower() if "://" in source else ""
        if scheme in ("http", "https"):
            return common_pb2.Image(url=source)
        if scheme in ("s3", "file"):
            return common_pb2.Image(uri=source)
        if scheme:
            raise ValueError(f"unsupported image URI scheme {scheme!r} in {source!r}")
    elif not isinstance(source, os.PathLike):
        raise TypeError(f"cannot make an image from {type(source).__name__}")
    with open(source, "rb") as file:
        return common_pb2.Image(content=file.read())


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str | bytes]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class CallDefaults(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Gives every call the default deadline and the bearer token unless it sets its own."""

    def __init__(self, token: str | None, timeout: float) -> None:
        self._authorization = f"Bearer {token}" if token else None
        self._timeout = timeout

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata = list(details.metadata or ())
        if self._authorization and not any(key == "authorization" for key, _ in metadata):
            metadata.append(("authorization", self._authorization))
        return _CallDetails(
            method=details.method,
            timeout=details.timeout if details.timeout is not None else self._timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
            compression=getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)
