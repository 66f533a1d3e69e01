"""The router's merge of shard answers into one batch answer: packed arrays (as the SDK decodes them)
and per-hit messages hold the same hits, scores and order, whatever the shards sent."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simmesh.indexer.packed_ids import joined
from simmesh.indexer.requests import search_plan
from simmesh.indexer.router.results import Answer, shard_hits
from simmesh_client.batch_hits import BatchHits, unpack_hits
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import common_pb2, indexer_pb2

DIM = 2
SPEC = indexer_pb2.Collection(dimension=DIM)


def reply(ids: list[list[str]], scores: list[list[float]], *, packed: bool = True) -> shard_pb2.SearchResponse:
    """A shard's answer, as a node of this version (ids joined) or an older one (ids repeated)."""
    flat = [i for row in ids for i in row]
    out = shard_pb2.SearchResponse(k=len(ids[0]), scores=np.asarray(scores, dtype="<f4").tobytes())
    if packed:
        out.packed_ids = joined(flat) or ""
    else:
        out.ids.extend(flat)
    return shard_pb2.SearchResponse.FromString(out.SerializeToString())


def answers(replies: dict[int, shard_pb2.SearchResponse], queries: int, k: int, **options) -> tuple:
    """The router's answer both ways: per-hit (ids and scores per query) and packed, as the SDK
    decodes it from the wire."""
    out = []
    for packed in (False, True):
        request = indexer_pb2.SearchRequest(
            collection="collections/c",
            queries=[indexer_pb2.Query(vector=common_pb2.Vector(dimension=DIM, data=b"\0" * 4 * DIM))] * queries,
            k=k,
            packed=packed,
            **options,
        )
        response = indexer_pb2.SearchResponse()
        Answer(search_plan(request), SPEC, shard_hits(replies, queries, DIM)).write(response)
        out.append(indexer_pb2.SearchResponse.FromString(response.SerializeToString()))
    per_hit, packed_response = out
    rows = [[(h.id, h.score) for h in result.hits] for result in per_hit.results]
    return rows, unpack_hits(packed_response)


def same(rows: list[list[tuple[str, float]]], hits: BatchHits, k: int) -> None:
    assert hits.ids.shape == hits.scores.shape == (len(rows), k)
    for q, row in enumerate(rows):
        assert hits.ids[q].tolist() == [i for i, _ in row] + [""] * (k - len(row))
        assert hits.scores[q].tolist() == [s for _, s in row] + [-np.inf] * (k - len(row))


def test_equal_scores_rank_by_id_across_shards_and_forms() -> None:
    replies = {
        0: reply([["b", "d"], ["x", ""]], [[0.5, 0.25], [0.75, -np.inf]]),
        1: reply([["a", "c"], ["w", "y"]], [[0.5, 0.25], [0.75, 0.75]], packed=False),
    }
    rows, hits = answers(replies, 2, 3)
    assert rows == [[("a", 0.5), ("b", 0.5), ("c", 0.25)], [("w", 0.75), ("x", 0.75), ("y", 0.75)]]
    same(rows, hits, 3)


def test_fewer_hits_than_k_leave_empty_places() -> None:
    replies = {0: reply([["a", ""], ["", ""]], [[0.9, -np.inf], [-np.inf, -np.inf]])}
    rows, hits = answers(replies, 2, 5)
    assert rows == [[("a", np.float32(0.9))], []]
    same(rows, hits, 5)
    assert hits.counts.tolist() == [1, 0]


def test_no_shard_answering_gives_empty_rows() -> None:
    rows, hits = answers({}, 3, 4, allow_partial=True)
    assert rows == [[], [], []]
    same(rows, hits, 4)


def test_min_score_drops_hits_in_both_forms() -> None:
    replies = {0: reply([["a", "b", "c"]], [[0.9, 0.5, 0.1]]), 1: reply([["d", "e", "f"]], [[0.7, 0.6, 0.2]])}
    rows, hits = answers(replies, 1, 4, min_score=0.55)
    assert [i for i, _ in rows[0]] == ["a", "d", "e"]
    same(rows, hits, 4)


@st.composite
def shard_replies(draw):
    """Up to three shards' answers to the same queries: ids unique across shards, scores from a few
    levels (ties likely), some places empty; some shards in the older form."""
    queries, width = draw(st.integers(1, 25)), draw(st.integers(1, 6))
    levels = draw(st.lists(st.floats(-2, 2, width=32), min_size=1, max_size=3))
    names = iter(range(100_000))
    replies = {}
    for shard in range(draw(st.integers(0, 3))):
        ids, scores = [], []
        for _ in range(queries):
            hits = draw(st.integers(0, width))
            row = sorted((draw(st.sampled_from(levels)) for _ in range(hits)), reverse=True)
            ids.append([f"r{draw(st.integers(0, 9))}-{next(names)}" for _ in row] + [""] * (width - hits))
            scores.append(row + [-np.inf] * (width - hits))
        replies[shard] = reply(ids, scores, packed=draw(st.booleans()))
    return replies, queries, draw(st.integers(1, 3 * width + 2))


@settings(max_examples=150, deadline=None)
@given(shard_replies())
def test_packed_and_per_hit_answers_are_the_same(case) -> None:
    replies, queries, k = case
    rows, hits = answers(replies, queries, k, allow_partial=True)
    same(rows, hits, k)
