"""Ranking shard answers: every query is ranked by one rule (score, then id), whether it comes
alone or with many others, grouped by product or not."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simmesh.indexer.router.ranking import MANY_QUERIES, rank


@st.composite
def shard_answers(draw, min_queries: int = 1, max_queries: int = 6):
    """Rows of candidates as shards return them: ids ("" = no hit) and float32 scores, with
    repeated scores (ties) likely, and a product per candidate drawn from a few."""
    queries = draw(st.integers(min_queries, max_queries))
    width = draw(st.integers(1, 12))
    levels = draw(st.lists(st.floats(-2, 2, width=32), min_size=1, max_size=4))
    names = iter(range(10_000))
    ids = np.empty((queries, width), dtype=object)
    scores = np.empty((queries, width), dtype=np.float32)
    products = np.empty((queries, width), dtype=object)
    for q in range(queries):
        for j in range(width):
            missing = draw(st.booleans()) and draw(st.booleans())
            ids[q, j] = "" if missing else f"r{draw(st.integers(0, 9))}-{next(names)}"
            scores[q, j] = -np.inf if missing else draw(st.sampled_from(levels))
            products[q, j] = f"p{draw(st.integers(0, 3))}"
    return ids, scores, products, draw(st.integers(1, width + 2)), draw(st.integers(1, 3))


def expected_order(ids: np.ndarray, scores: np.ndarray) -> list[int]:
    """A row's hits by the rule, written out plainly: higher score first, equal scores by id."""
    return sorted((j for j in range(len(ids)) if ids[j]), key=lambda j: (-float(scores[j]), ids[j]))


def hits(ranking, q: int) -> list[int]:
    return [p for p in ranking.order[q].tolist() if p >= 0]


@settings(max_examples=300, deadline=None)
@given(shard_answers())
def test_each_query_gets_its_k_best_by_score_then_id(answer) -> None:
    ids, scores, _, k, _ = answer
    ranking = rank(ids, scores, k)
    for q in range(len(ids)):
        assert hits(ranking, q) == expected_order(ids[q], scores[q])[:k]


@settings(max_examples=200, deadline=None)
@given(shard_answers(), st.booleans())
def test_a_few_queries_rank_as_they_would_among_many(answer, grouped) -> None:
    ids, scores, products, k, group_size = answer
    copies = MANY_QUERIES // len(ids) + 1  # the rows repeated past MANY_QUERIES take the array path

    def ranked(rows: slice, times: int = 1):
        keys = np.tile(products[rows], (times, 1)) if grouped else None
        return rank(
            np.tile(ids[rows], (times, 1)), np.tile(scores[rows], (times, 1)), k, products=keys, group_size=group_size
        )

    batch = ranked(slice(None), copies)
    for q in range(len(ids)):
        alone = ranked(slice(q, q + 1))
        for copy in range(copies):
            row = copy * len(ids) + q
            assert hits(batch, row) == hits(alone, 0)
            if grouped:
                assert batch.groups[row] == alone.groups[0]


@settings(max_examples=200, deadline=None)
@given(shard_answers())
def test_groups_hold_the_best_hits_of_the_best_products(answer) -> None:
    ids, scores, products, k, group_size = answer
    ranking = rank(ids, scores, k, products=products, group_size=group_size)
    counts = []
    for q in range(len(ids)):
        expected: dict[str, list[int]] = {}
        for j in expected_order(ids[q], scores[q]):
            members = expected.get(products[q, j])
            if members is None and len(expected) < k:
                members = expected[products[q, j]] = []
            if members is not None and len(members) < group_size:
                members.append(j)
        assert [(g.product_id, g.positions) for g in ranking.groups[q]] == list(expected.items())
        counts.append(len(expected))
    assert ranking.short_of(k) == (min(counts) < k)


def test_rows_short_of_k_are_padded_and_dropped_scores_left_out() -> None:
    ids = np.array([["a", "", "b"], ["", "", ""]], dtype=object)
    scores = np.array([[0.5, 9.0, 0.7], [1.0, 1.0, 1.0]], dtype=np.float32)
    ranking = rank(ids, scores, 3)
    assert ranking.order.tolist() == [[2, 0, -1], [-1, -1, -1]]
    assert ranking.short_of(3) and not rank(ids[:1], scores[:1], 2).short_of(2)
    assert rank(ids[:1], np.where(scores[:1] > 0.6, scores[:1], -np.inf), 3).order.tolist() == [[2, -1, -1]]
