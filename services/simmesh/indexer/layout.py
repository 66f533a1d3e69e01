"""Where the indexer keeps things in etcd, and how the values are encoded.

    {prefix}/collections/{collection}      CollectionConfig (proto JSON)
    {prefix}/shards/{storage}/{shard}      ShardInfo, under the serving node's lease
    {prefix}/nodes/{ordinal}               ShardInfo of a shard node (collection empty), leased

A collection's records live in a storage (`CollectionConfig.storage`, by default the collection
id); re-embedding fills a second one (`next_storage`) and swaps. Records are placed on shard
`placement(id, shard_count)`: a stable hash of the `_id`.
"""

from __future__ import annotations

import hashlib
import re

from google.protobuf import json_format

from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

COLLECTION_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class Layout:
    def __init__(self, prefix: str = "/simmesh") -> None:
        self.prefix = "/" + prefix.strip("/")

    @property
    def collections(self) -> str:
        return f"{self.prefix}/collections/"

    @property
    def shards(self) -> str:
        return f"{self.prefix}/shards/"

    @property
    def nodes(self) -> str:
        return f"{self.prefix}/nodes/"

    def collection_key(self, collection_id: str) -> str:
        return f"{self.collections}{collection_id}"

    def shard_key(self, collection_id: str, shard: int) -> str:
        return f"{self.shards}{collection_id}/{shard}"

    def node_key(self, ordinal: int) -> str:
        return f"{self.nodes}{ordinal}"

    def collection_of(self, key: str) -> str:
        return key[len(self.collections) :]

    def shard_of(self, key: str) -> tuple[str, int]:
        collection_id, _, shard = key[len(self.shards) :].rpartition("/")
        return collection_id, int(shard)


def encode(message) -> bytes:
    return json_format.MessageToJson(message, indent=None, preserving_proto_field_name=True).encode()


def decode_collection(value: bytes) -> shard_pb2.CollectionConfig:
    return json_format.Parse(value, shard_pb2.CollectionConfig(), ignore_unknown_fields=True)


def decode_shard(value: bytes) -> shard_pb2.ShardInfo:
    return json_format.Parse(value, shard_pb2.ShardInfo(), ignore_unknown_fields=True)


def placement(record_id: str, shard_count: int) -> int:
    """The shard a record lives on: stable across processes, versions and machines."""
    digest = hashlib.blake2b(record_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % shard_count


def storage_of(collection_id: str, config: shard_pb2.CollectionConfig) -> str:
    return config.storage or collection_id


def storages(layout: Layout, view: dict[str, bytes]) -> dict[str, indexer_pb2.Collection]:
    """Every storage the collections in `view` (etcd key -> value) refer to, with the collection
    definition its shard stores are opened with (named `collections/{storage}`)."""
    out: dict[str, indexer_pb2.Collection] = {}
    for key, value in view.items():
        collection_id = layout.collection_of(key)
        config = decode_collection(value)
        pairs = [(storage_of(collection_id, config), config.collection)]
        if config.next_storage:
            pairs.append((config.next_storage, config.next))
        for storage, collection in pairs:
            slice_definition = indexer_pb2.Collection()
            slice_definition.CopyFrom(collection)
            slice_definition.name = f"collections/{storage}"
            out[storage] = slice_definition
    return out
