"""Memory of a shard's vectors: the stats' figures by part, memory-mapped raw vectors, frozen snapshots."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fixtures.shard_store import DIM, collection, records

from simmesh.indexer.store import ShardStore
from simmesh.indexer.vectors import VectorIndex
from simmesh.kit.blobstore import FileBlobStore
from simmesh_proto.v1 import indexer_pb2

COUNT = 3000
FLAT, SQ8 = indexer_pb2.INDEX_KIND_IVF_FLAT, indexer_pb2.INDEX_KIND_IVF_SQ8


def data(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)


def filled(tmp_path: Path, kind: int) -> ShardStore:
    store = ShardStore.open(collection(), 0, tmp_path / "shard", FileBlobStore(tmp_path / "blobs"))
    store.write(records(0, COUNT), data(COUNT))
    if kind != indexer_pb2.INDEX_KIND_EXACT:
        store.train(indexer_pb2.IndexSpec(kind=kind, nlist=16, nprobe=16))
    return store


@pytest.mark.parametrize(("kind", "code_bytes"), [(FLAT, 4 * DIM), (SQ8, DIM), (indexer_pb2.INDEX_KIND_EXACT, 0)])
def test_stats_account_memory_per_vector_by_part(tmp_path: Path, kind: int, code_bytes: int) -> None:
    store = filled(tmp_path, kind)
    try:
        stats = store.stats()
        memory = stats.memory
        assert memory is not None
        quantiser = 16 * DIM * 4 if code_bytes else 0
        assert memory.codes_bytes == COUNT * code_bytes + quantiser + len(store.vector_index.trained_bytes)
        if kind == indexer_pb2.INDEX_KIND_EXACT:  # the vectors are held once, in memory
            assert memory.raw_vectors_bytes >= COUNT * DIM * 4
            assert memory.raw_vectors_on_disk_bytes == 0
        else:  # the index holds codes; the raw vectors are on disk, memory-mapped
            assert memory.raw_vectors_bytes == 0
            assert memory.raw_vectors_on_disk_bytes >= COUNT * DIM * 4
        # ids: 8 bytes in the IVF lists, 8 per slot and 8 per row in the row tables (grown by doubling: up to twice)
        assert 16 * COUNT <= memory.ids_bytes <= 64 * COUNT
        # records with an id, a url and five metadata fields, as columns and bytes; two fields indexed
        assert 150 <= memory.metadata_bytes / COUNT <= 1000
        parts = memory.codes_bytes + memory.ids_bytes + memory.metadata_bytes + memory.raw_vectors_bytes
        assert stats.memory_bytes == parts
        assert memory.bytes_per_vector == pytest.approx(parts / COUNT)
    finally:
        store.close()


def test_raw_vectors_are_memory_mapped_and_survive_a_restart(tmp_path: Path) -> None:
    store = filled(tmp_path, SQ8)
    store.write(records(COUNT, 10), data(10, seed=1))  # after the snapshot: replayed from the log
    rows, before = store.vector_index.export()
    store.close()
    again = ShardStore.open(collection(), 0, tmp_path / "shard", FileBlobStore(tmp_path / "blobs"))
    try:
        assert again.vector_index.store.mapped
        rows_after, after = again.vector_index.export()
        order, order_after = np.argsort(rows), np.argsort(rows_after)
        np.testing.assert_array_equal(rows[order], rows_after[order_after])
        np.testing.assert_array_equal(before[order], after[order_after])
    finally:
        again.close()


def test_training_from_mapped_vectors_gives_the_results_of_training_from_memory(tmp_path: Path) -> None:
    vectors = data(COUNT)
    in_memory = VectorIndex(DIM, indexer_pb2.METRIC_L2)
    mapped = VectorIndex(DIM, indexer_pb2.METRIC_L2, spill=tmp_path)
    spec = indexer_pb2.IndexSpec(kind=SQ8, nlist=16, nprobe=4)
    trained = VectorIndex.train_empty(DIM, indexer_pb2.METRIC_L2, spec, vectors)
    for index in (in_memory, mapped):
        index.add(np.arange(COUNT), vectors)
    results = [
        index.train(spec, trained=trained).train(spec, trained=trained).search(vectors[:50], 10)
        for index in (in_memory, mapped)
    ]
    assert not in_memory.store.mapped
    assert mapped.train(spec, trained=trained).store.mapped
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][0], results[1][0])


def test_a_frozen_index_dumps_the_vectors_as_they_were_while_writes_go_on(tmp_path: Path) -> None:
    vectors = data(COUNT)
    spec = indexer_pb2.IndexSpec(kind=FLAT, nlist=16, nprobe=16)
    index = VectorIndex.build(DIM, indexer_pb2.METRIC_L2, spec, np.arange(COUNT), vectors, spill=tmp_path)
    frozen = index.freeze()
    index.add(np.arange(0, COUNT, 7), data(len(range(0, COUNT, 7)), seed=2))  # replaced in place
    index.remove(np.arange(1, COUNT, 5))  # holes filled from the end
    index.add(np.arange(COUNT, 2 * COUNT), data(COUNT, seed=3))  # the file grows
    out = io.BytesIO()
    frozen.dump(out)
    frozen.release()
    loaded = VectorIndex.load(io.BytesIO(out.getvalue()), spill=tmp_path)
    assert loaded.store.mapped and loaded.count == COUNT
    np.testing.assert_array_equal(loaded.store.get(np.arange(COUNT)), vectors)
    _scores, rows = loaded.search(vectors[:20], 1)
    np.testing.assert_array_equal(rows[:, 0], np.arange(20))
