"""Ranking the shards' hits: one ordering rule (score, best first; equal scores by id) for every
search, with grouping by product and tag blending.

Pure functions over arrays, so the search's fan-out stays small and these rules are tested on
their own. `rank` serves one query and a thousand alike: for a few queries each row is ranked by
the rule in Python (cheaper than numpy's overheads on a few dozen hits); for many, numpy sorts
them by score and only rows with equal scores near the top are ranked again by the rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

import numpy as np

# Queries from which numpy sorts the rows (below it, each row is sorted in Python).
MANY_QUERIES = 20


@dataclass(frozen=True, slots=True)
class Group:
    """One product's hits: their positions in the row, best first."""

    product_id: str
    positions: list[int]


@dataclass(frozen=True, slots=True)
class Ranking:
    """`order[q]`: the positions of query q's hits in the best `width` places, best first, -1
    after the last hit; `groups[q]`: its best groups, where grouping was asked for."""

    order: np.ndarray
    groups: list[list[Group]] | None = None

    def short_of(self, k: int) -> bool:
        """Whether some query came out with fewer than k hits (or groups)."""
        if self.groups is not None:
            return any(len(groups) < k for groups in self.groups)
        return bool(self.order.shape[1] < k or (self.order[:, k - 1] < 0).any())


def rank(
    ids: np.ndarray, scores: np.ndarray, k: int, *, products: np.ndarray | None = None, group_size: int = 1
) -> Ranking:
    """The k best hits per query (row) of `ids` (object, "" where a shard had no hit) and
    `scores` (-inf drops a hit), both (queries, candidates): by score, equal scores by smaller
    id. With `products` (the group key of each hit), the k best groups instead, each holding its
    `group_size` best hits, a group ranked by its best hit."""
    depth = min(scores.shape[1] if products is not None else k, scores.shape[1])
    if scores.shape[0] < MANY_QUERIES:
        order = np.array(
            [_ranked_row(ids[q].tolist(), scores[q].tolist(), depth) for q in range(scores.shape[0])], dtype=np.int64
        ).reshape(scores.shape[0], depth)
    else:
        order = _ranked_rows(ids, scores, depth)
    if products is None:
        return Ranking(order)
    return Ranking(order, [_group(row, keys, k, group_size) for row, keys in zip(order.tolist(), products)])


def placed(order: np.ndarray, values: np.ndarray, k: int, empty: Any) -> np.ndarray:
    """`values` (queries, candidates) in the places a ranking's `order` gives them: (queries, k),
    `empty` in the places no hit fills (-1 in `order`, or past its width)."""
    out = np.full((len(order), k), empty, dtype=values.dtype)
    width = min(k, order.shape[1])
    if width:
        ranked = order[:, :width]
        taken = np.take_along_axis(values, np.maximum(ranked, 0), 1)
        out[:, :width] = np.where(ranked >= 0, taken, out[:, :width])
    return out


def _ranked_row(ids: Sequence[str], scores: Sequence[float], depth: int) -> list[int]:
    """The rule on one row: the positions of its best `depth` hits, best first, -1 after the last."""
    hits = [j for j in range(len(ids)) if ids[j] and scores[j] != -math.inf]
    best = sorted(hits, key=lambda j: (-scores[j], ids[j]))[:depth]
    return best + [-1] * (depth - len(best))


def _ranked_rows(ids: np.ndarray, scores: np.ndarray, depth: int) -> np.ndarray:
    """`_ranked_row` of every row, sorted by numpy: only rows with equal scores within the first
    depth + 1 places are ranked again by the rule itself."""
    scores = np.where(ids == "", -np.inf, scores)
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order[:, : depth + 1], 1)
    tied = ((ranked[:, 1:] == ranked[:, :-1]) & np.isfinite(ranked[:, 1:])).any(axis=1)
    order = np.where(ranked[:, :depth] == -np.inf, -1, order[:, :depth])
    for q in np.flatnonzero(tied).tolist():
        order[q] = _ranked_row(ids[q].tolist(), scores[q].tolist(), depth)
    return order


def _group(order: Sequence[int], keys: Sequence[str], k: int, group_size: int) -> list[Group]:
    """The k best groups of a row whose hits are in `order`, each with its best `group_size`."""
    groups: dict[str, Group] = {}
    for position in order:
        if position < 0:
            break
        group = groups.get(keys[position])
        if group is None:
            if len(groups) >= k:
                continue
            group = groups[keys[position]] = Group(keys[position], [])
        if len(group.positions) < group_size:
            group.positions.append(position)
    return list(groups.values())


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


def jaccard(a: Set[str], b: Set[str]) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def blend(visual: float, query_tags: Set[str], record_tags: Any, weight: float) -> float:
    """score = (1 - weight) * visual + weight * Jaccard(query tags, record tags)."""
    return (1.0 - weight) * visual + weight * jaccard(query_tags, tag_set(record_tags))
