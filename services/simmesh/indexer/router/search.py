"""Searching a collection: the queries' vectors (given, a record's, or embedded), every shard's
best hits for them, ranked into one answer (see `results`)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from simmesh.indexer.coarse import CoarseQuantizers
from simmesh.indexer.layout import storage_of
from simmesh.indexer.router.embedder import Embedder, embedded_rows, item_error
from simmesh.indexer.router.fanout import Fanout, collection_id_in
from simmesh.indexer.router.plans import MAX_FETCH, SearchPlan
from simmesh.indexer.router.prepare import is_cosine, stack_rows, vector_data, zero_rows, zero_vector
from simmesh.indexer.router.reads import Reads
from simmesh.indexer.router.results import Answer, shard_hits
from simmesh.indexer.shard_map import ShardMap
from simmesh.indexer.vectors import SMALL_BATCH, Coarse
from simmesh.kit import reasons
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, NotFound
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import common_pb2, indexer_pb2


def check_collection(plan: SearchPlan, spec: indexer_pb2.Collection) -> None:
    """The plan's options that need a field of the collection."""
    if plan.tag_weight and not spec.tags_field:
        raise FailedPrecondition(
            "tag-weighted search needs the collection's tags_field", reason=reasons.NO_TAGS_FIELD, field="tag_weight"
        )
    if plan.group_by_product and not spec.product_id_field:
        raise FailedPrecondition(
            "grouping needs the collection's product_id_field",
            reason=reasons.NO_PRODUCT_FIELD,
            field="group_by_product",
        )
    for kind, embedded in (("image", plan.queries.images), ("text", plan.queries.texts)):
        if embedded and not spec.model:
            raise FailedPrecondition(
                f"searching by {kind} needs a collection bound to a model",
                reason=reasons.NO_MODEL,
                field=f"queries[{embedded[0][0]}].{kind}",
            )


def matrix_rows(batch: common_pb2.VectorBatch, spec: indexer_pb2.Collection) -> np.ndarray:
    """The queries of a `query_vectors` matrix as rows, once its shape and values are checked."""
    dimension, field = spec.dimension, "query_vectors"
    if batch.dimension != dimension or len(batch.data) != batch.count * dimension * 4:
        raise InvalidArgument(
            f"{field} holds {batch.count} rows of dimension {batch.dimension} in {len(batch.data)} bytes;"
            f" the collection's dimension is {dimension}",
            reason=reasons.DIMENSION_MISMATCH,
            field=field,
        )
    rows = np.frombuffer(batch.data, dtype="<f4").reshape(batch.count, dimension)
    bad = [] if np.isfinite(rows).all() else np.flatnonzero(~np.isfinite(rows).all(axis=1)).tolist()
    problem = "holds NaN or infinite values"
    if not bad and is_cosine(spec) and (bad := zero_rows(rows)):
        problem = "is an all-zero vector, which has no cosine similarity"
    if bad:
        raise InvalidArgument(f"{field} row {bad[0]} {problem}", reason=reasons.INVALID_VECTOR, field=field)
    return rows


