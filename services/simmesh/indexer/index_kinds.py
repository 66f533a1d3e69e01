"""The index kinds and metrics a shard's vectors use, their resolved settings, and FAISS's names for them."""

from __future__ import annotations

import dataclasses
import hashlib

import faiss
import numpy as np

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh_proto.v1 import indexer_pb2

EXACT = indexer_pb2.INDEX_KIND_EXACT
IVF_FLAT = indexer_pb2.INDEX_KIND_IVF_FLAT
IVF_SQ8 = indexer_pb2.INDEX_KIND_IVF_SQ8
IVF_PQ = indexer_pb2.INDEX_KIND_IVF_PQ
HNSW = indexer_pb2.INDEX_KIND_HNSW
IVF_KINDS = frozenset({IVF_FLAT, IVF_SQ8, IVF_PQ})

COSINE = indexer_pb2.METRIC_COSINE
L2 = indexer_pb2.METRIC_L2
INNER_PRODUCT = indexer_pb2.METRIC_INNER_PRODUCT

DEFAULT_HNSW_M = 32
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_EF_SEARCH = 64
DEFAULT_PQ_NBITS = 8
KIND_NAMES = {EXACT: "EXACT", IVF_FLAT: "IVF_FLAT", IVF_SQ8: "IVF_SQ8", IVF_PQ: "IVF_PQ", HNSW: "HNSW"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved settings of a built index (the spec's zeros replaced by chosen values)."""

    kind: indexer_pb2.IndexKind = EXACT
    nlist: int = 0
    nprobe: int = 0
    pq_m: int = 0
    pq_nbits: int = 0
    hnsw_m: int = 0
    ef_construction: int = 0
    ef_search: int = 0

    def to_spec(self) -> indexer_pb2.IndexSpec:
        return indexer_pb2.IndexSpec(**dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class Coarse:
    """Queries assigned to IVF lists ahead of the search (by the router, once for every shard):
    `lists[q]` are the lists query q probes and `distances[q]` its distances to their centroids,
    both (nq, nprobe), from the coarse quantiser `digest` names (see `quantizer_digest`)."""

    lists: np.ndarray
    distances: np.ndarray
    digest: str

    def fits(self, digest: str, nq: int, nlist: int) -> bool:
        """Whether this assigns `nq` queries to lists of the quantiser `digest` names, which has `nlist`."""
        lists = self.lists
        return (
            self.digest == digest
            and lists.ndim == 2
            and lists.shape[0] == nq
            and lists.shape[1] > 0
            and self.distances.shape == lists.shape
            and int(lists.min()) >= -1
            and int(lists.max()) < nlist
        )


def quantizer_digest(index: faiss.Index) -> str:
    """Names the coarse quantiser of an IVF index by its metric and centroids: two indexes
    with the same digest assign every query to the same lists."""
    ivf = faiss.extract_index_ivf(index)
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{ivf.metric_type}:{ivf.nlist}:{ivf.d}:".encode())
    digest.update(ivf.quantizer.reconstruct_n(0, ivf.nlist).tobytes())
    return digest.hexdigest()


def as_hnsw(index: faiss.Index | None) -> faiss.IndexHNSW:
    """The FAISS index of an HNSW collection, as the HNSW index it is."""
    assert isinstance(index, faiss.IndexHNSW), f"not an HNSW index: {type(index).__name__}"
    return index


def as_ivf(index: faiss.Index | None) -> faiss.IndexIVF:
    """The FAISS index of an IVF collection, as the IVF index it is."""
    assert isinstance(index, faiss.IndexIVF), f"not an IVF index: {type(index).__name__}"
    return index


def settings_of(index: faiss.Index) -> Settings:
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexHNSW):
        return Settings(
            kind=HNSW,
            hnsw_m=_hnsw_m(index.hnsw),
            ef_construction=index.hnsw.efConstruction,
            ef_search=index.hnsw.efSearch,
        )
    if isinstance(index, faiss.IndexIVFPQ):
        return Settings(kind=IVF_PQ, nlist=index.nlist, nprobe=index.nprobe, pq_m=index.pq.M, pq_nbits=index.pq.nbits)
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return Settings(kind=IVF_SQ8, nlist=index.nlist, nprobe=index.nprobe)
    if isinstance(index, faiss.IndexIVFFlat):
        return Settings(kind=IVF_FLAT, nlist=index.nlist, nprobe=index.nprobe)
    raise InvalidArgument(
        f"unsupported FAISS index {type(index).__name__}", reason=reasons.INVALID_TRAINED_INDEX, field="trained_index"
    )


def _hnsw_m(hnsw: faiss.HNSW) -> int:
    return hnsw.nb_neighbors(1)  # type: ignore[attr-defined]  # faiss's stubs leave out nb_neighbors


def apply_search_defaults(index: faiss.Index, kind: int, nprobe: int, ef_search: int) -> None:
    if kind == HNSW and ef_search:
        as_hnsw(faiss.downcast_index(index)).hnsw.efSearch = ef_search
    elif kind in IVF_KINDS and nprobe:
        faiss.extract_index_ivf(index).nprobe = nprobe


def faiss_metric_of(metric: int) -> int:
    return faiss.METRIC_L2 if metric == L2 else faiss.METRIC_INNER_PRODUCT


def serialize_faiss(index: faiss.Index) -> bytes:
    return faiss.serialize_index(index).tobytes()


def faiss_memory_parts(index: faiss.Index | None, kind: int, dim: int, hnsw_m: int) -> tuple[int, int]:
    """An estimate of the memory a shard's FAISS index of `kind` takes: (codes, ids) in bytes,
    codes counting the coarse quantiser and an HNSW graph's links; (0, 0) without one."""
    if index is None:
        return 0, 0
    n = index.ntotal
    if kind == HNSW:
        return n * (4 * dim + 2 * hnsw_m * 4 + 16), 0
    ivf = as_ivf(index)
    return ivf.nlist * dim * 4 + n * ivf.code_size, n * 8
