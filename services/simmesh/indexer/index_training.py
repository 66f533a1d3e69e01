"""Training a shard's approximate index: FAISS indexes built and trained, nlist and PQ defaults, nprobe calibrated."""

from __future__ import annotations

import math

import faiss
import numpy as np

from simmesh.indexer.faiss_threads import use_threads
from simmesh.indexer.index_kinds import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_HNSW_M,
    DEFAULT_PQ_NBITS,
    HNSW,
    INNER_PRODUCT,
    IVF_FLAT,
    IVF_KINDS,
    IVF_SQ8,
    KIND_NAMES,
    L2,
    Settings,
    apply_search_defaults,
    as_ivf,
    faiss_metric_of,
    settings_of,
)
from simmesh.indexer.vector_search import PQ_REFINE_FACTOR, exact_distances
from simmesh.kit import reasons
from simmesh.kit.errors import FailedPrecondition, InvalidArgument
from simmesh_proto.v1 import indexer_pb2

# nprobe is calibrated on the training sample until recall@10 reaches this (a margin above the
# 0.95 promised, since the full shard is larger than the calibration sample).
CALIBRATION_RECALL = 0.97
CALIBRATION_QUERIES = 200
CALIBRATION_BASE = 50_000
# FAISS k-means wants about this many training points per centroid.
POINTS_PER_CENTROID = 39
MAX_NLIST = 65_536


