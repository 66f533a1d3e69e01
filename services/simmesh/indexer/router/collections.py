"""Collections: their definitions in etcd (create, read, update, delete) and their counts, gathered
from the shards."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from simmesh.indexer.collection_types import apply_preset, check_image_keeping, grouped_by_default, type_for_model
from simmesh.indexer.layout import COLLECTION_ID_RE, Layout, decode_collection, encode, storage_of
from simmesh.indexer.memory_usage import summed
from simmesh.indexer.router.config_writes import Change, change_config
from simmesh.indexer.router.embedder import Embedder
from simmesh.indexer.router.fanout import Fanout
from simmesh.indexer.router.kept_images import KeptImages
from simmesh.indexer.shard_map import ShardMap, shard_name
from simmesh.kit import errors, reasons, wire
from simmesh.kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, Unavailable
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

MAX_SHARDS = 64
MAX_DIMENSION = 65_536
DEFAULT_INDEX_KIND = indexer_pb2.INDEX_KIND_IVF_FLAT
SHARD_WAIT_SECONDS = 20.0
UPDATABLE = (
    "description",
    "model",
    "product_id_field",
    "tags_field",
    "indexed_fields",
    "index.nprobe",
    "index.ef_search",
    "image_keeping",
)


def check_collection_id(collection_id: str) -> None:
    """A public collection id as a caller gives it (internal ids, `acme.{id}`, are taken behind the edge)."""
    if not COLLECTION_ID_RE.match(collection_id or ""):
        raise InvalidArgument(
            "collection_id must be 1-63 lower-case letters, digits, '-' or '_', starting "
            f"with a letter; got {collection_id!r}",
            reason=reasons.INVALID_COLLECTION_ID,
            field="collection_id",
        )


class Collections:
    """The collections of the mesh; `training`: the ids of those with a TrainIndex job running in
    this router."""

    def __init__(
        self, shards: ShardMap, fanout: Fanout, embedder: Embedder, training: set[str], kept: KeptImages
    ) -> None:
        self.shards = shards
        self.layout: Layout = shards.layout
        self.fanout = fanout
        self.embedder = embedder
        self.training = training
        self.kept = kept

    async def create(self, collection_id: str, collection: indexer_pb2.Collection) -> indexer_pb2.Collection:
        """Defines the collection `collection_id` (an internal id; its public id is checked at the edge)."""
        spec = indexer_pb2.Collection()
        spec.CopyFrom(collection)
        spec.name = f"collections/{collection_id}"
        spec.metric = spec.metric or indexer_pb2.METRIC_COSINE
        spec.shard_count = spec.shard_count or 1
        apply_preset(spec)
        if not 1 <= spec.shard_count <= MAX_SHARDS:
            raise InvalidArgument(
                f"shard_count must be 1..{MAX_SHARDS}, got {spec.shard_count}",
                reason=reasons.INVALID_SHARD_COUNT,
                field="collection.shard_count",
            )
        if spec.model:
            dimension = await self.embedder.model_dimension(spec.model, "collection.model")
            if spec.dimension and spec.dimension != dimension:
                raise InvalidArgument(
                    f"collection.dimension {spec.dimension} differs from the model's {dimension}",
                    reason=reasons.DIMENSION_MISMATCH,
                    field="collection.dimension",
                )
            spec.dimension = dimension
        if not 1 <= spec.dimension <= MAX_DIMENSION:
            raise InvalidArgument(
                f"collection.dimension must be 1..{MAX_DIMENSION} (or bind a model), got {spec.dimension}",
                reason=reasons.INVALID_DIMENSION,
                field="collection.dimension",
            )
        for i, path in enumerate(spec.indexed_fields):
            if not path or path.startswith("$") or ".." in path:
                raise InvalidArgument(
                    f"indexed field {path!r} is not a field path",
                    reason=reasons.INVALID_FIELD,
                    field=f"collection.indexed_fields[{i}]",
                )
        spec.index.kind = spec.index.kind or DEFAULT_INDEX_KIND
        spec.index_state = indexer_pb2.INDEX_STATE_EXACT
        spec.record_count = 0
        spec.create_time.CopyFrom(wire.now())
        spec.update_time.CopyFrom(spec.create_time)
        await self.register(collection_id, spec)
        return spec

    async def register(self, collection_id: str, spec: indexer_pb2.Collection) -> None:
        """Defines the collection in etcd (ALREADY_EXISTS when it is) and waits for its shards."""
        nodes = self.shards.node_count()
        if nodes < spec.shard_count:
            raise FailedPrecondition(
                f"collection.shard_count is {spec.shard_count} but {nodes} shard nodes are registered",
                reason=reasons.NOT_ENOUGH_SHARD_NODES,
                field="collection.shard_count",
                metadata={"nodes": nodes, "shard_count": spec.shard_count},
            )
        key = self.layout.collection_key(collection_id)
        value = encode(shard_pb2.CollectionConfig(collection=spec, generation=1))
        created = await asyncio.to_thread(self._put_if_absent, key, value)
        if not created:
            raise AlreadyExists(
                f"collection `collections/{collection_id}` already exists",
                reason=reasons.COLLECTION_EXISTS,
                field="collection_id",
            )
        await self.shards.wait_collection(collection_id, True, 5.0)
        if not await self.shards.wait_shards(collection_id, spec.shard_count, SHARD_WAIT_SECONDS):
            raise Unavailable(
                f"collection `collections/{collection_id}` was created but not all of its "
                f"{spec.shard_count} shards came up within {SHARD_WAIT_SECONDS:.0f}s",
                reason=reasons.SHARDS_NOT_READY,
            )

    def _put_if_absent(self, key: str, value: bytes) -> bool:
        client = self.shards.etcd
        succeeded, _ = client.transaction(
            compare=[client.transactions.version(key) == 0], success=[client.transactions.put(key, value)], failure=[]
        )
        return bool(succeeded)

    async def get(self, collection_id: str) -> indexer_pb2.Collection:
        config = self.shards.config(collection_id)
        out = indexer_pb2.Collection()
        out.CopyFrom(config.collection)
        stats = await self.stats(collection_id, 5.0)
        out.record_count = stats.record_count
        if collection_id in self.training:
            out.index_state = indexer_pb2.INDEX_STATE_TRAINING
        return out

    async def list_all(self) -> list[indexer_pb2.Collection]:
        return [await self.get(c) for c in self.shards.collection_ids()]

    def ids_of_type(self, collection_type: int | None) -> list[str]:
        """The ids of the collections of `collection_type` (of every type for None), in id order."""
        ids = self.shards.collection_ids()
        if collection_type is None:
            return ids
        return [c for c in ids if self.shards.config(c).collection.type == collection_type]

    def grouped_by_default(self, collection_id: str) -> bool:
        """Whether the collection's searches group by product when the request does not say."""
        return grouped_by_default(self.shards.config(collection_id).collection)

    async def update(
        self, collection_id: str, collection: indexer_pb2.Collection, paths: Sequence[str]
    ) -> indexer_pb2.Collection:
        """Sets the fields of the collection that `paths` name to their values in `collection`."""
        unknown = set(paths) - set(UPDATABLE)
        if not paths or unknown:
            raise InvalidArgument(
                f"update_mask must name some of {sorted(UPDATABLE)}; got {sorted(paths)}",
                reason=reasons.INVALID_UPDATE_MASK,
                field="update_mask",
            )
        self.shards.config(collection_id)  # NOT_FOUND first
        if "image_keeping" in paths:
            check_image_keeping(collection.image_keeping)
        dimension = 0
        if "model" in paths and collection.model:
            dimension = await self.embedder.model_dimension(collection.model, "collection.model")

        def change(config: shard_pb2.CollectionConfig) -> None:
            spec = config.collection
            if dimension and dimension != spec.dimension:
                raise FailedPrecondition(
                    f"model {collection.model} gives {dimension}-d vectors, the collection holds {spec.dimension}-d "
                    "ones; re-embed the collection (ReembedCollection) to change models",
                    reason=reasons.DIMENSION_MISMATCH,
                    field="collection.model",
                )
            for path in paths:
                if path == "indexed_fields":
                    del spec.indexed_fields[:]
                    spec.indexed_fields.extend(collection.indexed_fields)
                elif path.startswith("index."):
                    setattr(spec.index, path[6:], getattr(collection.index, path[6:]))
                else:
                    setattr(spec, path, getattr(collection, path))
            if "model" in paths and collection.model:
                spec.type = type_for_model(spec.type, collection.model)
            spec.update_time.CopyFrom(wire.now())

        await self.change(collection_id, change)
        return await self.get(collection_id)

    async def change(self, collection_id: str, change: Change) -> shard_pb2.CollectionConfig:
        """Applies `change` to the collection's definition as etcd holds it and writes it back,
        compared against the revision read (see `config_writes`); waits until this router's view
        has it, and returns it."""
        key = self.layout.collection_key(collection_id)
        value = await asyncio.to_thread(change_config, self.shards.etcd, key, collection_id, change)
        await self.shards.wait_value(key, value, 5.0)
        return decode_collection(value)

    async def delete(self, collection_id: str) -> None:
        config = self.shards.config(collection_id)
        await asyncio.to_thread(self.shards.etcd.delete, self.layout.collection_key(collection_id))
        await self.shards.wait_collection(collection_id, False, 5.0)
        for storage in filter(None, (storage_of(collection_id, config), config.next_storage)):
            await self.shards.wait_no_shards(storage, SHARD_WAIT_SECONDS)
        await self.kept.forget_collection(collection_id)

    async def stats(self, collection_id: str, timeout: float | None) -> indexer_pb2.CollectionStats:
        config = self.shards.config(collection_id)
        out = indexer_pb2.CollectionStats(name=config.collection.name, index_state=config.collection.index_state)
        for shard in range(config.collection.shard_count):
            try:
                reply = await self.fanout.call(config, shard, "Stats", shard_pb2.StatsRequest(), timeout)
                out.shards.append(reply.stats)
                out.record_count += reply.stats.record_count
                out.memory_bytes += reply.stats.memory_bytes
            except errors.Unavailable:
                out.shards.append(indexer_pb2.ShardStats(name=shard_name(collection_id, shard), available=False))
        out.memory.CopyFrom(summed((s.memory for s in out.shards if s.available), out.record_count))
        return out
