"""Collection definitions changed in etcd by compare-and-swap on the revision they were read at."""

from __future__ import annotations

from collections.abc import Callable

from simmesh.indexer.layout import decode_collection, encode
from simmesh.kit import reasons
from simmesh.kit.discovery import EtcdClient
from simmesh.kit.errors import Aborted, NotFound
from simmesh_proto.internal.v1 import shard_pb2

# Reads and writes tried before a change that keeps meeting concurrent ones is given up.
ATTEMPTS = 8

Change = Callable[[shard_pb2.CollectionConfig], None]


def change_config(client: EtcdClient, key: str, collection_id: str, change: Change, attempts: int = ATTEMPTS) -> bytes:
    """Reads the definition at `key` with its mod_revision, applies `change` to it (which may raise
    to refuse), bumps its generation and writes it in a transaction that holds only while the key
    is still at that revision; on a conflict reads it again and applies `change` anew. Returns the
    value written. NOT_FOUND where the collection is gone, ABORTED (CONCURRENT_CHANGE, retriable)
    after `attempts` conflicts."""
    for _ in range(attempts):
        value, meta = client.get(key)
        if value is None:
            raise NotFound(
                f"collection `collections/{collection_id}` does not exist",
                reason=reasons.COLLECTION_NOT_FOUND,
                metadata={"collection": f"collections/{collection_id}"},
            )
        config = decode_collection(value)
        change(config)
        config.generation += 1
        written = encode(config)
        succeeded, _ = client.transaction(
            compare=[client.transactions.mod(key) == meta.mod_revision],
            success=[client.transactions.put(key, written)],
            failure=[],
        )
        if succeeded:
            return written
    raise Aborted(
        f"collection `collections/{collection_id}` changed concurrently {attempts} times; retry the call",
        reason=reasons.CONCURRENT_CHANGE,
    )
