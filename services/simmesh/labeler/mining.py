"""Pool mining and uncertainty ranking: pure functions over search hits.

Hits of several example queries are merged by id keeping each image's best similarity (an image
close to any example ranks high), ordered by decreasing similarity (ties by id), then thinned
greedily: walking down the ranking, a hit whose cosine with an already kept hit reaches the
duplicate threshold is skipped. The thinning depends only on the ranking, so pages cut from it
stay consistent while the pool is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from simmesh.labeler.votes import LabelScore, margin

DEFAULT_DUPLICATE_SIMILARITY = 0.95


@dataclass(frozen=True)
class PoolCandidate:
    id: str
    similarity: float
    url: str


@dataclass(frozen=True)
class Uncertain:
    id: str
    margin: float
    scores: list[LabelScore]


def merge_best(results: Iterable[Sequence[PoolCandidate]], exclude: Iterable[str] = ()) -> list[PoolCandidate]:
    """One candidate per id (its best similarity over the queries), best first, ties by id."""
    skip = set(exclude)
    best: dict[str, PoolCandidate] = {}
    for hits in results:
        for hit in hits:
            if hit.id in skip:
                continue
            kept = best.get(hit.id)
            if kept is None or hit.similarity > kept.similarity:
                best[hit.id] = hit
    return sorted(best.values(), key=lambda c: (-c.similarity, c.id))


def without_near_duplicates(
    ranked: Sequence[PoolCandidate], vectors: np.ndarray, duplicate_similarity: float, limit: int
) -> list[PoolCandidate]:
    """Greedy thinning of `ranked` (row i of `vectors` is candidate i's vector): up to `limit`
    hits, none with cosine >= `duplicate_similarity` to a better-ranked kept one."""
    kept: list[PoolCandidate] = []
    if not len(ranked) or limit <= 0:
        return kept
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    units = vectors / np.maximum(norms, 1e-12)
    chosen = np.zeros((min(limit, len(ranked)), units.shape[1]), dtype=np.float32)
    for candidate, unit in zip(ranked, units):
        if kept and float(np.max(chosen[: len(kept)] @ unit)) >= duplicate_similarity:
            continue
        chosen[len(kept)] = unit
        kept.append(candidate)
        if len(kept) == limit:
            break
    return kept


def rank_uncertain(items: Iterable[tuple[str, list[LabelScore]]]) -> list[Uncertain]:
    """Images by increasing margin between their two best label scores (ties by id)."""
    ranked = [Uncertain(image_id, margin(scores), scores) for image_id, scores in items]
    return sorted(ranked, key=lambda u: (u.margin, u.id))
