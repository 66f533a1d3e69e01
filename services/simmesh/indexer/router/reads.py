"""Reading records: by id, a page in id order, or a random sample, gathered from the shards."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from simmesh.indexer.layout import placement
from simmesh.indexer.router.fanout import Fanout, packed_rows
from simmesh.indexer.router.plans import RecordQuery
from simmesh.indexer.shard_map import ShardMap
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import common_pb2, indexer_pb2

MAX_SAMPLE = 10_000


def by_shard(ids: Sequence[str], shard_count: int) -> dict[int, list[str]]:
    """The ids (each once) by the shard they are placed on."""
    out: dict[int, list[str]] = {}
    for record_id in dict.fromkeys(ids):
        out.setdefault(placement(record_id, shard_count), []).append(record_id)
    return out


def with_vectors(reply) -> list[tuple[shard_pb2.ShardRecord, np.ndarray | None]]:
    """A shard's records, each with its vector where the shard sent vectors."""
    vectors = packed_rows(reply.vectors, reply.dimension)
    return [(r, vectors[j] if vectors is not None else None) for j, r in enumerate(reply.records)]


def record_of(
    collection_id: str, record: shard_pb2.ShardRecord, vector: np.ndarray | None = None
) -> indexer_pb2.Record:
    out = indexer_pb2.Record(
        name=f"collections/{collection_id}/records/{record.id}",
        id=record.id,
        url=record.url,
        create_time=record.create_time,
        update_time=record.update_time,
    )
    out.metadata.CopyFrom(record.metadata)
    if vector is not None:
        out.vector.CopyFrom(common_pb2.Vector(dimension=len(vector), data=vector.astype("<f4").tobytes()))
    return out


class Reads:
    def __init__(self, shards: ShardMap, fanout: Fanout) -> None:
        self.shards = shards
        self.fanout = fanout

    async def get(
        self, collection_id: str, ids: Sequence[str], include_vectors: bool, timeout: float | None
    ) -> tuple[list[indexer_pb2.Record], list[str]]:
        """The records found, in the order of `ids`, and the ids not found."""
        config = self.shards.config(collection_id)
        wanted = by_shard(ids, config.collection.shard_count)
        replies = await asyncio.gather(
            *(
                self.fanout.call(
                    config, shard, "Get", shard_pb2.GetRequest(ids=some, include_vectors=include_vectors), timeout
                )
                for shard, some in wanted.items()
            )
        )
        found = {r.id: record_of(collection_id, r, v) for reply in replies for r, v in with_vectors(reply)}
        return [found[i] for i in ids if i in found], [i for i in ids if i not in found]

    async def page(
        self, query: RecordQuery, after_id: str, limit: int, timeout: float | None
    ) -> tuple[list[indexer_pb2.Record], bool]:
        """Up to `limit` records after `after_id` in id order across shards; True when more follow."""
        config = self.shards.config(query.collection_id)

        async def shard_page(shard: int) -> shard_pb2.ListResponse:
            return await self.fanout.call(
                config,
                shard,
                "List",
                shard_pb2.ListRequest(
                    after_id=after_id, limit=limit + 1, filter=query.filter, include_vectors=query.include_vectors
                ),
                timeout,
            )

        replies, _ = await self.fanout.each_shard(config, shard_page)
        merged = [pair for reply in replies.values() for pair in with_vectors(reply)]
        merged.sort(key=lambda pair: pair[0].id)
        return [record_of(query.collection_id, r, v) for r, v in merged[:limit]], len(merged) > limit

    async def sample(
        self, query: RecordQuery, count: int, seed: int, timeout: float | None
    ) -> list[indexer_pb2.Record]:
        """`count` records drawn at random (the same ones for the same non-zero `seed`), in id order."""
        config = self.shards.config(query.collection_id)
        if not 1 <= count <= MAX_SAMPLE:
            raise InvalidArgument(
                f"count must be 1..{MAX_SAMPLE}, got {count}", reason=reasons.INVALID_COUNT, field="count"
            )

        async def shard_sample(shard: int) -> shard_pb2.SampleResponse:
            return await self.fanout.call(
                config,
                shard,
                "Sample",
                shard_pb2.SampleRequest(
                    count=count,
                    filter=query.filter,
                    seed=seed + shard if seed else 0,
                    include_vectors=query.include_vectors,
                ),
                timeout,
            )

        replies, _ = await self.fanout.each_shard(config, shard_sample)
        pool = []
        for reply in replies.values():
            # Weight each shard's records by how many matching records they stand for.
            weight = reply.matching_count / max(len(reply.records), 1)
            pool += [(r, v, weight) for r, v in with_vectors(reply)]
        if not pool:
            return []
        rng = np.random.default_rng(seed or None)
        weights = np.array([w for _, _, w in pool], dtype=np.float64)
        picks = rng.choice(len(pool), size=min(count, len(pool)), replace=False, p=weights / weights.sum())
        return [
            record_of(query.collection_id, pool[i][0], pool[i][1]) for i in sorted(picks, key=lambda i: pool[i][0].id)
        ]
