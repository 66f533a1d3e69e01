"""FAISS search restricted to candidate ids, against exact brute force over the same ids."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from simmesh.indexer.filtered_search import filtered_search, search_parameters

D = 32
N = 4000


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    xb = rng.standard_normal((N, D)).astype(np.float32)
    ids = np.arange(N, dtype=np.int64) * 3 + 11  # ids are not row numbers
    xq = rng.standard_normal((20, D)).astype(np.float32)
    return xb, ids, xq


def truth(xb: np.ndarray, ids: np.ndarray, xq: np.ndarray, chosen: np.ndarray, k: int, metric: int) -> np.ndarray:
    rows = np.searchsorted(ids, chosen)
    sub = xb[rows]
    if metric == faiss.METRIC_INNER_PRODUCT:
        scores = -(xq @ sub.T)
    else:
        scores = ((xq[:, None, :] - sub[None, :, :]) ** 2).sum(-1)
    order = np.argsort(scores, axis=1, kind="stable")[:, :k]
    return chosen[order]


def recall(found: np.ndarray, expected: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(e)) for f, e in zip(found, expected))
    return hits / expected.size


def lookup(xb: np.ndarray, ids: np.ndarray):
    return lambda wanted: xb[np.searchsorted(ids, wanted)]


def flat(xb: np.ndarray, ids: np.ndarray, metric: int) -> faiss.Index:
    index = faiss.IndexIDMap2(faiss.IndexFlat(D, metric))
    index.add_with_ids(xb, ids)
    return index


def ivf(xb: np.ndarray, ids: np.ndarray) -> faiss.Index:
    quantizer = faiss.IndexFlatL2(D)
    index = faiss.IndexIVFFlat(quantizer, D, 32)
    index.train(xb)
    index.add_with_ids(xb, ids)
    index.nprobe = 1
    return index


@pytest.mark.parametrize("metric", [faiss.METRIC_L2, faiss.METRIC_INNER_PRODUCT])
@pytest.mark.parametrize("count", [40, 1500])
@pytest.mark.parametrize("brute_force_max", [0, 100_000])
def test_flat_is_exact_either_way(data, metric: int, count: int, brute_force_max: int) -> None:
    xb, ids, xq = data
    chosen = np.sort(np.random.default_rng(count).choice(ids, count, replace=False))
    index = flat(xb, ids, metric)
    distances, found = filtered_search(index, xq, 10, chosen.tolist(), brute_force_max=brute_force_max)
    assert found.shape == (len(xq), 10)
    assert recall(found, truth(xb, ids, xq, chosen, 10, metric)) == 1.0
    step = np.diff(distances, axis=1)
    assert (step >= -1e-4).all() if metric == faiss.METRIC_L2 else (step <= 1e-4).all()


def test_ivf_with_every_list_probed_is_exact(data) -> None:
    xb, ids, xq = data
    chosen = np.sort(np.random.default_rng(1).choice(ids, 1200, replace=False))
    index = ivf(xb, ids)
    _, found = filtered_search(index, xq, 10, chosen, nprobe=32, brute_force_max=0)
    assert recall(found, truth(xb, ids, xq, chosen, 10, faiss.METRIC_L2)) == 1.0
    assert index.nprobe == 1  # the request's nprobe does not stick to the index


def test_ivf_with_few_lists_stays_inside_the_candidates(data) -> None:
    xb, ids, xq = data
    chosen = np.sort(np.random.default_rng(2).choice(ids, 2000, replace=False))
    index = ivf(xb, ids)
    _, few = filtered_search(index, xq, 10, chosen, nprobe=4, brute_force_max=0)
    _, more = filtered_search(index, xq, 10, chosen, nprobe=16, brute_force_max=0)
    allowed = set(chosen.tolist()) | {-1}
    assert set(few.ravel().tolist()) <= allowed and set(more.ravel().tolist()) <= allowed
    expected = truth(xb, ids, xq, chosen, 10, faiss.METRIC_L2)
    assert recall(more, expected) >= recall(few, expected)
    assert recall(more, expected) >= 0.8


def test_few_candidates_on_ivf_are_searched_exactly(data) -> None:
    xb, ids, xq = data
    chosen = np.sort(np.random.default_rng(3).choice(ids, 60, replace=False))
    index = ivf(xb, ids)
    expected = truth(xb, ids, xq, chosen, 10, faiss.METRIC_L2)
    _, selective = filtered_search(index, xq, 10, chosen, brute_force_max=0)
    _, exact = filtered_search(index, xq, 10, chosen, vectors=lookup(xb, ids))
    assert recall(exact, expected) == 1.0
    assert recall(selective, expected) < 1.0  # one probed list holds few of 60 scattered ids


def test_hnsw_search_honours_the_selector(data) -> None:
    xb, ids, xq = data
    index = faiss.IndexIDMap(faiss.IndexHNSWFlat(D, 16))
    index.add_with_ids(xb, ids)
    chosen = np.sort(np.random.default_rng(4).choice(ids, 2000, replace=False))
    _, found = filtered_search(index, xq, 10, chosen, ef_search=128)  # no reconstruct: selector
    assert set(found.ravel().tolist()) <= set(chosen.tolist()) | {-1}
    assert recall(found, truth(xb, ids, xq, chosen, 10, faiss.METRIC_L2)) >= 0.9


def test_fewer_candidates_than_k_are_padded(data) -> None:
    xb, ids, xq = data
    index = flat(xb, ids, faiss.METRIC_L2)
    for brute_force_max in (0, 100):
        distances, found = filtered_search(index, xq[:2], 5, [ids[3], ids[9]], brute_force_max=brute_force_max)
        assert sorted(found[0, :2].tolist()) == sorted([ids[3], ids[9]])
        assert (found[:, 2:] == -1).all()
        assert (distances[:, 2:] > 1e38).all()
    distances, found = filtered_search(index, xq[:2], 5, [])
    assert (found == -1).all()


def test_parameters_match_the_index_type(data) -> None:
    xb, ids, _ = data
    selector = faiss.IDSelectorBatch(ids[:5])
    assert isinstance(search_parameters(ivf(xb, ids), selector, nprobe=8), faiss.SearchParametersIVF)
    assert search_parameters(ivf(xb, ids), selector, nprobe=8).nprobe == 8
    hnsw = faiss.IndexIDMap(faiss.IndexHNSWFlat(D, 8))
    assert isinstance(search_parameters(hnsw, selector), faiss.SearchParametersHNSW)
    assert type(search_parameters(flat(xb, ids, faiss.METRIC_L2), selector)) is faiss.SearchParameters
