"""A shard's memory by part (index codes, ids, records, raw vectors), estimated for GetCollectionStats."""

from __future__ import annotations

from collections.abc import Iterable

from simmesh.indexer.shard_records import RecordTable
from simmesh.indexer.vectors import MemoryParts
from simmesh_proto.v1 import indexer_pb2

# What a record costs in the metadata index per indexed field (its keys, its row in the field's
# sets and sorted numbers) and in the index's own set of rows; estimates of Python's objects.
INDEXED_FIELD_BYTES = 120
INDEXED_ROW_BYTES = 60


def records_bytes(table: RecordTable) -> int:
    """The memory the records take: their columns and lookups, plus an estimate of the metadata index."""
    indexed = len(table.meta)
    return table.nbytes() + indexed * (INDEXED_ROW_BYTES + INDEXED_FIELD_BYTES * len(table.meta.fields))


def usage(parts: MemoryParts, metadata_bytes: int, count: int) -> indexer_pb2.MemoryUsage:
    out = indexer_pb2.MemoryUsage(
        codes_bytes=parts.codes,
        ids_bytes=parts.ids,
        metadata_bytes=metadata_bytes,
        raw_vectors_bytes=parts.raw_vectors,
        raw_vectors_on_disk_bytes=parts.raw_vectors_on_disk,
    )
    return with_per_vector(out, count)


def resident_bytes(memory: indexer_pb2.MemoryUsage) -> int:
    return memory.codes_bytes + memory.ids_bytes + memory.metadata_bytes + memory.raw_vectors_bytes


def with_per_vector(memory: indexer_pb2.MemoryUsage, count: int) -> indexer_pb2.MemoryUsage:
    memory.bytes_per_vector = resident_bytes(memory) / count if count else 0.0
    return memory


def summed(parts: Iterable[indexer_pb2.MemoryUsage], count: int) -> indexer_pb2.MemoryUsage:
    """The sum of the shards' usages, with `bytes_per_vector` over `count` records."""
    total = indexer_pb2.MemoryUsage()
    for part in parts:
        total.codes_bytes += part.codes_bytes
        total.ids_bytes += part.ids_bytes
        total.metadata_bytes += part.metadata_bytes
        total.raw_vectors_bytes += part.raw_vectors_bytes
        total.raw_vectors_on_disk_bytes += part.raw_vectors_on_disk_bytes
    return with_per_vector(total, count)
