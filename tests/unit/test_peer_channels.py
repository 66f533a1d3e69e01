"""A peer channel sends the bearer token and the identity of the caller being served on calls of
every kind (unary and streaming), and passes the call's own metadata along."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from simmesh.kit.auth.identity import IDENTITY_HEADER, MESH, Identity, Role, reset_identity, set_identity
from simmesh.kit.channels import open_channel


def _same(raw: bytes) -> bytes:
    return raw


class _Recorder:
    """A server whose four methods (one of each kind) record each call's metadata and echo."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, str]] = {}

    def _record(self, name: str, context: grpc.aio.ServicerContext) -> None:
        self.seen[name] = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}

    async def unary_unary(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self._record("UnaryUnary", context)
        return request

    async def unary_stream(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        self._record("UnaryStream", context)
        yield request

    async def stream_unary(self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
        self._record("StreamUnary", context)
        return b"".join([r async for r in requests])

    async def stream_stream(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        self._record("StreamStream", context)
        async for request in requests:
            yield request

    def handler(self) -> grpc.GenericRpcHandler:
        kinds = {
            "UnaryUnary": grpc.unary_unary_rpc_method_handler(self.unary_unary, _same, _same),
            "UnaryStream": grpc.unary_stream_rpc_method_handler(self.unary_stream, _same, _same),
            "StreamUnary": grpc.stream_unary_rpc_method_handler(self.stream_unary, _same, _same),
            "StreamStream": grpc.stream_stream_rpc_method_handler(self.stream_stream, _same, _same),
        }
        return grpc.method_handlers_generic_handler("test.Peer", kinds)


@pytest.fixture
async def peer() -> AsyncIterator[tuple[str, _Recorder]]:
    recorder = _Recorder()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((recorder.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", recorder
    finally:
        await server.stop(None)


async def _call_every_kind(channel: grpc.aio.Channel) -> None:
    extra = [("x-request-id", "r1")]
    assert await channel.unary_unary("/test.Peer/UnaryUnary", _same, _same)(b"a", metadata=extra) == b"a"
    assert [r async for r in channel.unary_stream("/test.Peer/UnaryStream", _same, _same)(b"b", metadata=extra)] == [
        b"b"
    ]
    assert await channel.stream_unary("/test.Peer/StreamUnary", _same, _same)(iter([b"c"]), metadata=extra) == b"c"
    call = channel.stream_stream("/test.Peer/StreamStream", _same, _same)(metadata=extra)
    await call.write(b"d")
    assert await call.read() == b"d"
    await call.done_writing()


async def test_every_kind_of_call_carries_the_token_the_callers_identity_and_its_own_metadata(peer):
    address, recorder = peer
    caller = Identity("acme", "k1", Role.WRITER, internal=True)
    token = set_identity(caller)
    try:
        async with open_channel(address, "internal-secret") as channel:
            await _call_every_kind(channel)
    finally:
        reset_identity(token)
    assert set(recorder.seen) == {"UnaryUnary", "UnaryStream", "StreamUnary", "StreamStream"}
    for name, metadata in recorder.seen.items():
        assert metadata["authorization"] == "Bearer internal-secret", name
        assert metadata[IDENTITY_HEADER] == caller.header(), name
        assert metadata["x-request-id"] == "r1", name


async def test_the_mesh_acting_for_itself_forwards_no_identity_and_without_a_token_nothing_is_added(peer):
    address, recorder = peer
    token = set_identity(MESH)
    try:
        async with open_channel(address, "internal-secret") as channel:
            await _call_every_kind(channel)
        assert all(IDENTITY_HEADER not in m and m["authorization"] for m in recorder.seen.values())
        async with open_channel(address) as channel:
            await _call_every_kind(channel)
        assert all("authorization" not in m and IDENTITY_HEADER not in m for m in recorder.seen.values())
    finally:
        reset_identity(token)
