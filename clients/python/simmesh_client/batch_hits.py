"""A batch search's packed answer (`SearchResponse.packed`) as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simmesh_proto.v1 import indexer_pb2

# Joins the ids of `PackedHits.ids`; no record id holds it.
SEPARATOR = "\0"


@dataclass(frozen=True)
class BatchHits:
    """Each query's hits, best first, one row per query of k places. A query with fewer than k hits
    has its last places empty: id "" and score -inf. `visual_scores` differ from `scores` only where
    tags were blended in (`tag_weight`)."""

    ids: np.ndarray  # (queries, k), dtype object: str
    scores: np.ndarray  # (queries, k), float32
    visual_scores: np.ndarray  # (queries, k), float32
    partial: bool = False
    unavailable_shards: tuple[str, ...] = ()

    @property
    def counts(self) -> np.ndarray:
        """Hits per query."""
        return (self.ids != "").sum(axis=1)


def unpack_hits(response: indexer_pb2.SearchResponse) -> BatchHits:
    """The hits of a response to a search with `packed` set."""
    packed = response.packed
    scores = np.frombuffer(packed.scores, dtype="<f4").astype(np.float32)
    k = max(packed.k, 1)
    queries = len(scores) // k
    ids = np.array(packed.ids.split(SEPARATOR) if scores.size else [], dtype=object).reshape(queries, k)
    scores = scores.reshape(queries, k)
    visual = np.frombuffer(packed.visual_scores, dtype="<f4").reshape(queries, k) if packed.visual_scores else scores
    return BatchHits(ids, scores, visual, response.partial, tuple(response.unavailable_shards))
