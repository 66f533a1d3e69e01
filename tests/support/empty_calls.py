"""Calls any RPC from its method descriptor with an empty request (one empty message on a stream)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor


def _message(descriptor) -> type:
    return message_factory.GetMessageClass(descriptor)


async def call_empty(
    channel: grpc.aio.Channel, method: MethodDescriptor, metadata: Sequence[tuple[str, str]] | None = None
):
    """The answer of `method` to an empty request (a list of them for a streamed answer). A
    streamed request is an empty stream: a server that refuses the call at once would otherwise
    race the client's first write (an abort that crosses it can reach the client as INTERNAL)."""
    return await call_one(channel, method, None, metadata)


async def call_one(
    channel: grpc.aio.Channel, method: MethodDescriptor, request, metadata: Sequence[tuple[str, str]] | None = None
):
    """The answer of `method` to `request` (a stream of that one message; None: an empty request,
    an empty stream)."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    request_cls, response_cls = _message(method.input_type), _message(method.output_type)
    kwargs = dict(request_serializer=request_cls.SerializeToString, response_deserializer=response_cls.FromString)
    options = dict(timeout=10, metadata=metadata)
    stream = iter(() if request is None else (request,))
    request = request_cls() if request is None else request
    if method.client_streaming and method.server_streaming:
        call = channel.stream_stream(path, **kwargs)(stream, **options)
        return [r async for r in call]
    if method.client_streaming:
        return await channel.stream_unary(path, **kwargs)(stream, **options)
    if method.server_streaming:
        return [r async for r in channel.unary_stream(path, **kwargs)(request, **options)]
    return await channel.unary_unary(path, **kwargs)(request, **options)
