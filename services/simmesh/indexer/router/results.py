"""A search's answer from its shards' replies: their hits stacked as arrays, ranked (see
`ranking`), and written into the response, packed as arrays or one message per hit with the
details the shards sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simmesh.indexer import packed_ids
from simmesh.indexer.router.fanout import packed_rows
from simmesh.indexer.router.plans import SearchPlan
from simmesh.indexer.router.ranking import Group, blend, lookup, placed, rank
from simmesh.kit import wire
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import common_pb2, indexer_pb2


@dataclass(frozen=True)
class ShardHits:
    """Every shard's hits of every query: `ids` (object, "" where a shard had no hit) and
    `scores`, both (queries, candidates); the records (and their packed vectors) the shards sent
    with their hits, by id (empty unless asked for); whether some shard gave some query as many
    hits as it was asked for (so fetching more could find more)."""

    ids: np.ndarray
    scores: np.ndarray
    records: dict[str, shard_pb2.ShardRecord]
    vectors: dict[str, bytes]
    full: bool


def shard_hits(
    replies: dict[int, shard_pb2.SearchResponse], queries: int, dimension: int, *, with_fullness: bool = False
) -> ShardHits:
    """The replies' hits as arrays; `with_fullness`: `full` is worked out (else False)."""
    if not replies:
        return ShardHits(np.empty((queries, 0), dtype=object), np.empty((queries, 0), dtype=np.float32), {}, {}, False)
    parts = [_reply_ids(r, queries) for r in replies.values()]
    scores = np.concatenate(
        [np.frombuffer(r.scores, dtype="<f4").reshape(queries, -1) for r in replies.values()], axis=1
    )
    full = with_fullness and any(bool(((part != "").sum(axis=1) >= part.shape[1]).any()) for part in parts)
    records, vectors = hit_details(replies, dimension)
    return ShardHits(np.concatenate(parts, axis=1), scores, records, vectors, full)


def _reply_ids(reply: shard_pb2.SearchResponse, queries: int) -> np.ndarray:
    """A reply's ids as (queries, k): from `packed_ids`, or from `ids` (a node of an older version)."""
    if reply.ids:
        return np.array(list(reply.ids), dtype=object).reshape(queries, -1)
    return packed_ids.split(reply.packed_ids, (queries, reply.k))


def hit_details(
    replies: dict[int, shard_pb2.SearchResponse], dimension: int
) -> tuple[dict[str, shard_pb2.ShardRecord], dict[str, bytes]]:
    """The records the shards sent with their hits (asked for with metadata, fields or vectors)
    and their vectors as packed float32, by record id; both empty when none were asked for."""
    records: dict[str, shard_pb2.ShardRecord] = {}
    vectors: dict[str, bytes] = {}
    for reply in replies.values():
        records.update((r.id, r) for r in reply.records)
        rows = packed_rows(reply.vectors, dimension)
        if rows is not None:
            vectors.update((r.id, rows[j].tobytes()) for j, r in enumerate(reply.records))
    return records, vectors


