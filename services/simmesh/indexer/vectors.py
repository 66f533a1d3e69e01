"""One shard's vectors: a row-addressed vector store and the FAISS index that searches it.

Rows are int64 ids the caller assigns (the shard store hands them out densely from 0). Every
vector lives in `VectorStore`, a numpy array with amortised growth, so exact search, filtered
brute force and re-training read the vectors without asking FAISS to reconstruct them. On top
of it, `VectorIndex` keeps the approximate index of the collection's `IndexKind`:

- EXACT: no FAISS index at all; FAISS's brute-force kernels (`knn_inner_product`,
  `knn_L2sqr`) run over the store's array, so the vectors are held once.
- IVF_FLAT, IVF_SQ8, IVF_PQ: the IVF index holds the rows as its ids (`add_with_ids`,
  `remove_ids`).
- HNSW: FAISS cannot remove from a graph, so the index addresses its own positions; a position
  -> row table translates hits, a removed position becomes a tombstone that searches leave out
  through an `IDSelectorBitmap`, and `wants_rebuild` turns true once tombstones pile up.

Metrics: COSINE normalises vectors on the way in and queries on search, then uses the inner
product; L2 scores are minus the squared distance; INNER_PRODUCT scores are the product. Higher
is always better; a missing hit has row -1 and score -inf.

Threads: FAISS releases the GIL inside every search, add and train, so callers run searches
through threads (`asyncio.to_thread`) and they proceed in parallel. FAISS also spreads one call
over an OpenMP team, whose size libgomp keeps per calling thread: a setting made in the main
thread never reaches worker threads. So every call here sets it for its own thread: 1 for
fewer than SMALL_BATCH queries or vectors (measured on 2 cores: a single exact query over 20k
vectors took 2 ms alone and 14 ms split over 2 threads, and concurrent single queries are
better spread over cores by the callers' threads), and `configure_threads(n)` (default: the
cores this process may use) for larger batches, adds and training. A `VectorIndex` allows
concurrent searches but no search concurrent with a mutation; the shard store's lock provides
that.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
from collections.abc import Collection, Sequence
from typing import BinaryIO

import faiss
import numpy as np
from simmesh_proto.v1 import indexer_pb2

from simmesh.kit.errors import FailedPrecondition, InvalidArgument

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
# nprobe is calibrated on the training sample until recall@10 reaches this (a margin above the
# 0.95 promised, since the full shard is larger than the calibration sample).
CALIBRATION_RECALL = 0.97
CALIBRATION_QUERIES = 200
CALIBRATION_BASE = 50_000
# FAISS k-means wants about this many training points per centroid.
POINTS_PER_CENTROID = 39
MAX_NLIST = 65_536
# HNSW is rebuilt once tombstones exceed this share of its positions (and at least MIN count).
TOMBSTONE_REBUILD_SHARE = 0.2
TOMBSTONE_REBUILD_MIN = 1_000
# IVF_PQ fetches this many times k hits and re-ranks them exactly with the stored vectors.
PQ_REFINE_FACTOR = 8
# Candidate sets at most this large are always searched by brute force over their vectors.
BRUTE_FORCE_MIN = 4_096
_ADD_CHUNK = 65_536
_FORMAT = b"SMVI1\n"
_KIND_NAMES = {EXACT: "EXACT", IVF_FLAT: "IVF_FLAT", IVF_SQ8: "IVF_SQ8", IVF_PQ: "IVF_PQ", HNSW: "HNSW"}


# Calls with fewer queries (or vectors) than this run FAISS on one OpenMP thread.
SMALL_BATCH = 20


class _OpenMP:
    """The OpenMP team size for batch work (0: the cores this process may use)."""

    batch_threads = 0

    @classmethod
    def use(cls, work_items: int) -> None:
        """Sizes the calling thread's team for a call over `work_items` queries or vectors."""
        faiss.omp_set_num_threads(1 if work_items < SMALL_BATCH else (cls.batch_threads or _cores()))


def use_threads(work_items: int) -> None:
    """Sizes the calling thread's OpenMP team for a FAISS call over `work_items` queries or
    vectors (see the module docstring)."""
    _OpenMP.use(work_items)


def configure_threads(threads: int = 0) -> int:
    """Sets how many OpenMP threads FAISS uses for batches, adds and training: `threads`, or
    the cores this process may use when 0. Returns the number in effect."""
    _OpenMP.batch_threads = max(0, threads)
    return _OpenMP.batch_threads or _cores()


def _cores() -> int:
    return len(os.sched_getaffinity(0))


