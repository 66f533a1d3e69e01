"""VectorIndex: every index kind and metric over FAISS, filtered search, training, serialisation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from simmesh.indexer.coarse import CoarseQuantizer
from simmesh.indexer.index_training import default_nlist, default_pq_m
from simmesh.indexer.vectors import (
    COSINE,
    EXACT,
    HNSW,
    INNER_PRODUCT,
    IVF_FLAT,
    IVF_PQ,
    IVF_SQ8,
    L2,
    Coarse,
    VectorIndex,
)
from simmesh.kit.errors import FailedPrecondition, InvalidArgument
from simmesh_proto.v1 import indexer_pb2

KINDS = [EXACT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW]
METRICS = [COSINE, L2, INNER_PRODUCT]
DIM = 32


def clustered(n: int, dim: int, *, seed: int, clusters: int = 50, spread: float = 1.0) -> np.ndarray:
    """Points around fixed random centres (the same centres for every seed)."""
    centres = np.random.default_rng(1234).normal(size=(clusters, dim)).astype(np.float32) * 2
    rng = np.random.default_rng(seed)
    return (centres[rng.integers(0, clusters, n)] + spread * rng.normal(size=(n, dim))).astype(np.float32)


def brute_force(metric: int, base: np.ndarray, rows: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The k best rows per query by exact numpy arithmetic."""
    if metric == COSINE:
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    if metric == L2:
        scores = -((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1)
    else:
        scores = queries @ base.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return rows[order]


def recall(truth: np.ndarray, found: np.ndarray) -> float:
    return float(np.mean([len(set(t) & set(f)) / len(t) for t, f in zip(truth.tolist(), found.tolist())]))


def built(kind: int, metric: int, rows: np.ndarray, vectors: np.ndarray) -> VectorIndex:
    index = VectorIndex(DIM, metric)
    index.add(rows, vectors)
    if kind != EXACT:
        index = index.train(indexer_pb2.IndexSpec(kind=kind))
    return index


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = clustered(3000, DIM, seed=1)
    rows = np.arange(len(vectors), dtype=np.int64) * 3 + 7  # sparse, not positions
    queries = clustered(40, DIM, seed=2)
    return rows, vectors, queries


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_adds_searches_and_removes(kind: int, metric: int, data) -> None:
    rows, vectors, queries = data
    index = built(kind, metric, rows, vectors)
    assert index.kind == kind and index.count == len(rows)

    truth = brute_force(metric, vectors, rows, queries, 10)
    scores, found = index.search(queries, 10)
    assert found.shape == scores.shape == (len(queries), 10)
    assert np.all(np.diff(scores, axis=1) <= 1e-4), "best first"
    assert recall(truth, found) >= (0.6 if (kind, metric) in {(IVF_PQ, COSINE), (IVF_PQ, INNER_PRODUCT)} else 0.9)

    removed = rows[::2]
    assert index.remove(removed) == len(removed)
    assert index.remove(removed) == 0
    _, found = index.search(queries, 10)
    assert not np.isin(found, removed).any()
    assert index.count == len(rows) - len(removed)

    # Re-adding a row replaces its vector: searching for the new vector finds the row first.
    target = rows[1:2]
    fresh = clustered(1, DIM, seed=99) * 5
    index.add(target, fresh)
    _, found = index.search(fresh, 1, nprobe=index.settings.nlist or 0, ef_search=256)
    assert found[0, 0] == target[0]
    assert index.count == len(rows) - len(removed)


@pytest.mark.parametrize("metric", METRICS)
def test_scores_follow_the_metric(metric: int) -> None:
    base = np.array([[3.0, 4.0], [1.0, 0.0]], dtype=np.float32)
    index = VectorIndex(2, metric)
    index.add([10, 20], base)
    scores, rows = index.search(np.array([[1.0, 0.0]], dtype=np.float32), 3)
    expected = {COSINE: {10: 0.6, 20: 1.0}, L2: {10: -(4.0 + 16.0), 20: 0.0}, INNER_PRODUCT: {10: 3.0, 20: 1.0}}[metric]
    assert {int(r): pytest.approx(float(s), abs=1e-5) for r, s in zip(rows[0][:2], scores[0][:2])} == expected
    assert rows[0][2] == -1 and scores[0][2] == -np.inf


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("share", [0.01, 0.3])
def test_filtered_exact_search_equals_brute_force_over_allowed(metric: int, share: float, data) -> None:
    rows, vectors, queries = data
    index = built(EXACT, metric, rows, vectors)
    rng = np.random.default_rng(5)
    allowed = np.sort(rng.choice(rows, int(len(rows) * share), replace=False))
    keep = np.isin(rows, allowed)
    for batch in (queries, queries[:1]):  # a batch (gathered) and one query (ID selector)
        _, found = index.search(batch, 10, candidate_ids=allowed)
        expected = brute_force(metric, vectors[keep], rows[keep], batch, 10)
        np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize("kind", [IVF_FLAT, HNSW])
def test_filtered_approximate_search_returns_only_allowed_rows(kind: int, data) -> None:
    rows, vectors, queries = data
    index = built(kind, L2, rows, vectors)
    rng = np.random.default_rng(6)
    for share in (0.01, 0.5):  # brute force over few candidates, an ID selector over many
        allowed = rng.choice(rows, int(len(rows) * share), replace=False)
        _, found = index.search(queries, 10, candidate_ids=set(allowed.tolist()))
        assert np.isin(found[found >= 0], allowed).all()
        assert (found >= 0).all()
    few = allowed[:5]
    mask = np.isin(rows, few)
    _, found = index.search(queries, 10, candidate_ids=few)
    np.testing.assert_array_equal(found[:, :5], brute_force(L2, vectors[mask], rows[mask], queries, 5))
    assert (found[:, 5:] == -1).all()


def test_exclusions_apply_per_query(data) -> None:
    rows, vectors, queries = data
    index = built(EXACT, COSINE, rows, vectors)
    _, plain = index.search(queries[:2], 5)
    exclude = [plain[0, :2].tolist(), []]
    _, found = index.search(queries[:2], 5, exclude=exclude)
    assert not np.isin(found[0], plain[0, :2]).any()
    np.testing.assert_array_equal(found[0, :3], plain[0, 2:5])
    np.testing.assert_array_equal(found[1], plain[1])


def test_default_nprobe_reaches_recall_on_100k_clustered_vectors() -> None:
    dim = 64
    vectors = clustered(100_000, dim, seed=11, clusters=200, spread=1.5)
    queries = clustered(300, dim, seed=12, clusters=200, spread=1.5)
    rows = np.arange(len(vectors), dtype=np.int64)
    exact = VectorIndex(dim, L2)
    exact.add(rows, vectors)
    sample = vectors[np.random.default_rng(3).choice(len(vectors), 40_000, replace=False)]
    ivf = exact.train(indexer_pb2.IndexSpec(kind=IVF_FLAT), sample)
    assert ivf.settings.nlist == default_nlist(len(vectors), len(sample))
    assert 1 <= ivf.settings.nprobe < ivf.settings.nlist
    _, truth = exact.search(queries, 10)
    _, found = ivf.search(queries, 10)
    assert recall(truth, found) >= 0.95


@pytest.mark.parametrize("kind", KINDS)
def test_serialize_round_trip_gives_identical_results(kind: int, data) -> None:
    rows, vectors, queries = data
    index = built(kind, COSINE, rows, vectors)
    index.remove(rows[:100])  # tombstones for HNSW
    copy = VectorIndex.deserialize(index.serialize())
    assert (copy.kind, copy.count, copy.settings, copy.tombstones) == (
        index.kind,
        index.count,
        index.settings,
        index.tombstones,
    )
    for kwargs in ({}, {"candidate_ids": rows[100:400]}):
        expected = index.search(queries, 10, **kwargs)
        got = copy.search(queries, 10, **kwargs)
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_allclose(got[0], expected[0])
    copy.add(rows[:10], vectors[:10])  # still writable
    assert copy.count == index.count + 10


def test_an_ivf_flat_snapshot_holds_its_vectors_once_and_one_holding_them_twice_still_loads(
    data, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, vectors, queries = data
    index = built(IVF_FLAT, COSINE, rows, vectors)
    index.remove(rows[:100])
    once = index.serialize()
    monkeypatch.setattr(VectorIndex, "_refillable", lambda self: False)  # as snapshots were written before
    twice = index.serialize()
    assert len(once) < 1.2 * vectors[100:].nbytes < len(twice)
    expected = index.search(queries, 10)
    for blob in (once, twice):
        copy = VectorIndex.deserialize(blob)
        assert (copy.count, copy.settings) == (index.count, index.settings)
        got = copy.search(queries, 10)
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)


@pytest.mark.parametrize("kind", [IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW])
def test_one_training_serves_two_shards(kind: int, data) -> None:
    rows, vectors, queries = data
    trained = VectorIndex.train_empty(DIM, L2, indexer_pb2.IndexSpec(kind=kind), vectors, total=len(vectors))
    halves = [slice(0, 1500), slice(1500, None)]
    shards = []
    for half in halves:
        shard = VectorIndex(DIM, L2)
        shard.add(rows[half], vectors[half])
        shards.append(shard.train(indexer_pb2.IndexSpec(kind=kind), trained=trained))
    whole = VectorIndex.build(DIM, L2, indexer_pb2.IndexSpec(kind=kind), rows, vectors, trained=trained)
    assert shards[0].settings == shards[1].settings == whole.settings
    assert shards[0].trained_bytes == trained or kind == HNSW
    merged_scores = np.concatenate([s.search(queries, 10)[0] for s in shards], axis=1)
    merged_rows = np.concatenate([s.search(queries, 10)[1] for s in shards], axis=1)
    order = np.argsort(-merged_scores, axis=1, kind="stable")[:, :10]
    merged = np.take_along_axis(merged_rows, order, 1)
    _, single = whole.search(queries, 10)
    if kind == HNSW:  # different graphs: compare quality, not ids
        assert recall(brute_force(L2, vectors, rows, queries, 10), merged) >= 0.9
    else:
        assert recall(single, merged) >= 0.97


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", [IVF_FLAT, IVF_SQ8, IVF_PQ])
def test_lists_assigned_by_the_router_give_each_shard_its_own_results(kind: int, metric: int, data) -> None:
    rows, vectors, queries = data
    trained = VectorIndex.train_empty(DIM, metric, indexer_pb2.IndexSpec(kind=kind), vectors, total=len(vectors))
    quantizer = CoarseQuantizer(trained, metric)
    for half in (slice(0, 1500), slice(1500, None)):
        shard = VectorIndex.build(
            DIM,
            metric,
            indexer_pb2.IndexSpec(kind=kind),
            rows[half],
            VectorIndex(DIM, metric).prepare(vectors[half]),
            trained=trained,
        )
        assert shard.coarse_digest == quantizer.digest
        for nprobe in (0, 1, 7):
            own = shard.search(queries, 10, nprobe=nprobe)
            assigned = shard.search(queries, 10, nprobe=nprobe, coarse=quantizer.assign(queries, nprobe))
            np.testing.assert_array_equal(assigned[1], own[1])
            np.testing.assert_allclose(assigned[0], own[0], rtol=1e-5, atol=1e-5)
        allowed = rows[half][::3]
        own = shard.search(queries[:5], 10, candidate_ids=allowed)
        assigned = shard.search(queries[:5], 10, candidate_ids=allowed, coarse=quantizer.assign(queries[:5]))
        np.testing.assert_array_equal(assigned[1], own[1])
        assert np.isin(assigned[1][assigned[1] >= 0], allowed).all()


def test_lists_from_another_quantizer_or_out_of_range_are_ignored(data) -> None:
    rows, vectors, queries = data
    spec = indexer_pb2.IndexSpec(kind=IVF_FLAT, nlist=20, nprobe=2)
    shard = VectorIndex.build(
        DIM, L2, spec, rows, vectors, trained=VectorIndex.train_empty(DIM, L2, spec, vectors[:1500])
    )
    other = CoarseQuantizer(VectorIndex.train_empty(DIM, L2, spec, vectors[1500:]), L2)
    assert other.digest != shard.coarse_digest
    own = shard.search(queries, 10)
    np.testing.assert_array_equal(shard.search(queries, 10, coarse=other.assign(queries))[1], own[1])
    digest = shard.coarse_digest
    beyond = np.full((len(queries), 2), 20, dtype=np.int64)
    bad = [
        Coarse(beyond, np.zeros(beyond.shape, np.float32), digest),
        Coarse(np.zeros((3, 2), np.int64), np.zeros((3, 2), np.float32), digest),
    ]
    for coarse in bad:
        np.testing.assert_array_equal(shard.search(queries, 10, coarse=coarse)[1], own[1])
    # Probing fewer lists than the index's default is what the router asked for: fewer hits found.
    one_list = shard.search(queries, 10, coarse=CoarseQuantizer(shard.trained_bytes, L2).assign(queries, 1))
    np.testing.assert_array_equal(one_list[1], shard.search(queries, 10, nprobe=1)[1])


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_index_round_trips(kind: int, data) -> None:
    _, vectors, queries = data
    if kind == EXACT:
        empty = VectorIndex(DIM, L2)
    else:
        empty = VectorIndex.from_trained(
            DIM, L2, VectorIndex.train_empty(DIM, L2, indexer_pb2.IndexSpec(kind=kind), vectors)
        )
    copy = VectorIndex.deserialize(empty.serialize())
    assert (copy.kind, copy.count) == (kind, 0)
    assert (copy.search(queries, 5)[1] == -1).all()
    copy.add(np.arange(10), vectors[:10])
    assert copy.search(vectors[:1], 1)[1][0, 0] == 0


def test_from_trained_refuses_a_mismatched_index(data) -> None:
    _, vectors, _ = data
    trained = VectorIndex.train_empty(DIM, L2, indexer_pb2.IndexSpec(kind=IVF_FLAT), vectors)
    with pytest.raises(InvalidArgument, match="dimension"):
        VectorIndex.from_trained(DIM * 2, L2, trained)
    with pytest.raises(InvalidArgument, match="metric"):
        VectorIndex.from_trained(DIM, INNER_PRODUCT, trained)
    with pytest.raises(InvalidArgument, match="IVF_FLAT"):
        VectorIndex.from_trained(DIM, L2, trained, indexer_pb2.IndexSpec(kind=HNSW))
    with pytest.raises(InvalidArgument, match="not a FAISS index"):
        VectorIndex.from_trained(DIM, L2, b"garbage")


def test_training_settings_and_limits(data) -> None:
    _, vectors, _ = data
    assert default_pq_m(256) == 32 and default_pq_m(32) == 4 and default_pq_m(7) == 1
    assert default_nlist(1_000_000, 10_000_000) == 4000
    assert default_nlist(1_000_000, 3900) == 100  # at most one list per 39 training points
    with pytest.raises(InvalidArgument, match="pq_m 5 must divide"):
        VectorIndex.train_empty(DIM, L2, indexer_pb2.IndexSpec(kind=IVF_PQ, pq_m=5), vectors)
    with pytest.raises(FailedPrecondition, match="need at least 64 vectors"):
        VectorIndex.train_empty(DIM, L2, indexer_pb2.IndexSpec(kind=IVF_FLAT, nlist=64), vectors[:10])
    spec = indexer_pb2.IndexSpec(kind=IVF_FLAT, nlist=16, nprobe=3)
    index = VectorIndex.build(DIM, L2, spec, np.arange(500), vectors[:500])
    assert (index.settings.nlist, index.settings.nprobe) == (16, 3)
    hnsw = VectorIndex.build(DIM, L2, indexer_pb2.IndexSpec(kind=HNSW), np.arange(10), vectors[:10])
    assert (hnsw.settings.hnsw_m, hnsw.settings.ef_construction, hnsw.settings.ef_search) == (32, 200, 64)


def test_hnsw_tombstones_trigger_a_rebuild(data) -> None:
    rows, vectors, queries = data
    index = built(HNSW, L2, rows, vectors)
    index.remove(rows[:999])
    assert index.tombstones == 999 and not index.wants_rebuild
    index.remove(rows[999:1000])
    assert index.wants_rebuild
    rebuilt = index.rebuilt()
    assert rebuilt.tombstones == 0 and rebuilt.count == index.count == len(rows) - 1000
    _, found = rebuilt.search(queries, 10)
    assert not np.isin(found, rows[:1000]).any()
    assert recall(brute_force(L2, vectors[1000:], rows[1000:], queries, 10), found) >= 0.9


def test_bad_input_is_refused(data) -> None:
    _rows, vectors, queries = data
    index = VectorIndex(DIM, L2)
    with pytest.raises(InvalidArgument, match="dimension 32"):
        index.add([1], np.zeros((1, DIM + 1), dtype=np.float32))
    with pytest.raises(InvalidArgument, match="repeat"):
        index.add([1, 1], vectors[:2])
    with pytest.raises(InvalidArgument, match="non-negative"):
        index.add([-1], vectors[:1])
    with pytest.raises(InvalidArgument, match="k must be positive"):
        index.search(queries, 0)
    assert index.count == 0
    scores, found = index.search(queries[:2], 3)
    assert (found == -1).all() and np.isneginf(scores).all()


def test_searches_run_in_parallel_threads_with_the_same_results(data) -> None:
    rows, vectors, queries = data
    index = built(IVF_FLAT, COSINE, rows, vectors)
    expected = [index.search(q[None, :], 10)[1] for q in queries]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda q: index.search(q[None, :], 10)[1], queries))
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


def test_memory_estimate_grows_with_the_data(data) -> None:
    rows, vectors, _ = data
    small, large = VectorIndex(DIM, L2), VectorIndex(DIM, L2)
    small.add(rows[:100], vectors[:100])
    large.add(rows, vectors)
    assert large.memory_bytes() >= vectors.nbytes > small.memory_bytes()