def default_nlist(total: int, training: int) -> int:
    """About 4 * sqrt(total) lists, at most one per POINTS_PER_CENTROID training vectors."""
    wanted = round(4 * math.sqrt(max(total, 1)))
    return int(max(1, min(wanted, training // POINTS_PER_CENTROID, MAX_NLIST)))


def default_pq_m(dim: int) -> int:
    """The most sub-quantisers that divide `dim` with at least 8 dimensions each (1 if none):
    8-dimensional sub-vectors keep recall reasonable, and FAISS's k-means is slow on fewer."""
    return max((m for m in range(1, dim // 8 + 1) if dim % m == 0), default=1)


def train_faiss(
    dim: int, metric: int, spec: indexer_pb2.IndexSpec, sample: np.ndarray, total: int
) -> tuple[faiss.Index, Settings]:
    kind = spec.kind
    faiss_metric = faiss_metric_of(metric)
    use_threads(len(sample))
    if kind == HNSW:
        m = spec.hnsw_m or DEFAULT_HNSW_M
        hnsw = faiss.IndexHNSWFlat(dim, m, faiss_metric)
        hnsw.hnsw.efConstruction = spec.ef_construction or DEFAULT_EF_CONSTRUCTION
        hnsw.hnsw.efSearch = spec.ef_search or DEFAULT_EF_SEARCH
        return hnsw, settings_of(hnsw)
    if kind not in IVF_KINDS:
        raise InvalidArgument(f"unsupported index kind {kind}", reason=reasons.INVALID_INDEX_KIND, field="index.kind")
    nlist = spec.nlist or default_nlist(total, len(sample))
    if nlist < 1:
        raise InvalidArgument(
            f"nlist must be positive, got {nlist}", reason=reasons.INVALID_INDEX_SPEC, field="index.nlist"
        )
    if len(sample) < nlist:
        raise FailedPrecondition(
            f"need at least {nlist} vectors to train {nlist} lists, have {len(sample)}",
            reason=reasons.NEED_MORE_SAMPLES,
        )
    quantizer = faiss.IndexFlat(dim, faiss_metric)
    index: faiss.IndexIVF
    if kind == IVF_FLAT:
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss_metric)
    elif kind == IVF_SQ8:
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss_metric)
    else:
        m = spec.pq_m or default_pq_m(dim)
        nbits = spec.pq_nbits or DEFAULT_PQ_NBITS
        if dim % m:
            raise InvalidArgument(
                f"pq_m {m} must divide the dimension {dim}", reason=reasons.INVALID_INDEX_SPEC, field="index.pq_m"
            )
        if not 1 <= nbits <= 16:
            raise InvalidArgument(
                f"pq_nbits must be 1..16, got {nbits}", reason=reasons.INVALID_INDEX_SPEC, field="index.pq_nbits"
            )
        if len(sample) < 2**nbits:
            raise FailedPrecondition(
                f"need at least {2**nbits} vectors to train {nbits}-bit codes, have {len(sample)}",
                reason=reasons.NEED_MORE_SAMPLES,
            )
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits, faiss_metric)
    index.train(sample)
    index.nprobe = spec.nprobe or calibrate_nprobe(index, sample, faiss_metric)
    return index, settings_of(index)


def calibrate_nprobe(
    index: faiss.IndexIVF, sample: np.ndarray, faiss_metric: int, target: float = CALIBRATION_RECALL
) -> int:
    """The fewest lists probed for recall@10 >= `target` against exact search, measured with
    held-out sample vectors as queries over the rest of the sample. Where the codes cap recall
    below the target (PQ), the nprobe after which doubling gains under 0.005."""
    queries = sample[:CALIBRATION_QUERIES]
    base = sample[CALIBRATION_QUERIES : CALIBRATION_QUERIES + CALIBRATION_BASE]
    k = 10
    if len(base) < 10 * k or len(queries) < 10:
        return max(1, index.nlist // 8)
    trial = as_ivf(faiss.clone_index(index))
    trial.add(base)
    metric = L2 if faiss_metric == faiss.METRIC_L2 else INNER_PRODUCT
    refine = PQ_REFINE_FACTOR if isinstance(faiss.downcast_index(index), faiss.IndexIVFPQ) else 1
    _, truth = faiss.knn(queries, base, k, metric=faiss_metric)
    previous_recall, previous_nprobe, nprobe = -1.0, 1, 1
    while True:
        trial.nprobe = nprobe
        _, found = trial.search(queries, k * refine)
        if refine > 1:
            distances = exact_distances(queries, base[np.maximum(found, 0)], metric)
            distances[found < 0] = np.inf if metric == L2 else -np.inf
            order = np.argsort(distances if metric == L2 else -distances, axis=1)[:, :k]
            found = np.take_along_axis(found, order, 1)
        recall = sum(len(set(t) & set(f)) for t, f in zip(truth.tolist(), found.tolist())) / truth.size
        if recall >= target or nprobe >= index.nlist:
            return nprobe
        if previous_recall >= 0 and recall - previous_recall < 0.005:
            return previous_nprobe
        previous_recall, previous_nprobe, nprobe = recall, nprobe, min(index.nlist, nprobe * 2)


def trained_faiss(
    dim: int, metric: int, trained: bytes, spec: indexer_pb2.IndexSpec | None
) -> tuple[faiss.Index, Settings]:
    """The empty trained FAISS index serialised in `trained`, checked against the collection and
    the spec; non-zero `spec.nprobe` / `spec.ef_search` override its defaults."""
    try:
        faiss_index = faiss.deserialize_index(np.frombuffer(trained, dtype=np.uint8))
    except RuntimeError as error:
        raise InvalidArgument(
            f"trained index is not a FAISS index: {error}", reason=reasons.INVALID_TRAINED_INDEX, field="trained_index"
        ) from None
    settings = settings_of(faiss_index)
    if faiss_index.d != dim:
        raise InvalidArgument(
            f"trained index has dimension {faiss_index.d}, the collection {dim}",
            reason=reasons.INVALID_TRAINED_INDEX,
            field="trained_index",
        )
    if faiss_index.metric_type != faiss_metric_of(metric):
        raise InvalidArgument(
            "trained index uses another metric than the collection",
            reason=reasons.INVALID_TRAINED_INDEX,
            field="trained_index",
        )
    if faiss_index.ntotal:
        faiss_index.reset()
    if spec is not None and spec.kind not in (settings.kind, indexer_pb2.INDEX_KIND_UNSPECIFIED):
        raise InvalidArgument(
            f"trained index is {KIND_NAMES[settings.kind]}, the spec asks for {KIND_NAMES.get(spec.kind, spec.kind)}",
            reason=reasons.INVALID_TRAINED_INDEX,
            field="index.kind",
        )
    if spec is not None:
        apply_search_defaults(faiss_index, settings.kind, spec.nprobe, spec.ef_search)
        settings = settings_of(faiss_index)
    return faiss_index, settings
