"""How a shard searches its vectors: the queries checked, then an exact or filtered search that maps rows to ids."""

from __future__ import annotations

import math

import numpy as np

from simmesh.indexer import packed_ids
from simmesh.indexer.query import Filter
from simmesh.indexer.shard_records import RecordTable
from simmesh.indexer.vectors import EXACT, Coarse, VectorIndex
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument

# Filters whose indexed candidates number at most max(this, 4 * sqrt(queries * k * records)) are
# searched among their verified candidates; broader ones by post-filtering wider and wider hits.
CANDIDATE_SEARCH_MIN = 2048


def check_queries(queries: np.ndarray | bytes, dim: int) -> np.ndarray:
    """The queries as a (n, dim) float32 matrix, once they are checked."""
    if isinstance(queries, (bytes, bytearray, memoryview)):
        if len(queries) % (4 * dim):
            raise InvalidArgument(
                f"queries hold {len(queries)} bytes, not a whole number of {dim}-float vectors",
                reason=reasons.DIMENSION_MISMATCH,
                field="queries",
            )
        matrix = np.frombuffer(queries, dtype=np.float32).reshape(-1, dim)
    else:
        matrix = np.ascontiguousarray(queries, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2 or matrix.shape[1] != dim:
            raise InvalidArgument(
                f"queries must have dimension {dim}, got shape {matrix.shape}",
                reason=reasons.DIMENSION_MISMATCH,
                field="queries",
            )
    if not np.isfinite(matrix).all():
        raise InvalidArgument("queries have NaN or infinite values", reason=reasons.INVALID_VECTOR, field="queries")
    return matrix


def search_rows(
    vectors: VectorIndex,
    table: RecordTable,
    queries: np.ndarray,
    k: int,
    compiled: Filter | None,
    *,
    nprobe: int,
    ef_search: int,
    excluded: list[np.ndarray] | None,
    coarse: Coarse | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best rows per query that match `compiled` (all rows when None): `(scores, rows)`."""
    if compiled is None:
        return vectors.search(queries, k, nprobe=nprobe, ef_search=ef_search, exclude=excluded, coarse=coarse)
    return _filtered_search(vectors, table, queries, k, compiled, nprobe, ef_search, excluded, coarse)


def hit_ids(rows: np.ndarray, table: RecordTable) -> tuple[list[list[str]], str | None]:
    """The ids of a (queries, k) array of rows, "" where a row is -1; and all of them joined as
    packed answers send them (None where some id holds the separator), read in array operations."""
    text = table.joined_ids(rows) if rows.size else None
    flat = table.ids_of(rows.ravel().tolist()) if text is None else text.split(packed_ids.SEPARATOR)
    width = rows.shape[1]
    return [flat[at : at + width] for at in range(0, len(flat), width)], text


def _filtered_search(
    vectors: VectorIndex,
    table: RecordTable,
    queries: np.ndarray,
    k: int,
    compiled: Filter,
    nprobe: int,
    ef_search: int,
    excluded: list[np.ndarray] | None,
    coarse: Coarse | None,
) -> tuple[np.ndarray, np.ndarray]:
    total = vectors.count
    estimate = table.selectivity(compiled)
    if estimate is not None and estimate <= max(CANDIDATE_SEARCH_MIN, 4 * math.isqrt(len(queries) * k * total)):
        allowed = table.matching_rows(compiled)
        return vectors.search(
            queries, k, nprobe=nprobe, ef_search=ef_search, candidate_ids=allowed, exclude=excluded, coarse=coarse
        )
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    rows = np.full((len(queries), k), -1, dtype=np.int64)
    doc_of, matches = table.doc_of, compiled.matches
    pending, unreached = list(range(len(queries))), []
    fetch = min(total, max(4 * k, 32))
    while pending and fetch:
        found_scores, found_rows = vectors.search(
            queries[pending],
            fetch,
            nprobe=nprobe,
            ef_search=ef_search,
            exclude=[excluded[q] for q in pending] if excluded else None,
            coarse=_subset(coarse, pending),
        )
        still = []
        for j, q in enumerate(pending):
            hits = found_rows[j]
            returned = int((hits >= 0).sum())
            keep = [i for i in range(returned) if matches(doc_of(int(hits[i])))][:k]
            rows[q, : len(keep)], scores[q, : len(keep)] = hits[keep], found_scores[j][keep]
            if len(keep) == k:
                continue
            if returned < fetch or fetch >= total:
                skipped = len(excluded[q]) if excluded else 0
                if vectors.kind != EXACT and returned + skipped < total:
                    unreached.append(q)
            else:
                still.append(q)
        pending, fetch = still, min(total, fetch * 4)
    if unreached:
        allowed = table.matching_rows(compiled)
        found_scores, found_rows = vectors.search(
            queries[unreached],
            k,
            nprobe=nprobe,
            ef_search=ef_search,
            candidate_ids=allowed,
            exclude=[excluded[q] for q in unreached] if excluded else None,
            coarse=_subset(coarse, unreached),
        )
        scores[unreached], rows[unreached] = found_scores, found_rows
    return scores, rows


def _subset(coarse: Coarse | None, queries: list[int]) -> Coarse | None:
    """The coarse assignment of some of the queries."""
    if coarse is None:
        return None
    return Coarse(coarse.lists[queries], coarse.distances[queries], coarse.digest)
