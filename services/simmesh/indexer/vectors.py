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

Threads: a `VectorIndex` allows concurrent searches but no search concurrent with a mutation; the
shard store's lock provides that. Each FAISS call sizes its OpenMP team (see `faiss_threads`).
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

import faiss
import numpy as np

# The kind and metric constants, `Coarse`, `quantizer_digest` and the thread settings are imported
# from here by the router, the coarse quantisers and the app as well.
from simmesh.indexer.faiss_threads import SMALL_BATCH, configure_threads, use_threads
from simmesh.indexer.hnsw_positions import HnswPositions
from simmesh.indexer.index_kinds import (
    COSINE,
    EXACT,
    HNSW,
    INNER_PRODUCT,
    IVF_FLAT,
    IVF_KINDS,
    IVF_PQ,
    IVF_SQ8,
    L2,
    Coarse,
    Settings,
    as_hnsw,
    as_ivf,
    faiss_memory_parts,
    quantizer_digest,
    serialize_faiss,
)
from simmesh.indexer.index_training import train_faiss, trained_faiss
from simmesh.indexer.vector_search import (
    PQ_REFINE_FACTOR,
    brute_force_pays,
    drop_excluded,
    empty_result,
    fit_to_k,
    rerank,
    search_exact,
    search_hnsw,
    search_ivf,
    search_subset,
)
from simmesh.indexer.vector_store import FrozenIndex, VectorStore, as_rows, prepared, read_sections, read_store
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh_proto.v1 import indexer_pb2

__all__ = [
    "COSINE",
    "EXACT",
    "HNSW",
    "INNER_PRODUCT",
    "IVF_FLAT",
    "IVF_KINDS",
    "IVF_PQ",
    "IVF_SQ8",
    "L2",
    "SMALL_BATCH",
    "Coarse",
    "VectorIndex",
    "configure_threads",
    "quantizer_digest",
    "use_threads",
]

_ADD_CHUNK = 65_536


class MemoryParts(NamedTuple):
    """What an index takes, in bytes: FAISS's codes (with the coarse quantiser or the HNSW graph),
    the ids (FAISS's and the row tables), the raw vectors in memory and in a memory-mapped file."""

    codes: int
    ids: int
    raw_vectors: int
    raw_vectors_on_disk: int


