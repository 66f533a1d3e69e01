"""The router's view of etcd: collection definitions and which node serves which shard.

Both come from prefix watchers (list, then watch from the revision, re-list after compaction or
when etcd's data was lost), so reads are local and cheap. While etcd is away the map keeps its
last state; a map made while etcd is down is empty until etcd answers (`wait_listed`).
One gRPC channel per shard node is kept and reused (`shard_channels`).
"""

from __future__ import annotations

import asyncio

from simmesh.indexer.layout import Layout, decode_collection, decode_shard, storage_of
from simmesh.indexer.shard_channels import RETIRE_GRACE_S, Process, ShardChannel, ShardChannels
from simmesh.indexer.shard_stream import ShardStream
from simmesh.kit import reasons
from simmesh.kit.discovery import EtcdClient, PrefixWatcher
from simmesh.kit.errors import NotFound, Unavailable
from simmesh.kit.tls import ChannelTls
from simmesh_proto.internal.v1 import shard_pb2, shard_pb2_grpc


class ShardMap:
    def __init__(self, etcd: EtcdClient, layout: Layout, token: str = "", tls: ChannelTls | None = None) -> None:
        self.etcd = etcd
        self.layout = layout
        self.token = token
        self._collections = PrefixWatcher(etcd, layout.collections, wait_for_etcd=True)
        self._shards = PrefixWatcher(etcd, layout.shards, wait_for_etcd=True)
        self._nodes = PrefixWatcher(etcd, layout.nodes, wait_for_etcd=True)
        self.channels = ShardChannels(token, tls=tls)
        # Search streams by node process (pid, start time), and those of replaced processes closing.
        self._streams: dict[Process, ShardStream] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._unary_only: set[Process] = set()
        # Decoded etcd values by their bytes: searches read the definitions on every call.
        self._decoded: dict[bytes, object] = {}

    async def close(self) -> None:
        for watcher in (self._collections, self._shards, self._nodes):
            watcher.close()
        for stream in self._streams.values():
            await stream.close()
        self._streams.clear()
        for task in self._closing:
            task.cancel()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await self.channels.close()

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

    def storages(self) -> set[str]:
        """Every storage the collections refer to: each one's current and a re-embed's next."""
        out: set[str] = set()
        for key, value in self._collections.snapshot().items():
            config = self._decode(value, decode_collection)
            out.add(storage_of(self.layout.collection_of(key), config))
            if config.next_storage:
                out.add(config.next_storage)
        return out

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
        return self._entry(storage, shard, collection_id).stub

    def search_stream(self, storage: str, shard: int, collection_id: str = "") -> ShardStream | None:
        """The open search stream to the node serving the storage's shard (opened if need be),
        or None where the node takes only unary searches; UNAVAILABLE naming the shard when no
        node serves it."""
        entry = self._entry(storage, shard, collection_id)
        if entry.process in self._unary_only:
            return None
        stream = self._streams.get(entry.process)
        if stream is None or not stream.open:
            stream = self._streams[entry.process] = ShardStream(entry.stub.SearchStream)
        return stream

    def unary_only(self, storage: str, shard: int) -> None:
        """Marks the node serving the shard as one without `SearchStream`."""
        info = self.shard_infos(storage).get(shard)
        if info is not None:
            self._unary_only.add(_process(info))

    def _entry(self, storage: str, shard: int, collection_id: str) -> ShardChannel:
        info = self.shard_infos(storage).get(shard)
        if info is None or info.state != shard_pb2.ShardInfo.STATE_SERVING:
            raise shard_unavailable(
                collection_id or storage, shard, "not registered in etcd" if info is None else "stopping"
            )
        entry, retired = self.channels.get(info.address, _process(info), self._addresses)
        for old in retired:
            self._retire_stream(old.process)
        return entry

    def _addresses(self) -> set[str]:
        return {self._decode(value, decode_shard).address for value in self._shards.snapshot().values()}

    def _retire_stream(self, process: Process) -> None:
        self._unary_only.discard(process)
        stream = self._streams.pop(process, None)
        if stream is not None:
            # Searches in flight on it get their answers; it is cancelled after the grace period.
            task = asyncio.get_running_loop().create_task(stream.finish(RETIRE_GRACE_S))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


def _process(info: shard_pb2.ShardInfo) -> Process:
    """The node process serving a shard: its pid and start time (a restart is another)."""
    return info.pid, info.start_time.seconds, info.start_time.nanos


def shard_name(collection_id: str, shard: int) -> str:
    return f"collections/{collection_id}/shards/{shard}"


def shard_unavailable(collection_id: str, shard: int, why: str) -> Unavailable:
    name = shard_name(collection_id, shard)
    return Unavailable(
        f"shard {name} is unavailable: {why}", reason=reasons.SHARD_UNAVAILABLE, metadata={"shard": name}
    )
