"""Client channels from one service to another: message limits, keepalive, the bearer token, TLS,
and the identity of the caller being served (`x-simmesh-identity`), so a peer authorises the call
as that caller's, not as the mesh's."""

from __future__ import annotations

import grpc

from simmesh.kit.auth.identity import IDENTITY_HEADER, MESH, current_identity
from simmesh.kit.server import MAX_MESSAGE_BYTES
from simmesh.kit.tls import ChannelTls

OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
    # Peers in the mesh restart in seconds; gRPC's default backoff grows to two minutes, during
    # which calls to a peer that is back would still fail at once.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


class _Token(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = [*(details.metadata or []), self._header]
        identity = current_identity()
        if identity is not None and identity != MESH:
            metadata.append((IDENTITY_HEADER, identity.header()))
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self._details(details), request)

    async def intercept_stream_unary(self, continuation, details, requests):
        return await continuation(self._details(details), requests)

    async def intercept_stream_stream(self, continuation, details, requests):
        return await continuation(self._details(details), requests)


def open_channel(address: str, token: str = "", tls: ChannelTls | None = None) -> grpc.aio.Channel:
    """An asyncio channel to a peer service, sending `token` as a bearer token when set, over TLS
    (verifying the peer, presenting a client certificate when `tls` has one) when `tls` is set."""
    interceptors = [_Token(token)] if token else None
    if tls is None:
        return grpc.aio.insecure_channel(address, options=OPTIONS, interceptors=interceptors)
    return grpc.aio.secure_channel(
        address, tls.credentials(), options=OPTIONS + tls.options(), interceptors=interceptors
    )