class VectorStore:
    """Vectors addressed by row: a float32 array that grows by doubling, the row of each slot,
    and a dense row -> slot table (-1 where the row is absent). Removal moves the last slot into
    the hole, so the live vectors are always `vectors[:count]`."""

    def __init__(self, dim: int, capacity: int = 0) -> None:
        self.dim = dim
        self.count = 0
        self._data = np.empty((capacity, dim), dtype=np.float32)
        self._rows = np.empty(capacity, dtype=np.int64)
        self._slot_of = np.full(0, -1, dtype=np.int64)

    @property
    def rows(self) -> np.ndarray:
        """The live rows, in slot order (a view: valid until the next mutation)."""
        return self._rows[: self.count]

    @property
    def vectors(self) -> np.ndarray:
        """The live vectors, in slot order (a view: valid until the next mutation)."""
        return self._data[: self.count]

    @property
    def row_bound(self) -> int:
        """One more than the largest row ever stored."""
        return len(self._slot_of)

    def slots(self, rows: np.ndarray) -> np.ndarray:
        out = np.full(len(rows), -1, dtype=np.int64)
        inside = (rows >= 0) & (rows < len(self._slot_of))
        out[inside] = self._slot_of[rows[inside]]
        return out

    def contains(self, rows: np.ndarray) -> np.ndarray:
        return self.slots(rows) >= 0

    def get(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of `rows` (a copy); every row must be present."""
        slots = self.slots(rows)
        if (slots < 0).any():
            raise KeyError(f"rows not stored: {rows[slots < 0][:10].tolist()}")
        return self._data[slots]

    def put(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Stores `vectors` under `rows` (distinct, non-negative), replacing present rows."""
        slots = self.slots(rows)
        present = slots >= 0
        self._data[slots[present]] = vectors[present]
        new_rows = rows[~present]
        if not len(new_rows):
            return
        start, end = self.count, self.count + len(new_rows)
        self._reserve(end)
        self._data[start:end] = vectors[~present]
        self._rows[start:end] = new_rows
        bound = int(new_rows.max()) + 1
        if bound > len(self._slot_of):
            grown = np.full(max(bound, 2 * len(self._slot_of)), -1, dtype=np.int64)
            grown[: len(self._slot_of)] = self._slot_of
            self._slot_of = grown
        self._slot_of[new_rows] = np.arange(start, end, dtype=np.int64)
        self.count = end

    def delete(self, rows: np.ndarray) -> np.ndarray:
        """Removes the present ones of `rows`; returns those."""
        slots = self.slots(rows)
        gone = rows[slots >= 0]
        slots = slots[slots >= 0]
        if len(slots) > 256 and len(slots) > self.count // 64:
            keep = np.ones(self.count, dtype=bool)
            keep[slots] = False
            kept = int(keep.sum())
            self._data[:kept] = self._data[: self.count][keep]
            self._rows[:kept] = self._rows[: self.count][keep]
            self._slot_of[gone] = -1
            self._slot_of[self._rows[:kept]] = np.arange(kept, dtype=np.int64)
            self.count = kept
            return gone
        for row in gone.tolist():
            slot = self._slot_of[row]
            last = self.count - 1
            if slot != last:
                moved = self._rows[last]
                self._data[slot] = self._data[last]
                self._rows[slot] = moved
                self._slot_of[moved] = slot
            self._slot_of[row] = -1
            self.count = last
        return gone

    def memory_bytes(self) -> int:
        return self._data.nbytes + self._rows.nbytes + self._slot_of.nbytes

    def _reserve(self, needed: int) -> None:
        if needed <= len(self._data):
            return
        capacity = max(needed, 2 * len(self._data), 1024)
        data = np.empty((capacity, self.dim), dtype=np.float32)
        data[: self.count] = self._data[: self.count]
        rows = np.empty(capacity, dtype=np.int64)
        rows[: self.count] = self._rows[: self.count]
        self._data, self._rows = data, rows


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved settings of a built index (the spec's zeros replaced by chosen values)."""

    kind: int = EXACT
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


def quantizer_digest(index: faiss.Index) -> str:
    """Names the coarse quantiser of an IVF index by its metric and centroids: two indexes
    with the same digest assign every query to the same lists."""
    ivf = faiss.extract_index_ivf(index)
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{ivf.metric_type}:{ivf.nlist}:{ivf.d}:".encode())
    digest.update(ivf.quantizer.reconstruct_n(0, ivf.nlist).tobytes())
    return digest.hexdigest()


class VectorIndex:
    """The vectors of one shard and their index; see the module docstring."""

    def __init__(self, dim: int, metric: int) -> None:
        if dim <= 0:
            raise InvalidArgument(f"dimension must be positive, got {dim}", reason="INVALID_DIMENSION",
                                  field="dimension")
        if metric not in (COSINE, L2, INNER_PRODUCT):
            raise InvalidArgument(f"unsupported metric {metric}", reason="INVALID_METRIC", field="metric")
        self.dim = dim
        self.metric = metric
        self.settings = Settings()
        self.store = VectorStore(dim)
        self._index: faiss.Index | None = None
        self._trained: bytes = b""
        # HNSW only: position -> row (-1 once removed) and row -> position (-1 when absent).
        self._labels = np.empty(0, dtype=np.int64)
        self._position_of = np.full(0, -1, dtype=np.int64)
        self._tombstones = 0
        self._digest = ""

    # ----------------------------------------------------------------------------- properties

    @property
    def kind(self) -> int:
        return self.settings.kind

    @property
    def count(self) -> int:
        return self.store.count

    @property
    def is_trained(self) -> bool:
        return self.kind != EXACT

    @property
    def tombstones(self) -> int:
        return self._tombstones

    @property
    def wants_rebuild(self) -> bool:
        """True when removed HNSW positions are numerous enough that a rebuild pays off."""
        return self._tombstones >= max(TOMBSTONE_REBUILD_MIN, TOMBSTONE_REBUILD_SHARE * len(self._labels))

    @property
    def coarse_digest(self) -> str:
        """The `quantizer_digest` of an IVF index; empty for the other kinds."""
        if not self._digest and self._index is not None and self.kind in IVF_KINDS:
            self._digest = quantizer_digest(self._index)
        return self._digest

    @property
    def trained_bytes(self) -> bytes:
        """The trained but empty FAISS index (for `from_trained` on other shards); empty for EXACT."""
        return self._trained

    # ------------------------------------------------------------------------------- mutation

    def add(self, rows: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Stores `vectors` under `rows`, replacing the vectors of rows already present."""
        rows = _as_rows(rows)
        vectors = self.prepare(vectors, what="vectors")
        if len(rows) != len(vectors):
            raise InvalidArgument(f"{len(rows)} rows for {len(vectors)} vectors", reason="ROW_COUNT_MISMATCH")
        if len(np.unique(rows)) != len(rows):
            raise InvalidArgument("rows repeat within one add", reason="DUPLICATE_ROW")
        if not len(rows):
            return
        _OpenMP.use(len(rows))
        present = rows[self.store.contains(rows)]
        if len(present):
            self._unindex(present)
        self.store.put(rows, vectors)
        self._index_rows(rows, vectors)

    def remove(self, rows: Sequence[int] | np.ndarray) -> int:
        """Removes the present ones of `rows`; returns how many were removed."""
        rows = _as_rows(rows)
        present = rows[self.store.contains(rows)]
        if len(present):
            _OpenMP.use(SMALL_BATCH)
            self._unindex(present)
            self.store.delete(present)
        return len(present)

    def _index_rows(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        if self._index is None:
            return
        if self.kind == HNSW:
            start = len(self._labels)
            self._index.add(vectors)
            self._labels = np.concatenate([self._labels, rows])
            bound = int(rows.max()) + 1
            if bound > len(self._position_of):
                grown = np.full(max(bound, 2 * len(self._position_of)), -1, dtype=np.int64)
                grown[: len(self._position_of)] = self._position_of
                self._position_of = grown
            self._position_of[rows] = np.arange(start, start + len(rows), dtype=np.int64)
        else:
            self._index.add_with_ids(vectors, rows)

    def _unindex(self, rows: np.ndarray) -> None:
        if self._index is None:
            return
        if self.kind == HNSW:
            positions = self._position_of[rows]
            self._labels[positions] = -1
            self._position_of[rows] = -1
            self._tombstones += len(positions)
        else:
            self._index.remove_ids(rows)

    # --------------------------------------------------------------------------------- search

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        nprobe: int = 0,
        ef_search: int = 0,
        candidate_ids: Collection[int] | np.ndarray | None = None,
        exclude: Sequence[Collection[int]] | None = None,
        coarse: Coarse | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows per query: `(scores, rows)`, both (len(queries), k), best first,
        padded with score -inf and row -1.

        `candidate_ids` restricts the search to those rows (searched by brute force over their
        vectors when that is cheaper than the index, else through the index with an ID
        selector); `exclude[i]` lists rows left out of query i's hits. `nprobe` / `ef_search`
        override the index's defaults for this call. An IVF index scans the lists of `coarse`
        (and as many as it holds per query) instead of assigning the queries itself, when its
        quantiser is the one `coarse.digest` names."""
        if k <= 0:
            raise InvalidArgument(f"k must be positive, got {k}", reason="INVALID_K", field="k")
        queries = self.prepare(queries, what="queries")
        nq = len(queries)
        extra = max((len(e) for e in exclude), default=0) if exclude else 0
        if candidate_ids is not None:
            candidates = _as_rows(candidate_ids)
            candidates = candidates[self.store.contains(candidates)]
            fetch = min(k + extra, len(candidates))
        else:
            candidates = None
            fetch = min(k + extra, self.count)
        if fetch == 0 or nq == 0:
            return _empty_result(nq, k)
        if coarse is not None and not self._fits(coarse, nq):
            coarse = None
        _OpenMP.use(nq)
        if candidates is not None and self._brute_force_pays(len(candidates), nq, nprobe):
            distances, rows = self._search_subset(queries, fetch, candidates)
        elif self.kind == IVF_PQ:
            refine = min(fetch * PQ_REFINE_FACTOR, self.count)
            _, rows = self._search_index(queries, refine, nprobe, ef_search, candidates, coarse)
            distances, rows = self._rerank(queries, rows, fetch)
        else:
            distances, rows = self._search_index(queries, fetch, nprobe, ef_search, candidates, coarse)
        scores = -distances if self.metric == L2 else distances
        scores[rows < 0] = -np.inf
        if exclude:
            scores, rows = _drop_excluded(scores, rows, exclude)
        return _fit(scores, rows, k)

    def _fits(self, coarse: Coarse, nq: int) -> bool:
        """Whether `coarse` assigns `nq` queries to lists of this index's quantiser."""
        lists = coarse.lists
        return (coarse.digest == self.coarse_digest and lists.ndim == 2 and lists.shape[0] == nq
                and lists.shape[1] > 0 and coarse.distances.shape == lists.shape
                and int(lists.min()) >= -1 and int(lists.max()) < self._index.nlist)

    def prepare(self, vectors: np.ndarray, *, what: str = "vectors") -> np.ndarray:
        """`vectors` as a C-contiguous float32 (n, dim) copy, normalised for COSINE."""
        array = np.array(vectors, dtype=np.float32, copy=True, order="C")
        if array.ndim == 1 and array.size == self.dim:
            array = array.reshape(1, self.dim)
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise InvalidArgument(f"{what} must have dimension {self.dim}, got shape {array.shape}",
                                  reason="DIMENSION_MISMATCH", field=what)
        if self.metric == COSINE and len(array):
            faiss.normalize_L2(array)
        return array

    def _brute_force_pays(self, candidates: int, nq: int, nprobe: int) -> bool:
        """Whether gathering the candidates' vectors costs less than searching the index."""
        if self.kind == EXACT:
            return nq >= 20 or candidates <= self.count // 8
        if candidates <= BRUTE_FORCE_MIN:
            return True
        if self.kind == HNSW:
            return candidates <= self.count // 50
        nlist = max(1, self._index.nlist)
        probes = min(nlist, nprobe or self._index.nprobe)
        return candidates <= self.count * probes // nlist

    def _rerank(self, queries: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best of `rows` per query by exact distance to the stored vectors."""
        slots = self.store.slots(rows.reshape(-1))
        vectors = self.store.vectors[np.maximum(slots, 0)]
        distances = exact_distances(queries, vectors.reshape(*rows.shape, self.dim), self.metric)
        distances[rows < 0] = np.inf if self.metric == L2 else -np.inf
        order = np.argsort(distances if self.metric == L2 else -distances, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(distances, order, 1), np.take_along_axis(rows, order, 1)

    def _search_subset(self, queries: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact search among `rows`, over a gathered copy of their vectors."""
        distances, local = self._knn(queries, self.store.get(rows), k)
        return distances, np.where(local >= 0, rows[np.maximum(local, 0)], -1)

    def _search_index(self, queries: np.ndarray, k: int, nprobe: int, ef_search: int,
                      candidates: np.ndarray | None, coarse: Coarse | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == EXACT:
            if candidates is None:
                distances, slots = self._knn(queries, self.store.vectors, k)
            else:
                bitmap = _bitmap(self.store.slots(candidates), self.store.count)
                selector = faiss.IDSelectorBitmap(self.store.count, faiss.swig_ptr(bitmap))
                distances, slots = self._knn(queries, self.store.vectors, k, selector)
            return distances, np.where(slots >= 0, self.store.rows[np.maximum(slots, 0)], -1)
        if self.kind == HNSW:
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(ef_search or self._index.hnsw.efSearch, k)
            if candidates is not None:
                allowed = self._position_of[candidates]
            elif self._tombstones:
                allowed = np.flatnonzero(self._labels >= 0)
            else:
                allowed = None
            if allowed is not None:
                bitmap = _bitmap(allowed, len(self._labels))
                params.sel = faiss.IDSelectorBitmap(len(self._labels), faiss.swig_ptr(bitmap))
            distances, positions = self._index.search(queries, k, params=params)
            return distances, np.where(positions >= 0, self._labels[np.maximum(positions, 0)], -1)
        params = faiss.SearchParametersIVF()
        params.nprobe = min(self._index.nlist, nprobe or self._index.nprobe)
        if candidates is not None:
            bitmap = _bitmap(candidates, self.store.row_bound)
            params.sel = faiss.IDSelectorBitmap(self.store.row_bound, faiss.swig_ptr(bitmap))
        if coarse is None:
            return self._index.search(queries, k, params=params)
        lists = np.ascontiguousarray(coarse.lists, dtype=np.int64)
        centroid_distances = np.ascontiguousarray(coarse.distances, dtype=np.float32)
        params.nprobe = lists.shape[1]
        distances = np.empty((len(queries), k), dtype=np.float32)
        labels = np.empty((len(queries), k), dtype=np.int64)
        self._index.search_preassigned_c(
            len(queries), faiss.swig_ptr(queries), k, faiss.swig_ptr(lists), faiss.swig_ptr(centroid_distances),
            faiss.swig_ptr(distances), faiss.swig_ptr(labels), False, params)
        return distances, labels

    def _knn(self, queries: np.ndarray, base: np.ndarray, k: int,
             selector: faiss.IDSelector | None = None) -> tuple[np.ndarray, np.ndarray]:
        nq, nb = len(queries), len(base)
        distances = np.empty((nq, k), dtype=np.float32)
        labels = np.empty((nq, k), dtype=np.int64)
        base = np.ascontiguousarray(base)
        args = (faiss.swig_ptr(queries), faiss.swig_ptr(base), self.dim, nq, nb, k,
                faiss.swig_ptr(distances), faiss.swig_ptr(labels))
        if self.metric == L2:
            faiss.knn_L2sqr(*args, None, selector)
        else:
            faiss.knn_inner_product(*args, selector)
        return distances, labels

    # ------------------------------------------------------------------------------ training

    def train(self, spec: indexer_pb2.IndexSpec, training_vectors: np.ndarray | None = None, *,
              trained: bytes = b"") -> VectorIndex:
        """A new index of `spec.kind` holding this index's vectors. Trains on
        `training_vectors` (default: the stored vectors) unless `trained` gives an already
        trained empty index. The caller must keep this index unchanged while it runs; see
        `export` and `build` to train off a copy instead."""
        rows, vectors = self.export()
        return VectorIndex.build(self.dim, self.metric, spec, rows, vectors,
                                 training_vectors=training_vectors, trained=trained)

    def rebuilt(self) -> VectorIndex:
        """The same kind and settings, rebuilt from the stored vectors (drops HNSW tombstones)."""
        rows, vectors = self.export()
        return VectorIndex.build(self.dim, self.metric, self.settings.to_spec(), rows, vectors,
                                 trained=self._trained)

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the live rows and their (normalised) vectors."""
        return self.store.rows.copy(), self.store.vectors.copy()

    @classmethod
    def build(cls, dim: int, metric: int, spec: indexer_pb2.IndexSpec, rows: np.ndarray, vectors: np.ndarray, *,
              training_vectors: np.ndarray | None = None, trained: bytes = b"") -> VectorIndex:
        """An index of `spec.kind` over `rows`/`vectors` (already prepared: see `export`)."""
        if trained:
            index = cls.from_trained(dim, metric, trained, spec)
        elif spec.kind in (EXACT, indexer_pb2.INDEX_KIND_UNSPECIFIED):
            index = cls(dim, metric)
        else:
            index = cls(dim, metric)
            sample = vectors if training_vectors is None else index.prepare(training_vectors, what="training_vectors")
            faiss_index, settings = _train(dim, metric, spec, sample, total=max(len(vectors), len(sample)))
            index._adopt(faiss_index, settings)
        index._fill(rows, vectors)
        return index

    @classmethod
    def from_trained(cls, dim: int, metric: int, trained: bytes,
                     spec: indexer_pb2.IndexSpec | None = None) -> VectorIndex:
        """An empty index around a trained FAISS index serialised by another one
        (`trained_bytes`); non-zero `spec.nprobe` / `spec.ef_search` override its defaults."""
        try:
            faiss_index = faiss.deserialize_index(np.frombuffer(trained, dtype=np.uint8))
        except RuntimeError as error:
            raise InvalidArgument(f"trained index is not a FAISS index: {error}", reason="INVALID_TRAINED_INDEX",
                                  field="trained_index") from None
        settings = _settings_of(faiss_index)
        if faiss_index.d != dim:
            raise InvalidArgument(f"trained index has dimension {faiss_index.d}, the collection {dim}",
                                  reason="INVALID_TRAINED_INDEX", field="trained_index")
        if faiss_index.metric_type != _faiss_metric(metric):
            raise InvalidArgument("trained index uses another metric than the collection",
                                  reason="INVALID_TRAINED_INDEX", field="trained_index")
        if faiss_index.ntotal:
            faiss_index.reset()
        if spec is not None and spec.kind not in (settings.kind, indexer_pb2.INDEX_KIND_UNSPECIFIED):
            raise InvalidArgument(f"trained index is {_KIND_NAMES[settings.kind]}, the spec asks for "
                                  f"{_KIND_NAMES.get(spec.kind, spec.kind)}", reason="INVALID_TRAINED_INDEX",
                                  field="index.kind")
        if spec is not None:
            _apply_search_defaults(faiss_index, settings.kind, spec.nprobe, spec.ef_search)
            settings = _settings_of(faiss_index)
        index = cls(dim, metric)
        index._adopt(faiss_index, settings)
        return index

    @staticmethod
    def train_empty(dim: int, metric: int, spec: indexer_pb2.IndexSpec, training_vectors: np.ndarray,
                    total: int = 0) -> bytes:
        """Trains an empty index of `spec.kind` on `training_vectors` and returns it serialised,
        for `from_trained` on every shard. `total` is the collection's size (sets nlist)."""
        prepared = VectorIndex(dim, metric).prepare(training_vectors, what="training_vectors")
        faiss_index, _ = _train(dim, metric, spec, prepared, total=max(total, len(prepared)))
        return _serialize_faiss(faiss_index)

    def _adopt(self, faiss_index: faiss.Index, settings: Settings) -> None:
        self._index = faiss_index
        self._digest = ""
        self.settings = settings
        self._trained = _serialize_faiss(faiss_index) if faiss_index.ntotal == 0 else self._trained

    def _fill(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        _OpenMP.use(len(rows))
        self.store = VectorStore(self.dim, capacity=len(rows))
        for start in range(0, len(rows), _ADD_CHUNK):
            chunk = slice(start, start + _ADD_CHUNK)
            self.store.put(rows[chunk], vectors[chunk])
            self._index_rows(rows[chunk], vectors[chunk])

    # ------------------------------------------------------------------------- serialisation

    def serialize(self) -> bytes:
        buffer = io.BytesIO()
        self.dump(buffer)
        return buffer.getvalue()

    @classmethod
    def deserialize(cls, data: bytes) -> VectorIndex:
        return cls.load(io.BytesIO(data))

    def dump(self, out: BinaryIO) -> None:
        """Writes the index: a JSON header, then the FAISS index, the HNSW position table, the
        trained empty index, the rows and the vectors, each as a length-prefixed section."""
        header = {"dim": self.dim, "metric": self.metric, "settings": dataclasses.asdict(self.settings),
                  "count": self.count, "tombstones": self._tombstones}
        sections = [
            json.dumps(header).encode(),
            _serialize_faiss(self._index) if self._index is not None else b"",
            self._labels,
            self._trained,
            self.store.rows,
            self.store.vectors,
        ]
        out.write(_FORMAT)
        for section in sections:
            if isinstance(section, np.ndarray):
                view = memoryview(section).cast("B") if section.size else memoryview(b"")
            else:
                view = memoryview(section)
            out.write(len(view).to_bytes(8, "little"))
            out.write(view)

    @classmethod
    def load(cls, source: BinaryIO) -> VectorIndex:
        if source.read(len(_FORMAT)) != _FORMAT:
            raise ValueError("not a serialised VectorIndex")
        header_bytes, faiss_bytes, labels, trained, rows, vectors = (_read_section(source) for _ in range(6))
        header = json.loads(header_bytes)
        index = cls(header["dim"], header["metric"])
        index.settings = Settings(**header["settings"])
        index._trained = bytes(trained)
        if faiss_bytes:
            index._index = faiss.deserialize_index(np.frombuffer(faiss_bytes, dtype=np.uint8))
        rows = np.frombuffer(rows, dtype=np.int64)
        index.store = VectorStore(index.dim, capacity=len(rows))
        index.store.put(rows, np.frombuffer(vectors, dtype=np.float32).reshape(len(rows), index.dim))
        if index.kind == HNSW:
            index._labels = np.frombuffer(labels, dtype=np.int64).copy()
            live = np.flatnonzero(index._labels >= 0)
            index._position_of = np.full(index.store.row_bound, -1, dtype=np.int64)
            index._position_of[index._labels[live]] = live
            index._tombstones = int(header["tombstones"])
        return index

    def memory_bytes(self) -> int:
        """An estimate of the memory the index and its vectors take."""
        total = self.store.memory_bytes() + self._labels.nbytes + self._position_of.nbytes + len(self._trained)
        if self._index is None:
            return total
        n = self._index.ntotal
        if self.kind == HNSW:
            return total + n * (4 * self.dim + 2 * self.settings.hnsw_m * 4 + 16)
        code_size = self._index.code_size
        return total + self._index.nlist * self.dim * 4 + n * (code_size + 8)


# ------------------------------------------------------------------------------------ training


def default_nlist(total: int, training: int) -> int:
    """About 4 * sqrt(total) lists, at most one per POINTS_PER_CENTROID training vectors."""
    wanted = round(4 * math.sqrt(max(total, 1)))
    return int(max(1, min(wanted, training // POINTS_PER_CENTROID, MAX_NLIST)))


def default_pq_m(dim: int) -> int:
    """The most sub-quantisers that divide `dim` with at least 8 dimensions each (1 if none):
    8-dimensional sub-vectors keep recall reasonable, and FAISS's k-means is slow on fewer."""
    return max((m for m in range(1, dim // 8 + 1) if dim % m == 0), default=1)


def _train(dim: int, metric: int, spec: indexer_pb2.IndexSpec, sample: np.ndarray,
           total: int) -> tuple[faiss.Index, Settings]:
    kind = spec.kind
    faiss_metric = _faiss_metric(metric)
    _OpenMP.use(len(sample))
    if kind == HNSW:
        m = spec.hnsw_m or DEFAULT_HNSW_M
        index = faiss.IndexHNSWFlat(dim, m, faiss_metric)
        index.hnsw.efConstruction = spec.ef_construction or DEFAULT_EF_CONSTRUCTION
        index.hnsw.efSearch = spec.ef_search or DEFAULT_EF_SEARCH
        return index, _settings_of(index)
    if kind not in IVF_KINDS:
        raise InvalidArgument(f"unsupported index kind {kind}", reason="INVALID_INDEX_KIND", field="index.kind")
    nlist = spec.nlist or default_nlist(total, len(sample))
    if nlist < 1:
        raise InvalidArgument(f"nlist must be positive, got {nlist}", reason="INVALID_INDEX_SPEC", field="index.nlist")
    if len(sample) < nlist:
        raise FailedPrecondition(f"need at least {nlist} vectors to train {nlist} lists, have {len(sample)}",
                                 reason="NEED_MORE_SAMPLES")
    quantizer = faiss.IndexFlat(dim, faiss_metric)
    if kind == IVF_FLAT:
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss_metric)
    elif kind == IVF_SQ8:
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss_metric)
    else:
        m = spec.pq_m or default_pq_m(dim)
        nbits = spec.pq_nbits or DEFAULT_PQ_NBITS
        if dim % m:
            raise InvalidArgument(f"pq_m {m} must divide the dimension {dim}", reason="INVALID_INDEX_SPEC",
                                  field="index.pq_m")
        if not 1 <= nbits <= 16:
            raise InvalidArgument(f"pq_nbits must be 1..16, got {nbits}", reason="INVALID_INDEX_SPEC",
                                  field="index.pq_nbits")
        if len(sample) < 2**nbits:
            raise FailedPrecondition(f"need at least {2**nbits} vectors to train {nbits}-bit codes, have "
                                     f"{len(sample)}", reason="NEED_MORE_SAMPLES")
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits, faiss_metric)
    index.train(sample)
    index.nprobe = spec.nprobe or calibrate_nprobe(index, sample, faiss_metric)
    return index, _settings_of(index)


def calibrate_nprobe(index: faiss.IndexIVF, sample: np.ndarray, faiss_metric: int,
                     target: float = CALIBRATION_RECALL) -> int:
    """The fewest lists probed for recall@10 >= `target` against exact search, measured with
    held-out sample vectors as queries over the rest of the sample. Where the codes cap recall
    below the target (PQ), the nprobe after which doubling gains under 0.005."""
    queries = sample[:CALIBRATION_QUERIES]
    base = sample[CALIBRATION_QUERIES: CALIBRATION_QUERIES + CALIBRATION_BASE]
    k = 10
    if len(base) < 10 * k or len(queries) < 10:
        return max(1, index.nlist // 8)
    trial = faiss.clone_index(index)
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


def exact_distances(queries: np.ndarray, vectors: np.ndarray, metric: int) -> np.ndarray:
    """FAISS-style distances of each query (nq, d) to its own vectors (nq, m, d): squared L2
    for L2, the inner product otherwise."""
    products = np.einsum("qd,qmd->qm", queries, vectors)
    if metric != L2:
        return products
    return (queries * queries).sum(1)[:, None] - 2 * products + np.einsum("qmd,qmd->qm", vectors, vectors)


def _settings_of(index: faiss.Index) -> Settings:
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexHNSW):
        return Settings(kind=HNSW, hnsw_m=index.hnsw.nb_neighbors(1), ef_construction=index.hnsw.efConstruction,
                        ef_search=index.hnsw.efSearch)
    if isinstance(index, faiss.IndexIVFPQ):
        return Settings(kind=IVF_PQ, nlist=index.nlist, nprobe=index.nprobe, pq_m=index.pq.M, pq_nbits=index.pq.nbits)
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return Settings(kind=IVF_SQ8, nlist=index.nlist, nprobe=index.nprobe)
    if isinstance(index, faiss.IndexIVFFlat):
        return Settings(kind=IVF_FLAT, nlist=index.nlist, nprobe=index.nprobe)
    raise InvalidArgument(f"unsupported FAISS index {type(index).__name__}", reason="INVALID_TRAINED_INDEX",
                          field="trained_index")


def _apply_search_defaults(index: faiss.Index, kind: int, nprobe: int, ef_search: int) -> None:
    if kind == HNSW and ef_search:
        faiss.downcast_index(index).hnsw.efSearch = ef_search
    elif kind in IVF_KINDS and nprobe:
        faiss.extract_index_ivf(index).nprobe = nprobe


# -------------------------------------------------------------------------------------- helpers


def _faiss_metric(metric: int) -> int:
    return faiss.METRIC_L2 if metric == L2 else faiss.METRIC_INNER_PRODUCT


def _serialize_faiss(index: faiss.Index) -> bytes:
    return faiss.serialize_index(index).tobytes()


def _read_section(source: BinaryIO) -> bytes:
    size = int.from_bytes(source.read(8), "little")
    data = source.read(size)
    if len(data) != size:
        raise ValueError("serialised VectorIndex is truncated")
    return data


def _as_rows(rows: Collection[int] | np.ndarray) -> np.ndarray:
    array = np.fromiter(rows, dtype=np.int64) if isinstance(rows, (set, frozenset)) else np.asarray(rows)
    array = array.astype(np.int64, copy=False).reshape(-1)
    if len(array) and array.min() < 0:
        raise InvalidArgument("rows must be non-negative", reason="INVALID_ROW")
    return array


def _bitmap(members: np.ndarray, bound: int) -> np.ndarray:
    """An IDSelectorBitmap's bitmap (bit i of byte i >> 3 = member i) for ids below `bound`."""
    mask = np.zeros(max(bound, 1), dtype=bool)
    mask[members[(members >= 0) & (members < bound)]] = True
    return np.packbits(mask, bitorder="little")


def _drop_excluded(scores: np.ndarray, rows: np.ndarray,
                   exclude: Sequence[Collection[int]]) -> tuple[np.ndarray, np.ndarray]:
    scores, rows = scores.copy(), rows.copy()
    for i, excluded in enumerate(exclude):
        if i >= len(rows) or len(excluded) == 0:
            continue
        drop = np.isin(rows[i], _as_rows(excluded))
        if drop.any():
            keep = ~drop
            kept = int(keep.sum())
            rows[i, :kept], scores[i, :kept] = rows[i][keep], scores[i][keep]
            rows[i, kept:], scores[i, kept:] = -1, -np.inf
    return scores, rows


def _fit(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    nq, have = rows.shape
    if have >= k:
        return np.ascontiguousarray(scores[:, :k]), np.ascontiguousarray(rows[:, :k])
    out_scores, out_rows = _empty_result(nq, k)
    out_scores[:, :have], out_rows[:, :have] = scores, rows
    return out_scores, out_rows


def _empty_result(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), -np.inf, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)