class Answer:
    """Writes a search's results from its shards' hits."""

    def __init__(self, plan: SearchPlan, spec: indexer_pb2.Collection, hits: ShardHits) -> None:
        self.plan = plan
        self.spec = spec
        self.hits = hits
        self._metadata: dict[str, dict[str, Any]] = {}

    def write(self, response: indexer_pb2.SearchResponse) -> bool:
        """Writes each query's result into `response`: packed, or in `results` (in place: copying
        10,000 hits into a response costs as much again); whether some query came out short of k."""
        plan, hits = self.plan, self.hits
        scores = self._blended() if plan.tag_weight else hits.scores
        if plan.min_score is not None:
            scores = np.where(scores >= plan.min_score, scores, -np.inf)
        products = self._products() if plan.group_by_product else None
        ranking = rank(hits.ids, scores, plan.k, products=products, group_size=plan.group_size)
        if ranking.groups is not None:
            self._write_groups(response.results, ranking.groups, scores)
            return ranking.short_of(plan.k)
        order = ranking.order
        ids, best = placed(order, hits.ids, plan.k, ""), placed(order, scores, plan.k, -np.inf)
        visual = placed(order, hits.scores, plan.k, -np.inf) if plan.tag_weight else best
        if plan.packed:
            packed = response.packed
            packed.k, packed.ids = plan.k, packed_ids.SEPARATOR.join(ids.ravel().tolist())
            packed.scores = best.astype("<f4").tobytes()
            if plan.tag_weight:
                packed.visual_scores = visual.astype("<f4").tobytes()
        else:
            listed = best.tolist()
            self._write_hits(response.results, ids.tolist(), listed, listed if visual is best else visual.tolist())
        return ranking.short_of(plan.k)

    def _write_hits(self, out: Any, ids: list[list[str]], best: list[list[float]], visual: list[list[float]]) -> None:
        """One result per query in `out`, each hit a message."""
        for q, row in enumerate(ids):
            result = out.add().hits
            for j, hit_id in enumerate(row):
                if not hit_id:
                    break
                if self.hits.records:
                    self._add_hit(result, hit_id, best[q][j], visual[q][j])
                else:  # the id and scores alone: the common case, kept to one call
                    result.add(id=hit_id, score=best[q][j], visual_score=visual[q][j])

    def _write_groups(self, out: Any, groups: list[list[Group]], scores: np.ndarray) -> None:
        """One result per query in `out`, its hits in groups."""
        ids, best = self.hits.ids.tolist(), scores.tolist()
        visual = best if scores is self.hits.scores else self.hits.scores.tolist()
        for q, found in enumerate(groups):
            result = out.add()
            for group in found:
                added = result.groups.add(product_id=group.product_id, score=best[q][group.positions[0]])
                for p in group.positions:
                    self._add_hit(added.hits, ids[q][p], best[q][p], visual[q][p])

    def _add_hit(self, hits: Any, hit_id: str, score: float, visual: float) -> None:
        """Appends a hit to a result's `hits`, with its record's url, metadata and vector where
        the shards sent them."""
        hit = hits.add(id=hit_id, score=score, visual_score=visual)
        record = self.hits.records.get(hit_id)
        if record is None:
            return
        hit.url = record.url
        if self.plan.include_metadata:
            hit.metadata.CopyFrom(record.metadata)
        vector = self.hits.vectors.get(hit_id, b"")
        if self.plan.include_vectors and vector:
            hit.vector.CopyFrom(common_pb2.Vector(dimension=len(vector) // 4, data=vector))

    def _metadata_at(self, hit_id: str) -> dict[str, Any]:
        """The metadata of a hit's record as plain values ({} where the shards sent none)."""
        found = self._metadata.get(hit_id)
        if found is None:
            record = self.hits.records.get(hit_id)
            given = record is not None and record.HasField("metadata")
            found = self._metadata[hit_id] = wire.struct_to_dict(record.metadata) if given and record else {}
        return found

    def _each_hit(self) -> list[tuple[int, int, str]]:
        """(query, position, id) of every hit."""
        queries, positions = np.nonzero(self.hits.ids != "")
        return list(zip(queries.tolist(), positions.tolist(), self.hits.ids[queries, positions].tolist()))

    def _blended(self) -> np.ndarray:
        """The hits' scores blended with their tags' overlap with their query's (see `blend`)."""
        plan, field = self.plan, self.spec.tags_field
        out = self.hits.scores.astype(np.float64)
        for q, j, hit_id in self._each_hit():
            out[q, j] = blend(
                float(self.hits.scores[q, j]),
                plan.queries.tags[q],
                lookup(self._metadata_at(hit_id), field),
                plan.tag_weight,
            )
        return out

    def _products(self) -> np.ndarray:
        """The key each hit is grouped by: its record's product id, or its own id where it has none."""
        keys = np.full(self.hits.ids.shape, "", dtype=object)
        for q, j, hit_id in self._each_hit():
            product = lookup(self._metadata_at(hit_id), self.spec.product_id_field)
            keys[q, j] = hit_id if product is None else str(product)
        return keys