class VectorIndex:
    """The vectors of one shard and their index; see the module docstring."""

    def __init__(self, dim: int, metric: int, *, spill: Path | None = None) -> None:
        """`spill`: the folder where an index that holds its own codes (every kind but EXACT)
        keeps the raw vectors, memory-mapped (see `vector_file`); None keeps them in memory."""
        if dim <= 0:
            raise InvalidArgument(
                f"dimension must be positive, got {dim}", reason=reasons.INVALID_DIMENSION, field="dimension"
            )
        if metric not in (COSINE, L2, INNER_PRODUCT):
            raise InvalidArgument(f"unsupported metric {metric}", reason=reasons.INVALID_METRIC, field="metric")
        self.dim = dim
        self.metric = metric
        self.settings = Settings()
        self.spill = spill
        self.store = VectorStore(dim)
        self._index: faiss.Index | None = None
        self._trained: bytes = b""
        self._positions = HnswPositions()  # HNSW only
        self._digest = ""

    @property
    def kind(self) -> indexer_pb2.IndexKind:
        return self.settings.kind

    @property
    def count(self) -> int:
        return self.store.count

    @property
    def is_trained(self) -> bool:
        return self.kind != EXACT

    @property
    def tombstones(self) -> int:
        return self._positions.tombstones

    @property
    def wants_rebuild(self) -> bool:
        """True when removed HNSW positions are numerous enough that a rebuild pays off."""
        return self._positions.wants_rebuild

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

    def add(self, rows: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Stores `vectors` under `rows`, replacing the vectors of rows already present."""
        rows = as_rows(rows)
        vectors = prepared(vectors, self.dim, self.metric, "vectors")
        if len(rows) != len(vectors):
            raise InvalidArgument(f"{len(rows)} rows for {len(vectors)} vectors", reason=reasons.ROW_COUNT_MISMATCH)
        if len(np.unique(rows)) != len(rows):
            raise InvalidArgument("rows repeat within one add", reason=reasons.DUPLICATE_ROW)
        if not len(rows):
            return
        use_threads(len(rows))
        present = rows[self.store.contains(rows)]
        if len(present):
            self._unindex(present)
        self.store.put(rows, vectors)
        self._index_rows(rows, vectors)

    def remove(self, rows: Sequence[int] | np.ndarray) -> int:
        """Removes the present ones of `rows`; returns how many were removed."""
        rows = as_rows(rows)
        present = rows[self.store.contains(rows)]
        if len(present):
            use_threads(SMALL_BATCH)
            self._unindex(present)
            self.store.delete(present)
        return len(present)

    def _index_rows(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        if self._index is None:
            return
        if self.kind == HNSW:
            self._index.add(vectors)
            self._positions.append(rows)
        else:
            self._index.add_with_ids(vectors, rows)

    def _unindex(self, rows: np.ndarray) -> None:
        if self._index is None:
            return
        if self.kind == HNSW:
            self._positions.remove(rows)
        else:
            self._index.remove_ids(rows)  # type: ignore[arg-type]  # faiss's stubs allow only an IDSelector

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
            raise InvalidArgument(f"k must be positive, got {k}", reason=reasons.INVALID_K, field="k")
        queries = prepared(queries, self.dim, self.metric, "queries")
        nq = len(queries)
        extra = max((len(e) for e in exclude), default=0) if exclude else 0
        if candidate_ids is not None:
            candidates = as_rows(candidate_ids)
            candidates = candidates[self.store.contains(candidates)]
            fetch = min(k + extra, len(candidates))
        else:
            candidates = None
            fetch = min(k + extra, self.count)
        if fetch == 0 or nq == 0:
            return empty_result(nq, k)
        if coarse is not None and not coarse.fits(self.coarse_digest, nq, as_ivf(self._index).nlist):
            coarse = None
        use_threads(nq)
        if candidates is not None and brute_force_pays(self.kind, self._index, self.count, len(candidates), nq, nprobe):
            distances, rows = search_subset(self.store, queries, fetch, self.metric, candidates)
        elif self.kind == IVF_PQ:
            refine = min(fetch * PQ_REFINE_FACTOR, self.count)
            _, rows = self._search_index(queries, refine, nprobe, ef_search, candidates, coarse)
            distances, rows = rerank(self.store, queries, rows, fetch, self.metric)
        else:
            distances, rows = self._search_index(queries, fetch, nprobe, ef_search, candidates, coarse)
        scores = -distances if self.metric == L2 else distances
        scores[rows < 0] = -np.inf
        if exclude:
            scores, rows = drop_excluded(scores, rows, exclude)
        return fit_to_k(scores, rows, k)

    def prepare(self, vectors: np.ndarray, *, what: str = "vectors") -> np.ndarray:
        """`vectors` as a C-contiguous float32 (n, dim) copy, normalised for COSINE."""
        return prepared(vectors, self.dim, self.metric, what)

    def _search_index(
        self,
        queries: np.ndarray,
        k: int,
        nprobe: int,
        ef_search: int,
        candidates: np.ndarray | None,
        coarse: Coarse | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == EXACT:
            return search_exact(self.store, queries, k, self.metric, candidates)
        if self.kind == HNSW:
            return search_hnsw(as_hnsw(self._index), self._positions, queries, k, ef_search, candidates)
        return search_ivf(as_ivf(self._index), queries, k, nprobe, candidates, self.store.row_bound, coarse)

    def train(
        self, spec: indexer_pb2.IndexSpec, training_vectors: np.ndarray | None = None, *, trained: bytes = b""
    ) -> VectorIndex:
        """A new index of `spec.kind` holding this index's vectors. Trains on
        `training_vectors` (default: the stored vectors) unless `trained` gives an already
        trained empty index. The caller must keep this index unchanged while it runs; see
        `export` and `build` to train off a copy instead."""
        rows, vectors = self.export()
        return VectorIndex.build(
            self.dim,
            self.metric,
            spec,
            rows,
            vectors,
            training_vectors=training_vectors,
            trained=trained,
            spill=self.spill,
        )

    def rebuilt(self) -> VectorIndex:
        """The same kind and settings, rebuilt from the stored vectors (drops HNSW tombstones)."""
        rows, vectors = self.export()
        spec = self.settings.to_spec()
        return VectorIndex.build(self.dim, self.metric, spec, rows, vectors, trained=self._trained, spill=self.spill)

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the live rows and their (normalised) vectors."""
        return self.store.rows.copy(), self.store.vectors.copy()

    @classmethod
    def build(
        cls,
        dim: int,
        metric: int,
        spec: indexer_pb2.IndexSpec,
        rows: np.ndarray,
        vectors: np.ndarray,
        *,
        training_vectors: np.ndarray | None = None,
        trained: bytes = b"",
        spill: Path | None = None,
    ) -> VectorIndex:
        """An index of `spec.kind` over `rows`/`vectors` (already prepared: see `export`)."""
        if trained:
            index = cls.from_trained(dim, metric, trained, spec, spill=spill)
        elif spec.kind in (EXACT, indexer_pb2.INDEX_KIND_UNSPECIFIED):
            index = cls(dim, metric, spill=spill)
        else:
            index = cls(dim, metric, spill=spill)
            sample = vectors if training_vectors is None else index.prepare(training_vectors, what="training_vectors")
            faiss_index, settings = train_faiss(dim, metric, spec, sample, total=max(len(vectors), len(sample)))
            index._adopt(faiss_index, settings)
        index._fill(rows, vectors)
        return index

    @classmethod
    def from_trained(
        cls,
        dim: int,
        metric: int,
        trained: bytes,
        spec: indexer_pb2.IndexSpec | None = None,
        *,
        spill: Path | None = None,
    ) -> VectorIndex:
        """An empty index around a trained FAISS index serialised by another one
        (`trained_bytes`); non-zero `spec.nprobe` / `spec.ef_search` override its defaults."""
        faiss_index, settings = trained_faiss(dim, metric, trained, spec)
        index = cls(dim, metric, spill=spill)
        index._adopt(faiss_index, settings)
        return index

    @staticmethod
    def train_empty(
        dim: int, metric: int, spec: indexer_pb2.IndexSpec, training_vectors: np.ndarray, total: int = 0
    ) -> bytes:
        """Trains an empty index of `spec.kind` on `training_vectors` and returns it serialised,
        for `from_trained` on every shard. `total` is the collection's size (sets nlist)."""
        prepared = VectorIndex(dim, metric).prepare(training_vectors, what="training_vectors")
        faiss_index, _ = train_faiss(dim, metric, spec, prepared, total=max(total, len(prepared)))
        return serialize_faiss(faiss_index)

    def _adopt(self, faiss_index: faiss.Index, settings: Settings) -> None:
        self._index = faiss_index
        self._digest = ""
        self.settings = settings
        self._trained = serialize_faiss(faiss_index) if faiss_index.ntotal == 0 else self._trained
        if not self.store.count:
            self.store = VectorStore(self.dim, directory=self._spill_dir())

    def _spill_dir(self) -> Path | None:
        """Where the raw vectors go: memory-mapped under `spill` when the FAISS index holds codes of its own."""
        return self.spill if self._index is not None else None

    def _fill(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        use_threads(len(rows))
        self.store = VectorStore(self.dim, capacity=len(rows), directory=self._spill_dir())
        for start in range(0, len(rows), _ADD_CHUNK):
            chunk = slice(start, start + _ADD_CHUNK)
            self.store.put(rows[chunk], vectors[chunk])
            self._index_rows(rows[chunk], vectors[chunk])

    def serialize(self) -> bytes:
        buffer = io.BytesIO()
        self.dump(buffer)
        return buffer.getvalue()

    @classmethod
    def deserialize(cls, data: bytes) -> VectorIndex:
        return cls.load(io.BytesIO(data))

    def dump(self, out: BinaryIO) -> None:
        """Writes the index (see `freeze`); nothing may change it meanwhile."""
        frozen = self.freeze()
        try:
            frozen.dump(out)
        finally:
            frozen.release()

    def freeze(self) -> FrozenIndex:
        """What `dump` writes, taken now: a JSON header, then the FAISS index, the HNSW position
        table, the trained empty index, the rows and the vectors, each as a length-prefixed
        section. The FAISS index and the rows are copied; the vectors are frozen (see
        `VectorStore.freeze`), so that the index may change while the result is written. Call it
        while nothing changes the index; `release` the result when done."""
        header = {
            "dim": self.dim,
            "metric": self.metric,
            "settings": dataclasses.asdict(self.settings),
            "count": self.count,
            "tombstones": self._positions.tombstones,
        }
        faiss_bytes = faiss.clone_index(self._index) if self._index is not None and not self._refillable() else b""
        sections = [json.dumps(header).encode(), faiss_bytes, self._positions.labels.copy(), self._trained]
        return FrozenIndex([*sections, self.store.rows.copy()], self.store.freeze(), self.store)

    def _refillable(self) -> bool:
        """Whether a snapshot may leave the FAISS index out, to be refilled from the raw vectors on
        load: an IVF-Flat index, whose lists hold the raw vectors again, with its trained empty form."""
        return self.kind == IVF_FLAT and bool(self._trained)

    @classmethod
    def load(cls, source: BinaryIO, *, spill: Path | None = None) -> VectorIndex:
        header_bytes, faiss_bytes, labels, trained, row_bytes = read_sections(source, 5)
        header = json.loads(header_bytes)
        index = cls(header["dim"], header["metric"], spill=spill)
        index.settings = Settings(**header["settings"])
        index._trained = bytes(trained)
        refill = not faiss_bytes and bool(index._trained) and index.kind == IVF_FLAT  # see `_refillable`
        if faiss_bytes:
            index._index = faiss.deserialize_index(np.frombuffer(faiss_bytes, dtype=np.uint8))
        elif refill:
            index._index, _ = trained_faiss(index.dim, index.metric, index._trained, index.settings.to_spec())
        del faiss_bytes
        index.store = read_store(source, index.dim, row_bytes, index._spill_dir())
        if refill:
            use_threads(index.store.count)
            for start in range(0, index.store.count, _ADD_CHUNK):
                chunk = slice(start, start + _ADD_CHUNK)
                index._index_rows(index.store.rows[chunk], index.store.vectors[chunk])
        if index.kind == HNSW:
            index._positions = HnswPositions.restored(
                np.frombuffer(labels, dtype=np.int64).copy(), int(header["tombstones"]), index.store.row_bound
            )
        return index

    def memory_bytes(self) -> int:
        """An estimate of the memory the index and its vectors take."""
        parts = self.memory_parts()
        return parts.codes + parts.ids + parts.raw_vectors

    def memory_parts(self) -> MemoryParts:
        """An estimate of the memory the index and its vectors take, by part."""
        codes, ids = faiss_memory_parts(self._index, self.kind, self.dim, self.settings.hnsw_m)
        ids += self.store.table_bytes() + self._positions.memory_bytes()
        return MemoryParts(codes + len(self._trained), ids, self.store.vector_bytes(), self.store.on_disk_bytes())
