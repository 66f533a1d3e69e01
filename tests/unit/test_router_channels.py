"""The router's channels to shard nodes: a node that restarts or moves gets a new channel, and the
old one closes once the calls on it have finished, or when its grace period ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from simmesh.indexer.shard_channels import ShardChannels

SLOW = "/test.Slow/Call"


class SlowNode:
    """A server whose one method answers once `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()

    async def call(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.arrived.set()
        await self.release.wait()
        return request


@pytest.fixture
async def node() -> AsyncIterator[tuple[SlowNode, str]]:
    slow = SlowNode()
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(slow.call)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Slow", {"Call": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield slow, f"127.0.0.1:{port}"
    await server.stop(None)


async def until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_restarted_node_gets_a_new_channel_and_the_old_one_closes_after_its_calls(node) -> None:
    slow, address = node
    channels = ShardChannels(grace=30.0)
    try:
        first, retired = channels.get(address, (100, 1, 0))
        assert retired == []
        assert channels.get(address, (100, 1, 0)) == (first, [])
        in_flight = asyncio.ensure_future(first.channel.unary_unary(SLOW)(b"kept"))
        await slow.arrived.wait()

        second, retired = channels.get(address, (200, 2, 0))
        assert retired == [first] and second.channel is not first.channel
        assert channels.closing == 1

        slow.release.set()
        assert await in_flight == b"kept"
        await until(lambda: channels.closing == 0)
        assert first.channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN
        assert await second.channel.unary_unary(SLOW)(b"new") == b"new"
    finally:
        await channels.close()


async def test_calls_still_running_when_the_grace_period_ends_are_cancelled(node) -> None:
    slow, address = node
    channels = ShardChannels(grace=0.2)
    try:
        first, _ = channels.get(address, (100, 1, 0))
        in_flight = asyncio.ensure_future(first.channel.unary_unary(SLOW)(b"stuck"))
        await slow.arrived.wait()
        channels.get(address, (200, 2, 0))
        with pytest.raises(asyncio.CancelledError):  # cancelled by its own channel closing
            await asyncio.wait_for(in_flight, 5.0)
        await until(lambda: channels.closing == 0)
    finally:
        slow.release.set()
        await channels.close()


async def test_the_channel_to_an_address_that_left_the_map_closes_when_another_opens(node) -> None:
    _, address = node
    channels = ShardChannels(grace=1.0)
    try:
        moved, _ = channels.get("127.0.0.1:9", (100, 1, 0))
        current, retired = channels.get(address, (200, 2, 0), live=lambda: [address])
        assert retired == [moved] and len(channels) == 1
        await until(lambda: channels.closing == 0)
        assert moved.channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN
        assert channels.get(address, (200, 2, 0)) == (current, [])
    finally:
        await channels.close()
