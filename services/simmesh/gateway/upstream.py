"""Calls to the mesh: a channel per backend, generic calls by method path, Operations fanned out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.longrunning import operations_proto_pb2
from google.protobuf import message_factory
from google.protobuf.message import Message

from simmesh.gateway.routes import Fanout, Route
from simmesh.kit import reasons
from simmesh.kit.channels import open_channel
from simmesh.kit.errors import InvalidArgument
from simmesh.kit.tls import ChannelTls

Metadata = Sequence[tuple[str, str]]

# Answers after which a name is looked up on the next backend that hosts its service.
_LOOK_FURTHER = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE})


@dataclass(frozen=True)
class CallOptions:
    """What every upstream call carries: the caller's metadata and its timeout."""

    metadata: Metadata
    timeout: float


class Backends:
    """A channel per backend, opened once (plain, so the caller's own `authorization` is what the mesh sees)."""

    def __init__(self, addresses: dict[str, str], tls: ChannelTls | None) -> None:
        self._addresses = addresses
        self._tls = tls
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._methods: dict[tuple[str, str, str], Any] = {}

    def channel(self, backend: str) -> grpc.aio.Channel:
        if backend not in self._channels:
            self._channels[backend] = open_channel(self._addresses[backend], tls=self._tls)
        return self._channels[backend]

    def method(self, backend: str, route: Route) -> Any:
        """The generic multi-callable of `route`'s RPC on `backend` (kept per backend and method)."""
        kind = (
            ("stream" if route.client_streaming else "unary") + "_" + ("stream" if route.server_streaming else "unary")
        )
        key = (backend, route.rpc_path, kind)
        if key not in self._methods:
            request_class = message_factory.GetMessageClass(route.method.input_type)
            response_class = message_factory.GetMessageClass(route.method.output_type)
            self._methods[key] = getattr(self.channel(backend), kind)(
                route.rpc_path,
                request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString,
            )
        return self._methods[key]

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()
        self._methods.clear()


async def call_unary(backends: Backends, route: Route, request: Message, options: CallOptions) -> Message:
    """A unary RPC (or a client stream of one or more `request`s), fanned out as the route says."""
    if route.fanout is Fanout.MERGED_LIST:
        return await _merged_list(backends, route, request, options)
    failures: list[grpc.aio.AioRpcError] = []
    for backend in route.backends:
        try:
            return await _invoke(backends, backend, route, request, options)
        except grpc.aio.AioRpcError as error:
            if route.fanout is not Fanout.FIRST_FOUND or error.code() not in _LOOK_FURTHER:
                raise
            failures.append(error)
    # Not found anywhere answers NOT_FOUND; a backend that could not say answers its own error.
    raise next((f for f in failures if f.code() != grpc.StatusCode.NOT_FOUND), failures[-1])


async def _invoke(backends: Backends, backend: str, route: Route, request: Any, options: CallOptions) -> Message:
    method = backends.method(backend, route)
    if route.client_streaming:
        return await method(_aiter(request), metadata=options.metadata, timeout=options.timeout)
    return await method(request, metadata=options.metadata, timeout=options.timeout)


def call_stream(backends: Backends, route: Route, request: Any, options: CallOptions) -> Any:
    """A server-streaming call (its request a message, or a list of them for a bidirectional stream)."""
    method = backends.method(route.backends[0], route)
    given = _aiter(request) if route.client_streaming else request
    return method(given, metadata=options.metadata, timeout=options.timeout)


async def _aiter(messages: Message | list[Message]) -> AsyncIterator[Message]:
    for message in messages if isinstance(messages, list) else [messages]:
        yield message


async def _merged_list(backends: Backends, route: Route, request: Message, options: CallOptions) -> Message:
    """ListOperations over every backend: the page token names the backend (`<index>:<its token>`)."""
    assert isinstance(request, operations_proto_pb2.ListOperationsRequest)
    index, token = _split_token(request.page_token, len(route.backends))
    merged = operations_proto_pb2.ListOperationsResponse()
    while index < len(route.backends):
        asked = operations_proto_pb2.ListOperationsRequest()
        asked.CopyFrom(request)
        asked.page_token = token
        answer = await _invoke(backends, route.backends[index], route, asked, options)
        assert isinstance(answer, operations_proto_pb2.ListOperationsResponse)
        merged.operations.extend(answer.operations)
        if answer.next_page_token:
            merged.next_page_token = f"{index}:{answer.next_page_token}"
            return merged
        index, token = index + 1, ""
        if merged.operations and index < len(route.backends):
            merged.next_page_token = f"{index}:"
            return merged
    return merged


def _split_token(token: str, backends: int) -> tuple[int, str]:
    if not token:
        return 0, ""
    index, _, rest = token.partition(":")
    if not index.isdigit() or int(index) >= backends:
        raise InvalidArgument(f"page_token {token!r} is not one this gateway gave", reason=reasons.INVALID_PAGE_TOKEN)
    return int(index), rest
