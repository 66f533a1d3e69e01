"""The router's coarse quantisers: fetched once per collection state, in the background."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from simmesh.indexer import coarse
from simmesh.indexer.coarse import CoarseQuantizers
from simmesh.indexer.vectors import COSINE, IVF_FLAT, VectorIndex
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

DIM = 16


def trained_config(generation: int = 3, shards: int = 2) -> shard_pb2.CollectionConfig:
    config = shard_pb2.CollectionConfig(
        generation=generation,
        collection=indexer_pb2.Collection(
            name="collections/c",
            dimension=DIM,
            shard_count=shards,
            index_state=indexer_pb2.INDEX_STATE_TRAINED,
            index=indexer_pb2.IndexSpec(kind=IVF_FLAT),
        ),
    )
    config.collection.create_time.FromSeconds(1_700_000_000)
    return config


@pytest.fixture(scope="module")
def trained() -> bytes:
    vectors = np.random.default_rng(0).normal(size=(2000, DIM)).astype(np.float32)
    return VectorIndex.train_empty(DIM, COSINE, indexer_pb2.IndexSpec(kind=IVF_FLAT, nlist=16, nprobe=3), vectors)


async def test_fetched_in_the_background_once_per_collection_state(trained) -> None:
    calls = []

    async def fetch(storage, config):
        calls.append((storage, config.generation))
        return shard_pb2.GetTrainedIndexResponse(trained_index=trained, nprobe=3)

    held = CoarseQuantizers(fetch)
    assert held.get("c", trained_config()) is None  # not held yet: searches go on without it
    await asyncio.sleep(0.2)
    quantizer = held.get("c", trained_config())
    assert quantizer is not None and quantizer.nprobe == 3 and calls == [("c", 3)]
    queries = np.random.default_rng(1).normal(size=(4, DIM)).astype(np.float32)
    assert quantizer.assign(queries).lists.shape == (4, 3)
    assert quantizer.assign(queries, 5).lists.shape == (4, 5)
    assert held.get("c", trained_config(generation=4)) is None  # changed since: fetched again
    await asyncio.sleep(0.2)
    assert held.get("c", trained_config(generation=4)) is not None and len(calls) == 2
    assert held.get("c", trained_config(shards=1)) is None  # one shard: nothing to share
    untrained = trained_config()
    untrained.collection.index_state = indexer_pb2.INDEX_STATE_EXACT
    assert held.get("c", untrained) is None and len(calls) == 2
    await held.close()


async def test_a_failed_fetch_is_retried_later(trained, monkeypatch) -> None:
    monkeypatch.setattr(coarse, "RETRY_SECONDS", 0.3)
    outcomes = [RuntimeError("shard restarting"), shard_pb2.GetTrainedIndexResponse(trained_index=trained)]

    async def fetch(storage, config):
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    held = CoarseQuantizers(fetch)
    assert held.get("c", trained_config()) is None
    await asyncio.sleep(0.1)
    assert held.get("c", trained_config()) is None and len(outcomes) == 1  # failed; not retried at once
    await asyncio.sleep(0.3)
    assert held.get("c", trained_config()) is None  # retry started
    await asyncio.sleep(0.2)
    assert held.get("c", trained_config()) is not None and not outcomes
    await held.close()


async def loaded(held: CoarseQuantizers, storage: str, config: shard_pb2.CollectionConfig) -> None:
    held.get(storage, config)
    async with asyncio.timeout(5):
        while held.get(storage, config) is None:
            await asyncio.sleep(0.02)


async def test_quantisers_of_deleted_and_reembedded_collections_are_evicted(trained, monkeypatch) -> None:
    monkeypatch.setattr(coarse, "SWEEP_SECONDS", 0.0)
    live = {"a", "b"}

    async def fetch(storage, config):
        return shard_pb2.GetTrainedIndexResponse(trained_index=trained, nprobe=3)

    held = CoarseQuantizers(fetch, lambda: live)
    await loaded(held, "a", trained_config())
    await loaded(held, "b", trained_config())
    assert held.held() == ["a", "b"]

    live.discard("a")  # collection a deleted: evicted by the next search of any collection
    held.get("b", trained_config())
    assert held.held() == ["b"]

    live.symmetric_difference_update({"b", "b2"})  # b re-embedded into storage b2
    await loaded(held, "b2", trained_config())
    assert held.held() == ["b2"]

    assert held.get("b2", trained_config(generation=4)) is None  # retrained: the stale copy goes at once
    assert held.held() == []
    await held.close()
