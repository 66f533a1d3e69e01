"""Coarse assignment in the router: each batch of queries is assigned to its IVF lists once.

Every shard of a trained IVF collection holds the same coarse quantiser (the router trains one
empty index and all shards start from it). Left to themselves, the shards would each compare
every query with every centroid, the same work done once per shard; with 4,000 lists of 256-d
vectors that is about half of what a search costs. So the router keeps a copy of the quantiser,
assigns the queries, and sends the lists (and the centroid distances, which quantised codes need)
with the search; the shards only scan those lists (`VectorIndex.search(coarse=...)`). A few
queries (fewer than `SMALL_BATCH`) are left to the shards, which assign them in parallel: the
router would save no time and would hold its event loop meanwhile.

The copy is taken from the training job that made it, or fetched from a shard
(`GetTrainedIndex`) in the background the first time a collection is searched after the router
starts; searches go on without it meanwhile. It is keyed by the storage, the collection's
creation time and its configuration generation, so a retrained, re-embedded or re-created
collection gets a fresh copy, and the stale one is dropped at once. Copies of storages that no
collection refers to any more (deleted, or left behind by a re-embed) are evicted by a sweep at
most every `SWEEP_SECONDS`, when the router searches or trains. Correctness never rests on the copy
being current: the lists carry the quantiser's digest, and a shard with another quantiser assigns
the queries itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

import faiss
import numpy as np

from simmesh.indexer.vectors import COSINE, IVF_KINDS, Coarse, quantizer_digest, use_threads
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

log = logging.getLogger(__name__)

# After a failed fetch, the next search of the collection tries again after this long.
RETRY_SECONDS = 5.0
# Copies of storages no collection refers to any more are evicted at most this often.
SWEEP_SECONDS = 10.0

Key = tuple[str, int, int]


class CoarseQuantizer:
    """The coarse quantiser of a trained IVF index (`trained`: the empty index serialised by
    FAISS), assigning queries to the `nprobe` nearest lists."""

    def __init__(self, trained: bytes, metric: int, nprobe: int = 0) -> None:
        index = faiss.deserialize_index(np.frombuffer(trained, dtype=np.uint8))
        self._ivf = faiss.extract_index_ivf(index)
        self._index = index  # owns the quantiser
        self.metric = metric
        self.dim = self._ivf.d
        self.nlist = self._ivf.nlist
        self.nprobe = nprobe or self._ivf.nprobe
        self.digest = quantizer_digest(self._ivf)

    def assign(self, queries: np.ndarray, nprobe: int = 0) -> Coarse:
        """The lists each query probes (`nprobe`, or the index's default) with their distances."""
        probes = max(1, min(self.nlist, nprobe or self.nprobe))
        prepared = np.array(queries, dtype=np.float32, copy=True, order="C")
        if self.metric == COSINE:
            faiss.normalize_L2(prepared)
        use_threads(len(prepared))
        distances, lists = self._ivf.quantizer.search(prepared, probes)
        return Coarse(lists, distances, self.digest)


def key_of(storage: str, config: shard_pb2.CollectionConfig) -> Key:
    return storage, config.collection.create_time.ToNanoseconds(), config.generation


def wanted(config: shard_pb2.CollectionConfig) -> bool:
    """Whether assigning in the router pays: a trained IVF index over several shards."""
    spec = config.collection
    return spec.shard_count > 1 and spec.index_state == indexer_pb2.INDEX_STATE_TRAINED and spec.index.kind in IVF_KINDS


class CoarseQuantizers:
    """The router's quantisers by collection storage; `fetch(storage, config)` gets one from a
    shard (a `GetTrainedIndexResponse`), `live()` names the storages collections refer to now."""

    def __init__(
        self,
        fetch: Callable[[str, shard_pb2.CollectionConfig], Awaitable[shard_pb2.GetTrainedIndexResponse]],
        live: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self._fetch = fetch
        self._live = live
        self._held: dict[str, tuple[Key, CoarseQuantizer]] = {}
        self._fetching: dict[str, asyncio.Task] = {}
        self._failed: dict[Key, float] = {}
        self._next_sweep = 0.0

    def get(self, storage: str, config: shard_pb2.CollectionConfig) -> CoarseQuantizer | None:
        """The storage's quantiser when this router has a current one; otherwise None, and a
        fetch is started in the background."""
        self.sweep()
        if not wanted(config):
            self.evict(storage)
            return None
        key = key_of(storage, config)
        held = self._held.get(storage)
        if held is not None and held[0] == key:
            return held[1]
        self._held.pop(storage, None)  # retrained or re-created: the copy is stale
        if storage not in self._fetching and time.monotonic() >= self._failed.get(key, 0.0):
            task = asyncio.get_running_loop().create_task(self._load(storage, config, key))
            self._fetching[storage] = task
        return None

    def put(self, storage: str, config: shard_pb2.CollectionConfig, quantizer: CoarseQuantizer) -> None:
        self.sweep()
        self._held[storage] = (key_of(storage, config), quantizer)

    def held(self) -> list[str]:
        """The storages whose quantiser this router holds."""
        return sorted(self._held)

    def evict(self, storage: str) -> None:
        """Forget the storage's quantiser and failed fetches."""
        self._held.pop(storage, None)
        for key in [key for key in self._failed if key[0] == storage]:
            del self._failed[key]

    def sweep(self, force: bool = False) -> None:
        """Evict the storages no collection refers to (at most every SWEEP_SECONDS unless `force`)."""
        now = time.monotonic()
        if self._live is None or (now < self._next_sweep and not force):
            return
        self._next_sweep = now + SWEEP_SECONDS
        live = set(self._live())
        for storage in {*self._held, *(key[0] for key in self._failed)} - live:
            self.evict(storage)

    async def _load(self, storage: str, config: shard_pb2.CollectionConfig, key: Key) -> None:
        try:
            reply = await self._fetch(storage, config)
            if reply.trained_index:
                quantizer = await asyncio.to_thread(
                    CoarseQuantizer, reply.trained_index, config.collection.metric, reply.nprobe
                )
                self._held[storage] = (key, quantizer)
            else:
                self._failed[key] = time.monotonic() + RETRY_SECONDS
        except Exception as error:
            log.info("coarse quantiser of %s not fetched: %s", storage, error)
            self._failed[key] = time.monotonic() + RETRY_SECONDS
        finally:
            self._fetching.pop(storage, None)

    async def close(self) -> None:
        for task in list(self._fetching.values()):
            task.cancel()
        await asyncio.gather(*self._fetching.values(), return_exceptions=True)
