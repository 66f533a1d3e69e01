"""What the router is asked to do, as frozen values the servicer builds from a request once it
has checked it (see `simmesh.indexer.requests`): the router reads no request message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from google.protobuf import struct_pb2

from simmesh.kit.errors import SimmeshError
from simmesh_proto.v1 import common_pb2, indexer_pb2

MAX_K = 1000
MAX_FETCH = 4096


@dataclass(frozen=True, slots=True)
class Queries:
    """A search's queries by kind, each with its position in the request."""

    count: int
    vectors: tuple[tuple[int, common_pb2.Vector], ...]
    record_ids: tuple[tuple[int, str], ...]
    images: tuple[tuple[int, common_pb2.Image], ...]
    # Texts for the collection's model to embed (a dual encoder's text tower).
    texts: tuple[tuple[int, str], ...]
    # The tags of each query, for tag-weighted search.
    tags: tuple[frozenset[str], ...]
    # Every query's vector as one matrix (`SearchRequest.query_vectors`); the kinds above are
    # then empty.
    matrix: common_pb2.VectorBatch | None = None

    def exclude(self) -> list[list[str]]:
        """The ids each query leaves out of its hits: a record's own, where the query is by record."""
        out: list[list[str]] = [[] for _ in range(self.count)]
        for i, record_id in self.record_ids:
            out[i].append(record_id)
        return out


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """A checked search: `k` with its default, `filter` already compiled once (the shards, other
    processes, compile the Struct again), grouping and blending options."""

    collection_id: str
    queries: Queries
    k: int
    filter: struct_pb2.Struct | None
    nprobe: int
    ef_search: int
    tag_weight: float
    group_by_product: bool
    group_size: int
    min_score: float | None
    allow_partial: bool
    include_metadata: bool
    include_vectors: bool
    # Hits answered as arrays (`SearchResponse.packed`) rather than one message each.
    packed: bool = False

    @property
    def reranks(self) -> bool:
        """Whether hits are ranked on more than their shards' scores (tags, groups): such a
        search fetches more than k per shard, and more again while some query comes out short."""
        return bool(self.tag_weight or self.group_by_product)

    def first_fetch(self) -> int:
        """How many hits per query to ask each shard for at first."""
        fetch = self.k
        if self.group_by_product:
            fetch = max(self.k * self.group_size * 3, 50)
        if self.tag_weight:
            fetch = max(fetch, self.k * 4, 50)
        return min(fetch, MAX_FETCH)


@dataclass(frozen=True, slots=True)
class InsertBatch:
    """One batch of records to insert into a collection: `refused` holds the items already
    failed at the edge (a bad id), by position; `request_id` names the batch across retries."""

    collection_id: str
    records: Sequence[indexer_pb2.RecordInput]
    upsert: bool
    request_id: str = ""
    refused: Mapping[int, SimmeshError] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Which records to list, sample or delete: a filter (checked once) and whether their
    vectors come back."""

    collection_id: str
    filter: struct_pb2.Struct | None = None
    include_vectors: bool = False
