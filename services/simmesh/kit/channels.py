"""Client channels from one service to another: message limits, keepalive, the bearer token, TLS,
and the identity of the caller being served (`x-simmesh-identity`), so a peer authorises the call
as that caller's, not as the mesh's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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


Metadata = Sequence[tuple[str, str | bytes]]


class _Credentialed(grpc.aio.Channel):
    """A channel whose calls carry the bearer token and the identity of the caller being served,
    added as each call is made. Not a client interceptor: grpc.aio files an interceptor that
    implements several call kinds under the first one only (a token interceptor reached unary
    calls, and the streams to shards went without it and were refused), and an intercepted call
    costs a task per call and a queue hop per streamed message."""

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._channel = channel
        self._authorization = ("authorization", f"Bearer {token}")

    def metadata(self, given: Metadata | None) -> list[tuple[str, str | bytes]]:
        """`given` and the credentials: the token, and the identity of the caller being served."""
        metadata = [*(given or ()), self._authorization]
        identity = current_identity()
        if identity is not None and identity != MESH:
            metadata.append((IDENTITY_HEADER, identity.header()))
        return metadata

    def unary_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _WithCredentials(self._channel.unary_unary(*args, **kwargs), self.metadata)

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _WithCredentials(self._channel.unary_stream(*args, **kwargs), self.metadata)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _WithCredentials(self._channel.stream_unary(*args, **kwargs), self.metadata)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _WithCredentials(self._channel.stream_stream(*args, **kwargs), self.metadata)

    async def __aenter__(self) -> _Credentialed:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._channel.close(None)

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._channel.channel_ready()


class _WithCredentials:
    """A stub method that makes its calls with the channel's credentials in their metadata."""

    def __init__(self, method: Any, metadata: Callable[[Metadata | None], Metadata]) -> None:
        self._method = method
        self._metadata = metadata

    def __call__(self, *args: Any, metadata: Metadata | None = None, **kwargs: Any) -> Any:
        return self._method(*args, metadata=self._metadata(metadata), **kwargs)


def open_channel(address: str, token: str = "", tls: ChannelTls | None = None) -> grpc.aio.Channel:
    """An asyncio channel to a peer service, sending `token` as a bearer token when set, over TLS
    (verifying the peer, presenting a client certificate when `tls` has one) when `tls` is set."""
    if tls is None:
        channel = grpc.aio.insecure_channel(address, options=OPTIONS)
    else:
        channel = grpc.aio.secure_channel(address, tls.credentials(), options=OPTIONS + tls.options())
    return _Credentialed(channel, token) if token else channel
