"""Merging shard answers into one search answer: top k, tag blending, grouping by product.

Pure functions over plain values, so the router's fan-out stays small and these rules are
tested on their own.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(slots=True)
class Candidate:
    id: str
    visual: float
    score: float
    record: Any = None  # the shard's ShardRecord, when metadata or fields were asked for
    vector: bytes = b""
    shard: int = 0


@dataclass(slots=True)
class Group:
    product_id: str
    hits: list[Candidate] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.hits[0].score


def top(candidates: Iterable[Candidate], k: int) -> list[Candidate]:
    """The k best by score (ties: smaller id first, so answers are stable)."""
    return heapq.nsmallest(k, candidates, key=lambda c: (-c.score, c.id))


def top_rows(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`top` for many queries at once: `ids` (object, "" where a shard found no hit) and
    `scores`, both (queries, candidates); the k best of each row, in `top`'s order, as
    (queries, min(k, candidates)) arrays, "" and -inf where a row has fewer hits."""
    scores = np.where(ids == "", -np.inf, scores).astype(np.float32, copy=False)
    width = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order[:, :width + 1], 1)
    # Equal scores within the first k + 1 places are ordered by id, as `top` does.
    tied = ((ranked[:, 1:] == ranked[:, :-1]) & np.isfinite(ranked[:, 1:])).any(axis=1)
    order = order[:, :width].copy()
    for q in np.flatnonzero(tied).tolist():
        row_ids, row_scores = ids[q], scores[q]
        order[q] = sorted(range(len(row_ids)), key=lambda j: (-row_scores[j], row_ids[j]))[:width]
    return np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)


def lookup(metadata: Mapping[str, Any] | None, path: str) -> Any:
    """`metadata[a][b]` for the dotted path `a.b`; None when absent."""
    value: Any = metadata
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def tag_set(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    if isinstance(value, Iterable):
        return {str(v) for v in value if v is not None}
    return {str(value)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def blend_tags(candidates: Sequence[Candidate], query_tags: Sequence[str], weight: float,
               tags_of) -> None:
    """score = (1 - weight) * visual + weight * Jaccard(query tags, record tags), in place."""
    wanted = set(query_tags)
    for candidate in candidates:
        overlap = jaccard(wanted, tag_set(tags_of(candidate)))
        candidate.score = (1.0 - weight) * candidate.visual + weight * overlap


def group_by(candidates: Sequence[Candidate], k: int, group_size: int, product_of) -> list[Group]:
    """The k best groups, each holding its `group_size` best hits, from hits sorted best first.

    Records without a product id form a group of their own, keyed by `_id`.
    """
    groups: dict[str, Group] = {}
    order: list[Group] = []
    for candidate in candidates:
        product = product_of(candidate)
        key = candidate.id if product is None else str(product)
        group = groups.get(key)
        if group is None:
            if len(order) >= k:
                continue
            group = groups[key] = Group(key)
            order.append(group)
        if len(group.hits) < group_size:
            group.hits.append(candidate)
    return order


def finite(score: float) -> bool:
    return not math.isinf(score) and not math.isnan(score)
