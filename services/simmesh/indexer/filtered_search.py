"""FAISS search restricted to candidate ids (the rows a metadata filter lets through).

Two ways, picked by the number of candidates:

- few candidates: exact brute force over their vectors (`faiss.knn`), which is both faster than
  walking an index that mostly yields rejected ids and exact where an IVF or HNSW index with a
  selective filter would miss neighbours;
- many: the index's own search with an `IDSelectorBatch` in its search parameters
  (`SearchParametersIVF` with `nprobe` for IVF, `SearchParametersHNSW` with `efSearch` for
  HNSW), so FAISS skips every id outside the set while it scans.

Results have FAISS's shape and conventions: `(distances, ids)`, both `(n_queries, k)`, best
first (smallest L2 distance, largest inner product), padded with id -1 and the metric's worst
distance when fewer than k candidates qualify.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import faiss
import numpy as np

VectorLookup = Callable[[np.ndarray], np.ndarray]

# At or below this many candidates, brute force over their vectors.
DEFAULT_BRUTE_FORCE_MAX = 4096


def as_ids(candidate_ids: Iterable[int] | np.ndarray) -> np.ndarray:
    """Candidate ids as a sorted, de-duplicated contiguous int64 array."""
    if isinstance(candidate_ids, np.ndarray):
        ids = candidate_ids.astype(np.int64, copy=False).ravel()
    else:
        ids = np.fromiter(candidate_ids, dtype=np.int64)
    return np.ascontiguousarray(np.unique(ids))


def id_selector(ids: np.ndarray) -> faiss.IDSelectorBatch:
    """A hash-set selector over `ids` (O(1) membership, unlike `IDSelectorArray`'s scan)."""
    return faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))


def _core(index: faiss.Index) -> faiss.Index:
    """The index that does the search under id maps and pre-transforms."""
    index = faiss.downcast_index(index)
    while True:
        if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2, faiss.IndexPreTransform)):
            index = faiss.downcast_index(index.index)
        else:
            return index


def search_parameters(
    index: faiss.Index, selector: faiss.IDSelector, *, nprobe: int = 0, ef_search: int = 0
) -> faiss.SearchParameters:
    """Search parameters of the type `index` expects, carrying `selector`; `nprobe` /
    `ef_search` of 0 keep the index's own setting."""
    core = _core(index)
    if isinstance(core, faiss.IndexIVF):
        return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe or core.nprobe)
    if isinstance(core, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=ef_search or core.hnsw.efSearch)
    return faiss.SearchParameters(sel=selector)


def _padding(metric: int) -> float:
    worst = float(np.finfo(np.float32).max)
    return -worst if metric == faiss.METRIC_INNER_PRODUCT else worst


def brute_force_search(
    queries: np.ndarray, vectors: np.ndarray, ids: np.ndarray, k: int, metric: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest among `vectors` (row i has id `ids[i]`), FAISS-shaped."""
    if len(ids) == 0:
        return (np.full((len(queries), k), _padding(metric), dtype=np.float32),
                np.full((len(queries), k), -1, dtype=np.int64))
    xb = np.ascontiguousarray(vectors, dtype=np.float32)
    distances, positions = faiss.knn(queries, xb, k, metric=metric)
    found = np.where(positions >= 0, ids[np.maximum(positions, 0)], -1)
    return distances.astype(np.float32, copy=False), found.astype(np.int64, copy=False)


def filtered_search(
    index: faiss.Index,
    queries: np.ndarray,
    k: int,
    candidate_ids: Iterable[int] | np.ndarray,
    *,
    vectors: VectorLookup | None = None,
    nprobe: int = 0,
    ef_search: int = 0,
    brute_force_max: int = DEFAULT_BRUTE_FORCE_MAX,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest neighbours of each query among `candidate_ids`.

    `vectors(ids)` returns the vectors of those ids (rows in the same order); without it the
    index's `reconstruct_batch` is tried (IndexFlat, IndexIDMap2, IVF with a direct map). When
    the candidates are at most `brute_force_max` and their vectors can be had, the answer is
    exact brute force; otherwise the index searches with an ID selector.
    """
    xq = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, index.d)
    ids = as_ids(candidate_ids)
    if len(ids) <= brute_force_max:
        found = _vectors_of(index, ids, vectors)
        if found is not None:
            return brute_force_search(xq, found, ids, k, index.metric_type)
    selector = id_selector(ids)
    params = search_parameters(index, selector, nprobe=nprobe, ef_search=ef_search)
    distances, labels = index.search(xq, k, params=params)
    return distances, labels


def _vectors_of(index: faiss.Index, ids: np.ndarray, vectors: VectorLookup | None) -> np.ndarray | None:
    if len(ids) == 0:
        return np.empty((0, index.d), dtype=np.float32)
    if vectors is not None:
        return np.asarray(vectors(ids), dtype=np.float32)
    try:
        return index.reconstruct_batch(ids)
    except RuntimeError:
        return None


__all__ = [
    "DEFAULT_BRUTE_FORCE_MAX", "as_ids", "brute_force_search", "filtered_search", "id_selector",
    "search_parameters",
]
