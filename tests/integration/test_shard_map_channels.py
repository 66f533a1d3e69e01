"""The router's shard map on a real etcd: the channel to a shard node that restarted or moved is
closed, not kept until the router stops."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from simmesh.indexer.layout import Layout, encode
from simmesh.indexer.shard_map import ShardMap
from simmesh.kit.discovery import EtcdClient
from simmesh_proto.internal.v1 import shard_pb2

pytestmark = pytest.mark.integration

# The node processes first registered: address -> (pid, start time seconds, nanos).
PROCESSES = {"127.0.0.1:7001": (1, 1_700_000_001, 0), "127.0.0.1:7002": (2, 1_700_000_002, 0)}


def register(etcd: EtcdClient, layout: Layout, shard: int, address: str, pid: int) -> None:
    info = shard_pb2.ShardInfo(shard=shard, address=address, pid=pid, state=shard_pb2.ShardInfo.STATE_SERVING)
    info.start_time.FromSeconds(1_700_000_000 + pid)
    etcd.put(layout.shard_key("items", shard), encode(info))


async def until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_channels_to_restarted_and_moved_nodes_close(etcd_client: EtcdClient, etcd_prefix: str) -> None:
    layout = Layout(etcd_prefix)
    register(etcd_client, layout, 0, "127.0.0.1:7001", pid=1)
    register(etcd_client, layout, 1, "127.0.0.1:7002", pid=2)
    shards = await asyncio.to_thread(ShardMap, etcd_client, layout)
    try:
        await until(lambda: len(shards.shard_infos("items")) == 2)
        first = shards.stub("items", 0)
        assert shards.stub("items", 0) is first
        shards.stub("items", 1)
        held = {address: shards.channels.get(address, process)[0] for address, process in PROCESSES.items()}

        register(etcd_client, layout, 0, "127.0.0.1:7001", pid=3)  # shard 0's node restarted
        await until(lambda: shards.shard_infos("items")[0].pid == 3)
        assert shards.stub("items", 0) is not first
        await until(lambda: shards.channels.closing == 0)
        assert held["127.0.0.1:7001"].channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN
        assert len(shards.channels) == 2

        register(etcd_client, layout, 1, "127.0.0.1:7003", pid=4)  # shard 1's node moved
        await until(lambda: shards.shard_infos("items")[1].address == "127.0.0.1:7003")
        shards.stub("items", 1)
        await until(lambda: shards.channels.closing == 0)
        assert held["127.0.0.1:7002"].channel.get_state() == grpc.ChannelConnectivity.SHUTDOWN
        assert len(shards.channels) == 2
    finally:
        await shards.close()
