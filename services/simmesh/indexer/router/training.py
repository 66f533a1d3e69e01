"""Training a collection's approximate index, as a long-running operation: a sample of its vectors
trained on here, the trained (empty) index handed to every shard to fill."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np

from simmesh.indexer.coarse import CoarseQuantizer, CoarseQuantizers
from simmesh.indexer.layout import storage_of
from simmesh.indexer.router.collections import Collections
from simmesh.indexer.router.fanout import Fanout, packed_rows
from simmesh.indexer.vectors import IVF_KINDS, VectorIndex
from simmesh.kit import reasons, wire
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, Unavailable
from simmesh.kit.operations import JobContext, OperationManager
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

TRAIN_SAMPLE = 100_000


class Training:
    """TrainIndex jobs; `training` (shared with `Collections`): the collections with one running."""

    def __init__(
        self,
        fanout: Fanout,
        collections: Collections,
        operations: OperationManager,
        coarse: CoarseQuantizers,
        training: set[str],
        *,
        min_train_vectors: int = 1000,
    ) -> None:
        self.shards = collections.shards
        self.fanout = fanout
        self.collections = collections
        self.operations = operations
        self.coarse = coarse
        self.training = training
        self.min_train_vectors = min_train_vectors

    async def start(self, collection_id: str, index: indexer_pb2.IndexSpec, timeout: float | None) -> Any:
        config = self.shards.config(collection_id)
        spec = indexer_pb2.IndexSpec()
        spec.CopyFrom(config.collection.index)
        for descriptor, value in index.ListFields():
            setattr(spec, descriptor.name, value)
        if spec.kind in (indexer_pb2.INDEX_KIND_UNSPECIFIED, indexer_pb2.INDEX_KIND_EXACT):
            raise InvalidArgument(
                "index.kind must name an approximate index (IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW)",
                reason=reasons.INVALID_INDEX_KIND,
                field="index.kind",
            )
        if collection_id in self.training:
            raise FailedPrecondition(
                f"collection `collections/{collection_id}` is already training", reason=reasons.ALREADY_TRAINING
            )
        stats = await self.collections.stats(collection_id, timeout)
        unavailable = [s.name for s in stats.shards if not s.available]
        if unavailable:
            raise Unavailable(
                f"shard {unavailable[0]} is unavailable",
                reason=reasons.SHARD_UNAVAILABLE,
                metadata={"shard": unavailable[0]},
            )
        need = spec.min_train_vectors or self.min_train_vectors
        if stats.record_count < need:
            raise FailedPrecondition(
                f"need at least {need} vectors to train, have {stats.record_count}",
                reason=reasons.NEED_MORE_SAMPLES,
                metadata={"need": need, "have": stats.record_count},
            )
        metadata = indexer_pb2.TrainIndexMetadata(
            collection=config.collection.name, stage="sampling", vector_count=stats.record_count, kind=spec.kind
        )

        async def job(ctx: JobContext) -> indexer_pb2.Collection:
            try:
                return await self._train(ctx, collection_id, spec, stats, metadata)
            finally:
                self.training.discard(collection_id)

        self.training.add(collection_id)
        try:
            return self.operations.start("train_index", metadata, job)
        except BaseException:
            self.training.discard(collection_id)
            raise

    async def _train(
        self,
        ctx: JobContext,
        collection_id: str,
        spec: indexer_pb2.IndexSpec,
        stats: indexer_pb2.CollectionStats,
        metadata: indexer_pb2.TrainIndexMetadata,
    ):
        config = self.shards.config(collection_id)
        trained = b""
        if spec.kind in IVF_KINDS:
            total = stats.record_count
            sample = await self._training_sample(config, stats, min(total, TRAIN_SAMPLE))
            metadata.stage, metadata.progress = "training", 0.2
            ctx.report(metadata)
            trained = await asyncio.to_thread(
                VectorIndex.train_empty, config.collection.dimension, config.collection.metric, spec, sample, total
            )
        metadata.stage, metadata.progress = "adding", 0.5
        ctx.report(metadata)
        done = 0

        async def train_shard(shard: int) -> shard_pb2.TrainResponse:
            nonlocal done
            reply = await self.fanout.call(
                config, shard, "Train", shard_pb2.TrainRequest(index=spec, trained_index=trained), None
            )
            done += 1
            metadata.progress = 0.5 + 0.45 * done / config.collection.shard_count
            ctx.report(metadata)
            return reply

        await self.fanout.each_shard(config, train_shard)

        def trained_with(config: shard_pb2.CollectionConfig) -> None:
            config.collection.index.CopyFrom(spec)
            config.collection.index_state = indexer_pb2.INDEX_STATE_TRAINED
            config.collection.update_time.CopyFrom(wire.now())

        config = await self.collections.change(collection_id, trained_with)
        if trained:
            quantizer = await asyncio.to_thread(CoarseQuantizer, trained, config.collection.metric, spec.nprobe)
            self.coarse.put(storage_of(collection_id, config), config, quantizer)
        metadata.stage, metadata.progress = "done", 1.0
        ctx.report(metadata)
        self.training.discard(collection_id)
        return await self.collections.get(collection_id)

    async def _training_sample(
        self, config: shard_pb2.CollectionConfig, stats: indexer_pb2.CollectionStats, size: int
    ) -> np.ndarray:
        counts = {int(s.name.rsplit("/", 1)[-1]): s.record_count for s in stats.shards}
        total = max(sum(counts.values()), 1)

        async def sample(shard: int) -> shard_pb2.SampleVectorsResponse:
            want = math.ceil(size * counts.get(shard, 0) / total)
            return await self.fanout.call(
                config, shard, "SampleVectors", shard_pb2.SampleVectorsRequest(count=want, seed=7), None
            )

        replies, _ = await self.fanout.each_shard(config, sample)
        parts = [packed_rows(r.vectors, r.dimension) for r in replies.values() if r.count]
        return (
            np.concatenate([p for p in parts if p is not None])
            if parts
            else np.empty((0, config.collection.dimension), np.float32)
        )