class Search:
    def __init__(self, shards: ShardMap, fanout: Fanout, reads: Reads, embedder: Embedder) -> None:
        self.shards = shards
        self.fanout = fanout
        self.reads = reads
        self.embedder = embedder
        self.coarse = CoarseQuantizers(self._fetch_trained_index, shards.storages)

    async def run(self, plan: SearchPlan, timeout: float | None) -> indexer_pb2.SearchResponse:
        config = self.shards.config(plan.collection_id)
        spec = config.collection
        check_collection(plan, spec)
        vectors = await self._query_vectors(plan, config, timeout)
        coarse = await self._assign(config, vectors, plan.nprobe)
        fields = [
            f
            for f in (
                spec.product_id_field if plan.group_by_product else "",
                spec.tags_field if plan.tag_weight else "",
            )
            if f
        ]
        fetch = plan.first_fetch()
        while True:
            replies, partial = await self._fan_out(plan, config, vectors, fetch, fields, timeout, coarse)
            hits = shard_hits(replies, len(vectors), spec.dimension, with_fullness=plan.reranks)
            response = indexer_pb2.SearchResponse(partial=bool(partial), unavailable_shards=partial)
            short = Answer(plan, spec, hits).write(response)
            if not plan.reranks or not short or not hits.full or fetch >= MAX_FETCH:
                return response
            fetch = min(fetch * 4, MAX_FETCH)

    async def _query_vectors(
        self, plan: SearchPlan, config: shard_pb2.CollectionConfig, timeout: float | None
    ) -> np.ndarray:
        spec, queries = config.collection, plan.queries
        if queries.matrix is not None:
            return matrix_rows(queries.matrix, spec)
        vectors = np.zeros((queries.count, spec.dimension), dtype=np.float32)
        if queries.vectors:
            given = [i for i, _ in queries.vectors]
            matrix, bad = stack_rows(
                [vector_data(v, spec.dimension, f"queries[{i}].vector") for i, v in queries.vectors], spec.dimension
            )
            if bad:
                i = given[bad[0]]
                raise InvalidArgument(
                    f"queries[{i}].vector holds NaN or infinite values",
                    reason=reasons.INVALID_VECTOR,
                    field=f"queries[{i}].vector",
                )
            zero = zero_rows(matrix) if is_cosine(spec) else []
            if zero:
                raise zero_vector(f"queries[{given[zero[0]]}].vector")
            if len(given) == queries.count:
                vectors = matrix
            else:
                vectors[given] = matrix
        if queries.record_ids:
            await self._record_vectors(plan, vectors, timeout)
        if queries.images:
            images = [i for i, _ in queries.images]
            reply = await self.embedder.embed(spec.model, [image for _, image in queries.images], timeout)
            if reply.errors:
                item = reply.errors[0]
                raise item_error(item, f"queries[{images[item.index]}].image")
            vectors[images] = embedded_rows(reply, spec.dimension)
        if queries.texts:
            texts = [i for i, _ in queries.texts]
            field = f"queries[{texts[0]}].text"
            reply = await self.embedder.embed_texts(spec.model, [text for _, text in queries.texts], timeout, field)
            vectors[texts] = embedded_rows(reply, spec.dimension, field)
        return vectors

    async def _record_vectors(self, plan: SearchPlan, vectors: np.ndarray, timeout: float | None) -> None:
        """Sets the vectors of the queries by record id to their records'."""
        by_id: dict[str, list[int]] = {}
        for i, record_id in plan.queries.record_ids:
            by_id.setdefault(record_id, []).append(i)
        found, missing = await self.reads.get(plan.collection_id, list(by_id), True, timeout)
        if missing:
            raise NotFound(
                f"record {missing[0]!r} does not exist in `collections/{plan.collection_id}`",
                reason=reasons.RECORD_NOT_FOUND,
                field=f"queries[{by_id[missing[0]][0]}].record_id",
            )
        for record in found:
            for i in by_id[record.id]:
                vectors[i] = np.frombuffer(record.vector.data, dtype="<f4")

    async def _assign(self, config: shard_pb2.CollectionConfig, vectors: np.ndarray, nprobe: int) -> Coarse | None:
        """The queries' IVF lists, assigned here once for all shards (see `coarse`), or None
        where the shards assign them."""
        if len(vectors) < SMALL_BATCH:
            return None  # the shards assign a few queries at once, in parallel: nothing to save
        quantizer = self.coarse.get(storage_of(collection_id_in(config), config), config)
        if quantizer is None:
            return None
        return await asyncio.to_thread(quantizer.assign, vectors, nprobe)

    async def _fetch_trained_index(
        self, storage: str, config: shard_pb2.CollectionConfig
    ) -> shard_pb2.GetTrainedIndexResponse:
        return await self.fanout.call(
            config, 0, "GetTrainedIndex", shard_pb2.GetTrainedIndexRequest(), 30.0, storage=storage
        )

    async def _fan_out(
        self,
        plan: SearchPlan,
        config: shard_pb2.CollectionConfig,
        vectors: np.ndarray,
        fetch: int,
        fields: list[str],
        timeout: float | None,
        coarse: Coarse | None,
    ) -> tuple[dict[int, shard_pb2.SearchResponse], list[str]]:
        """Every shard's `fetch` best per query, by shard, and the shards that did not answer."""
        exclude = plan.queries.exclude()
        # Each shard's request is made afresh from these values: copying a made one copies the
        # batch's vectors (a megabyte for 1,000 256-d queries) once more per shard.
        values: dict[str, Any] = dict(
            queries=vectors.tobytes(),
            query_count=len(vectors),
            dimension=config.collection.dimension,
            k=fetch,
            filter=plan.filter,
            nprobe=plan.nprobe,
            ef_search=plan.ef_search,
            exclude=[shard_pb2.ExcludedIds(ids=ids) for ids in exclude] if any(exclude) else [],
            include_metadata=plan.include_metadata,
            include_vectors=plan.include_vectors,
            fields=fields,
            packed=True,
        )
        if coarse is not None:
            values["coarse_lists"] = coarse.lists.astype("<i8", copy=False).tobytes()
            values["coarse_distances"] = coarse.distances.astype("<f4", copy=False).tobytes()
            values["coarse_digest"] = coarse.digest

        async def search(shard: int) -> shard_pb2.SearchResponse:
            request = shard_pb2.SearchRequest(**values)
            if len(vectors) < SMALL_BATCH:
                return await self.fanout.search(config, shard, request, timeout)
            return await self.fanout.call(config, shard, "Search", request, timeout)

        return await self.fanout.each_shard(config, search, allow_partial=plan.allow_partial)
