"""FAISS searches over a shard's vectors: exact k-NN, each index kind with an ID selector, PQ re-ranking, padding."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import faiss
import numpy as np

from simmesh.indexer.hnsw_positions import HnswPositions
from simmesh.indexer.index_kinds import EXACT, HNSW, L2, Coarse, as_ivf
from simmesh.indexer.vector_store import VectorStore, as_rows

# IVF_PQ fetches this many times k hits and re-ranks them exactly with the stored vectors.
PQ_REFINE_FACTOR = 8
# Candidate sets at most this large are always searched by brute force over their vectors.
BRUTE_FORCE_MIN = 4_096


def brute_force_pays(kind: int, index: faiss.Index | None, count: int, candidates: int, nq: int, nprobe: int) -> bool:
    """Whether gathering the candidates' vectors costs less than searching the index of `kind`
    over `count` vectors."""
    if kind == EXACT:
        return nq >= 20 or candidates <= count // 8
    if candidates <= BRUTE_FORCE_MIN:
        return True
    if kind == HNSW:
        return candidates <= count // 50
    ivf = as_ivf(index)
    nlist = max(1, ivf.nlist)
    probes = min(nlist, nprobe or ivf.nprobe)
    return candidates <= count * probes // nlist


def knn(
    queries: np.ndarray, base: np.ndarray, k: int, metric: int, selector: faiss.IDSelector | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's brute-force k-NN of `queries` over `base` (distances, positions in `base`)."""
    nq, nb = len(queries), len(base)
    distances = np.empty((nq, k), dtype=np.float32)
    labels = np.empty((nq, k), dtype=np.int64)
    base = np.ascontiguousarray(base)
    args = (
        faiss.swig_ptr(queries),
        faiss.swig_ptr(base),
        queries.shape[1],
        nq,
        nb,
        k,
        faiss.swig_ptr(distances),
        faiss.swig_ptr(labels),
    )
    if metric == L2:
        faiss.knn_L2sqr(*args, None, selector)
    else:
        faiss.knn_inner_product(*args, selector)
    return distances, labels


def search_exact(
    store: VectorStore, queries: np.ndarray, k: int, metric: int, candidates: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact search over every stored vector, or only the candidates' through a selector."""
    if candidates is None:
        distances, slots = knn(queries, store.vectors, k, metric)
    else:
        bitmap = selector_bitmap(store.slots(candidates), store.count)
        selector = faiss.IDSelectorBitmap(store.count, faiss.swig_ptr(bitmap))
        distances, slots = knn(queries, store.vectors, k, metric, selector)
    return distances, np.where(slots >= 0, store.rows[np.maximum(slots, 0)], -1)


def search_subset(
    store: VectorStore, queries: np.ndarray, k: int, metric: int, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact search among `rows`, over a gathered copy of their vectors."""
    distances, local = knn(queries, store.get(rows), k, metric)
    return distances, np.where(local >= 0, rows[np.maximum(local, 0)], -1)


def search_hnsw(
    index: faiss.IndexHNSW,
    positions: HnswPositions,
    queries: np.ndarray,
    k: int,
    ef_search: int,
    candidates: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """An HNSW search that skips tombstones and, when given, positions outside the candidates."""
    params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing from faiss's stubs
    params.efSearch = max(ef_search or index.hnsw.efSearch, k)
    allowed = positions.allowed(candidates)
    if allowed is not None:
        bitmap = selector_bitmap(allowed, len(positions.labels))
        params.sel = faiss.IDSelectorBitmap(len(positions.labels), faiss.swig_ptr(bitmap))
    distances, found = index.search(queries, k, params=params)
    return distances, positions.rows_at(found)


def search_ivf(
    index: faiss.IndexIVF,
    queries: np.ndarray,
    k: int,
    nprobe: int,
    candidates: np.ndarray | None,
    row_bound: int,
    coarse: Coarse | None,
) -> tuple[np.ndarray, np.ndarray]:
    """An IVF search, restricted to the candidates (rows below `row_bound`) when given, scanning
    the lists `coarse` assigned when given."""
    params = faiss.SearchParametersIVF()
    params.nprobe = min(index.nlist, nprobe or index.nprobe)
    if candidates is not None:
        bitmap = selector_bitmap(candidates, row_bound)
        params.sel = faiss.IDSelectorBitmap(row_bound, faiss.swig_ptr(bitmap))
    if coarse is None:
        return index.search(queries, k, params=params)
    lists = np.ascontiguousarray(coarse.lists, dtype=np.int64)
    centroid_distances = np.ascontiguousarray(coarse.distances, dtype=np.float32)
    params.nprobe = lists.shape[1]
    distances = np.empty((len(queries), k), dtype=np.float32)
    labels = np.empty((len(queries), k), dtype=np.int64)
    index.search_preassigned_c(  # type: ignore[attr-defined]  # the raw SWIG method, missing from faiss's stubs
        len(queries),
        faiss.swig_ptr(queries),
        k,
        faiss.swig_ptr(lists),
        faiss.swig_ptr(centroid_distances),
        faiss.swig_ptr(distances),
        faiss.swig_ptr(labels),
        False,
        params,
    )
    return distances, labels


def rerank(
    store: VectorStore, queries: np.ndarray, rows: np.ndarray, k: int, metric: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k best of `rows` per query by exact distance to the stored vectors."""
    slots = store.slots(rows.reshape(-1))
    vectors = store.vectors[np.maximum(slots, 0)]
    distances = exact_distances(queries, vectors.reshape(*rows.shape, store.dim), metric)
    distances[rows < 0] = np.inf if metric == L2 else -np.inf
    order = np.argsort(distances if metric == L2 else -distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, 1), np.take_along_axis(rows, order, 1)


def exact_distances(queries: np.ndarray, vectors: np.ndarray, metric: int) -> np.ndarray:
    """FAISS-style distances of each query (nq, d) to its own vectors (nq, m, d): squared L2
    for L2, the inner product otherwise."""
    products = np.einsum("qd,qmd->qm", queries, vectors)
    if metric != L2:
        return products
    return (queries * queries).sum(1)[:, None] - 2 * products + np.einsum("qmd,qmd->qm", vectors, vectors)


def selector_bitmap(members: np.ndarray, bound: int) -> np.ndarray:
    """An IDSelectorBitmap's bitmap (bit i of byte i >> 3 = member i) for ids below `bound`."""
    mask = np.zeros(max(bound, 1), dtype=bool)
    mask[members[(members >= 0) & (members < bound)]] = True
    return np.packbits(mask, bitorder="little")


def drop_excluded(
    scores: np.ndarray, rows: np.ndarray, exclude: Sequence[Collection[int]]
) -> tuple[np.ndarray, np.ndarray]:
    scores, rows = scores.copy(), rows.copy()
    for i, excluded in enumerate(exclude):
        if i >= len(rows) or len(excluded) == 0:
            continue
        drop = np.isin(rows[i], as_rows(excluded))
        if drop.any():
            keep = ~drop
            kept = int(keep.sum())
            rows[i, :kept], scores[i, :kept] = rows[i][keep], scores[i][keep]
            rows[i, kept:], scores[i, kept:] = -1, -np.inf
    return scores, rows


def fit_to_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    nq, have = rows.shape
    if have >= k:
        return np.ascontiguousarray(scores[:, :k]), np.ascontiguousarray(rows[:, :k])
    out_scores, out_rows = empty_result(nq, k)
    out_scores[:, :have], out_rows[:, :have] = scores, rows
    return out_scores, out_rows


def empty_result(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), -np.inf, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)
