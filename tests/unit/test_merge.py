"""Merging shard answers: the array merge of many queries agrees with the one-query rules."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simmesh.indexer.merge import Candidate, top, top_rows


@st.composite
def shard_answers(draw):
    """Rows of candidates as shards return them: ids ("" = no hit) and float32 scores, with
    repeated scores (ties) likely."""
    queries = draw(st.integers(1, 6))
    width = draw(st.integers(1, 12))
    levels = draw(st.lists(st.floats(-2, 2, width=32), min_size=1, max_size=4))
    names = iter(range(10_000))
    ids = np.empty((queries, width), dtype=object)
    scores = np.empty((queries, width), dtype=np.float32)
    for q in range(queries):
        for j in range(width):
            missing = draw(st.booleans()) and draw(st.booleans())
            ids[q, j] = "" if missing else f"r{draw(st.integers(0, 9))}-{next(names)}"
            scores[q, j] = -np.inf if missing else draw(st.sampled_from(levels))
    return ids, scores, draw(st.integers(1, width + 2))


@settings(max_examples=300, deadline=None)
@given(shard_answers())
def test_top_rows_gives_top_for_every_query(answer) -> None:
    ids, scores, k = answer
    best_ids, best_scores = top_rows(ids, scores, k)
    for q in range(len(ids)):
        expected = top([Candidate(i, float(s), float(s)) for i, s in zip(ids[q], scores[q]) if i], k)
        found = [(i, s) for i, s in zip(best_ids[q], best_scores[q]) if s != -np.inf]
        assert found == [(c.id, np.float32(c.score)) for c in expected]


def test_top_rows_pads_short_rows() -> None:
    ids = np.array([["a", "", "b"], ["", "", ""]], dtype=object)
    scores = np.array([[0.5, 9.0, 0.7], [1.0, 1.0, 1.0]], dtype=np.float32)
    best_ids, best_scores = top_rows(ids, scores, 3)
    assert best_ids[0].tolist()[:2] == ["b", "a"]
    assert best_scores[0, 2] == -np.inf and best_scores[1].tolist() == [-np.inf] * 3
