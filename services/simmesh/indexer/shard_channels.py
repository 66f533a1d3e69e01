"""The router's channels to shard nodes: one per node address and process, and a replaced one
closed once the calls on it have finished (or a grace period has passed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc

from simmesh.kit.channels import open_channel
from simmesh.kit.tls import ChannelTls
from simmesh_proto.internal.v1 import shard_pb2_grpc

log = logging.getLogger(__name__)

# Seconds the calls on a replaced channel get to finish before they are cancelled.
RETIRE_GRACE_S = 60.0

# A node process: its pid and start time (a restart is another process).
Process = tuple[int, int, int]


@dataclass(frozen=True)
class ShardChannel:
    """The channel to one node process at one address, with its stub."""

    address: str
    process: Process
    channel: grpc.aio.Channel
    stub: shard_pb2_grpc.ShardServiceStub


class ShardChannels:
    """Channels by node address. A node that restarts (another process at the address) gets a new
    channel, as the old one may sit in reconnect backoff after the refusals of the process that
    died; the old one is closed once its calls finish, or after `grace` seconds."""

    def __init__(self, token: str = "", grace: float = RETIRE_GRACE_S, tls: ChannelTls | None = None) -> None:
        self._token = token
        self._tls = tls
        self._grace = grace
        self._current: dict[str, ShardChannel] = {}
        self._closing: dict[grpc.aio.Channel, asyncio.Task[None]] = {}

    def get(
        self, address: str, process: Process, live: Callable[[], Iterable[str]] = tuple
    ) -> tuple[ShardChannel, list[ShardChannel]]:
        """The channel to `process` at `address`, and the channels retired to open it: the one it
        replaced and those to addresses no longer `live` (now closing)."""
        held = self._current.get(address)
        if held is not None and held.process == process:
            return held, []
        channel = open_channel(address, self._token, self._tls)
        entry = self._current[address] = ShardChannel(
            address, process, channel, shard_pb2_grpc.ShardServiceStub(channel)
        )
        wanted = {address, *live()}
        retired = [held] if held is not None else []
        retired += [old for other, old in self._current.items() if other not in wanted]
        for old in retired:
            if self._current.get(old.address) is old:
                del self._current[old.address]
            self._retire(old)
        return entry, retired

    def __len__(self) -> int:
        return len(self._current)

    @property
    def closing(self) -> int:
        """How many replaced channels still wait for their calls to finish."""
        return len(self._closing)

    async def close(self) -> None:
        """Close every channel now, the current ones and those still closing."""
        for task in self._closing.values():
            task.cancel()
        channels = [entry.channel for entry in self._current.values()] + list(self._closing)
        self._current.clear()
        self._closing.clear()
        for channel in channels:
            await channel.close()

    def _retire(self, entry: ShardChannel) -> None:
        log.info("closing the channel to %s (node process %s): replaced", entry.address, entry.process[0])
        task = asyncio.get_running_loop().create_task(self._close_after_calls(entry.channel))
        self._closing[entry.channel] = task

    async def _close_after_calls(self, channel: grpc.aio.Channel) -> None:
        try:
            await channel.close(self._grace)
        finally:
            self._closing.pop(channel, None)
