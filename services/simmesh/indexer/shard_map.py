"""The router's view of etcd: collection definitions and which node serves which shard.

Both come from prefix watchers (list, then watch from the revision, re-list after compaction or
when etcd's data was lost), so reads are local and cheap. While etcd is away the map keeps its
last state; a map made while etcd is down is empty until etcd answers (`wait_listed`).
One gRPC channel per shard address is kept and reused.
"""

from __future__ import annotations

import asyncio

import grpc

from simmesh.indexer.layout import Layout, decode_collection, decode_shard
from simmesh.indexer.shard_stream import ShardStream
from simmesh.kit import reasons
from simmesh.kit.channels import open_channel
from simmesh.kit.discovery import EtcdClient, PrefixWatcher
from simmesh.kit.errors import NotFound, Unavailable
from simmesh_proto.internal.v1 import shard_pb2, shard_pb2_grpc


class ShardMap:
    def __init__(self, etcd: EtcdClient, layout: Layout, token: str = "") -> None:
        self.etcd = etcd
        self.layout = layout
        self.token = token
        self._collections = PrefixWatcher(etcd, layout.collections, wait_for_etcd=True)
        self._shards = PrefixWatcher(etcd, layout.shards, wait_for_etcd=True)
        self._nodes = PrefixWatcher(etcd, layout.nodes, wait_for_etcd=True)
        self._stubs: dict[str, tuple[grpc.aio.Channel, shard_pb2_grpc.ShardServiceStub, tuple]] = {}
        self._retired: list[grpc.aio.Channel] = []  # channels replaced by newer ones, closed with the map
        # Search streams by node process (pid, start time), and those of replaced processes.
        self._streams: dict[tuple, ShardStream] = {}
        self._closing: list[ShardStream] = []
        self._unary_only: set[tuple] = set()
        # Decoded etcd values by their bytes: searches read the definitions on every call.
        self._decoded: dict[bytes, object] = {}

    async def close(self) -> None:
        for watcher in (self._collections, self._shards, self._nodes):
            watcher.close()
        for stream in list(self._streams.values()) + self._closing:
            await stream.close()
        self._streams.clear()
        self._closing.clear()
        for channel in [entry[0] for entry in self._stubs.values()] + self._retired:
            await channel.close()
        self._stubs.clear()
        self._retired.clear()

    @property
    def listed(self) -> bool:
        """True once etcd has answered every listing (before that the map is empty)."""
        return all(watcher.listed for watcher in (self._collections, self._shards, self._nodes))

    async def wait_listed(self, poll: float = 0.1) -> None:
        """Returns once `listed` holds."""
        while not self.listed:
            await asyncio.sleep(poll)

    # -- collections ------------------------------------------------------------------------

    def collection_ids(self) -> list[str]:
        return sorted(self.layout.collection_of(k) for k in self._collections.snapshot())

    def _decode(self, value: bytes, decode):
        cached = self._decoded.get(value)
        if cached is None:
            if len(self._decoded) > 10_000:
                self._decoded.clear()
            cached = self._decoded[value] = decode(value)
        return cached

    def find(self, collection_id: str) -> shard_pb2.CollectionConfig | None:
        """The collection's definition (a copy: callers may change it)."""
        value = self._collections.snapshot().get(self.layout.collection_key(collection_id))
        if value is None:
            return None
        config = shard_pb2.CollectionConfig()
        config.CopyFrom(self._decode(value, decode_collection))
        return config

    def config(self, collection_id: str) -> shard_pb2.CollectionConfig:
        config = self.find(collection_id)
        if config is None:
            raise NotFound(
                f"collection `collections/{collection_id}` does not exist",
                reason=reasons.COLLECTION_NOT_FOUND,
                metadata={"collection": f"collections/{collection_id}"},
            )
        return config

    async def wait_value(self, key: str, value: bytes, timeout: float) -> bool:
        """Waits until the collections view holds `value` at `key` (read-your-writes)."""
        return await asyncio.to_thread(self._collections.wait_for, lambda view: view.get(key) == value, timeout)

    async def wait_collection(self, collection_id: str, present: bool, timeout: float) -> bool:
        key = self.layout.collection_key(collection_id)
        return await asyncio.to_thread(self._collections.wait_for, lambda view: (key in view) == present, timeout)

    # -- shards -----------------------------------------------------------------------------

    def node_count(self) -> int:
        return len(self._nodes.snapshot())

    def shard_infos(self, storage: str) -> dict[int, shard_pb2.ShardInfo]:
        prefix = f"{self.layout.shards}{storage}/"
        out = {}
        for key, value in self._shards.snapshot().items():
            if key.startswith(prefix):
                info = self._decode(value, decode_shard)
                out[info.shard] = info
        return out

    async def wait_shards(self, storage: str, count: int, timeout: float) -> bool:
        prefix = f"{self.layout.shards}{storage}/"

        def ready(view) -> bool:
            return sum(1 for key in view if key.startswith(prefix)) >= count

        return await asyncio.to_thread(self._shards.wait_for, ready, timeout)

    async def wait_no_shards(self, storage: str, timeout: float) -> bool:
        prefix = f"{self.layout.shards}{storage}/"
        return await asyncio.to_thread(
            self._shards.wait_for, lambda view: not any(k.startswith(prefix) for k in view), timeout
        )

    def stub(self, storage: str, shard: int, collection_id: str = "") -> shard_pb2_grpc.ShardServiceStub:
        """The stub of the node serving the storage's shard, or UNAVAILABLE naming the shard."""
        return self._entry(storage, shard, collection_id)[1]

    def search_stream(self, storage: str, shard: int, collection_id: str = "") -> ShardStream | None:
        """The open search stream to the node serving the storage's shard (opened if need be),
        or None where the node takes only unary searches; UNAVAILABLE naming the shard when no
        node serves it."""
        _, stub, process = self._entry(storage, shard, collection_id)
        if process in self._unary_only:
            return None
        stream = self._streams.get(process)
        if stream is None or not stream.open:
            stream = self._streams[process] = ShardStream(stub.SearchStream)
        return stream

    def unary_only(self, storage: str, shard: int) -> None:
        """Marks the node serving the shard as one without `SearchStream`."""
        info = self.shard_infos(storage).get(shard)
        if info is not None:
            self._unary_only.add(_process(info))

    def _entry(self, storage: str, shard: int, collection_id: str) -> tuple:
        info = self.shard_infos(storage).get(shard)
        if info is None or info.state != shard_pb2.ShardInfo.STATE_SERVING:
            raise shard_unavailable(
                collection_id or storage, shard, "not registered in etcd" if info is None else "stopping"
            )
        # A new registration (a restarted process) gets a new channel: the old one may sit in
        # reconnect backoff after the refusals of the process that died.
        process = _process(info)
        entry = self._stubs.get(info.address)
        if entry is None or entry[2] != process:
            if entry is not None:
                self._retired.append(entry[0])
                stream = self._streams.pop(entry[2], None)
                if stream is not None:
                    self._closing.append(stream)
            channel = open_channel(info.address, self.token)
            entry = self._stubs[info.address] = (channel, shard_pb2_grpc.ShardServiceStub(channel), process)
        return entry


def _process(info: shard_pb2.ShardInfo) -> tuple[int, int, int]:
    """The node process serving a shard: its pid and start time (a restart is another)."""
    return info.pid, info.start_time.seconds, info.start_time.nanos


def shard_name(collection_id: str, shard: int) -> str:
    return f"collections/{collection_id}/shards/{shard}"


def shard_unavailable(collection_id: str, shard: int, why: str) -> Unavailable:
    name = shard_name(collection_id, shard)
    return Unavailable(
        f"shard {name} is unavailable: {why}", reason=reasons.SHARD_UNAVAILABLE, metadata={"shard": name}
    )
