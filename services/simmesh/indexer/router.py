"""The indexer router: collections in etcd, records placed on shards by `_id`, searches fanned
out to every shard with the caller's deadline and merged, approximator training as a
long-running operation.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import numpy as np
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc, indexer_pb2

from simmesh.indexer.coarse import CoarseQuantizer, CoarseQuantizers
from simmesh.indexer.filters import compile_filter
from simmesh.indexer.layout import COLLECTION_ID_RE, Layout, encode, placement, storage_of
from simmesh.indexer.merge import Candidate, blend_tags, group_by, lookup, top, top_rows
from simmesh.indexer.shard_map import ShardMap, shard_name, shard_unavailable
from simmesh.indexer.shard_stream import StreamClosed
from simmesh.indexer.write_streams import WriteStreams
from simmesh.indexer.vectors import IVF_KINDS, SMALL_BATCH, Coarse, VectorIndex
from simmesh.kit import errors
from simmesh.kit.errors import (AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, SimmeshError,
                                Unavailable)
from simmesh.kit.operations import JobContext, OperationManager

log = logging.getLogger("simmesh.indexer.router")

T = TypeVar("T")

MAX_K = 1000
MAX_QUERIES = 1000
MAX_BATCH = 10_000
MAX_FETCH = 4096
MAX_SHARDS = 64
MAX_DIMENSION = 65_536
DEFAULT_INDEX_KIND = indexer_pb2.INDEX_KIND_IVF_FLAT
TRAIN_SAMPLE = 100_000
SHARD_WAIT_SECONDS = 20.0
RESERVED_FIELDS = ("_id", "_url")
# Records an insert batch goes through between turns it gives the event loop, so that a large
# batch does not hold up other calls (searches, the previous batch's writes) for long.
YIELD_EVERY = 500


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def collection_id_of(name: str, field: str = "collection") -> str:
    prefix = "collections/"
    if not name.startswith(prefix) or not COLLECTION_ID_RE.match(name[len(prefix):]):
        raise InvalidArgument(f"{field} must be `collections/{{collection}}`, got {name!r}",
                              reason="INVALID_COLLECTION_NAME", field=field)
    return name[len(prefix):]


def vector_data(vector: common_pb2.Vector, dimension: int, field: str) -> bytes:
    """The vector's packed float32 bytes, once its dimension and length are checked (the
    values are checked batch-wise by `stack_rows`)."""
    data = vector.data
    if vector.dimension != dimension or len(data) != dimension * 4:
        raise InvalidArgument(
            f"{field} has dimension {vector.dimension} ({len(data)} bytes); the collection's is {dimension}",
            reason="DIMENSION_MISMATCH", field=field,
        )
    return data


def stack_rows(rows: Sequence[bytes], dimension: int) -> tuple[np.ndarray, list[int]]:
    """Packed float32 rows as one (len(rows), dimension) matrix (one copy), and the positions of
    the rows holding NaN or infinite values."""
    matrix = np.frombuffer(b"".join(rows), dtype="<f4").reshape(len(rows), dimension)
    if np.isfinite(matrix).all():  # one reduction; the rows are looked at only when some value is bad
        return matrix, []
    return matrix, np.flatnonzero(~np.isfinite(matrix).all(axis=1)).tolist()


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def _metadata_dict(record) -> dict[str, Any]:
    return json_format.MessageToDict(record.metadata) if record is not None and record.HasField("metadata") else {}


@dataclass
class Prepared:
    """An insert batch after validation and embedding: record i is `inputs[i]` stored as
    `ids[i]` (generated where the input had none; "" where the item failed, its error in
    `errors`) with vector `vectors[i]`."""

    inputs: Sequence[indexer_pb2.RecordInput]
    ids: list[str]
    vectors: np.ndarray
    errors: dict[int, SimmeshError]
    # The records' creation time, for an update that keeps it; None: the time of the write.
    create_time: timestamp_pb2.Timestamp | None = None


class Router:
    def __init__(self, shards: ShardMap, embedder: embedder_pb2_grpc.EmbedderServiceStub | None,
                 operations: OperationManager, *, min_train_vectors: int = 1000) -> None:
        self.shards = shards
        self.layout: Layout = shards.layout
        self.embedder = embedder
        self.operations = operations
        self.min_train_vectors = min_train_vectors
        # Collections with a TrainIndex job running in this router.
        self._training: set[str] = set()
        self.coarse = CoarseQuantizers(self._fetch_trained_index)

    # =============================================================================== fan-out

    async def _call(self, config: shard_pb2.CollectionConfig, shard: int, method: str, request,
                    timeout: float | None, *, storage: str = ""):
        """`method` on the node serving `shard` of the collection's storage (or of `storage`)."""
        collection_id = self._address(config, shard, request, storage)
        stub = self.shards.stub(request.collection, shard, collection_id)
        try:
            return await getattr(stub, method)(request, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise shard_unavailable(collection_id, shard, error.details() or error.code().name) from None
            raise errors.from_rpc_error(error) from None

    @staticmethod
    def _address(config: shard_pb2.CollectionConfig, shard: int, request, storage: str = "") -> str:
        """Addresses a shard request to `shard` of the collection's storage (or of `storage`);
        returns the collection id."""
        collection_id = config.collection.name.split("/")[-1]
        request.collection = storage or storage_of(collection_id, config)
        request.shard = shard
        return collection_id

    async def _each_shard(self, config: shard_pb2.CollectionConfig,
                          call: Callable[[int], Awaitable[T]], *, allow_partial: bool = False
                          ) -> tuple[dict[int, T], list[str]]:
        """`call(shard)` on every shard at once; results by shard and the shards that failed
        (only with `allow_partial`; otherwise the first unavailable shard fails the call)."""
        shard_ids = list(range(config.collection.shard_count))
        outcomes = await asyncio.gather(*(call(s) for s in shard_ids), return_exceptions=True)
        results, missing = {}, []
        for shard, outcome in zip(shard_ids, outcomes):
            if isinstance(outcome, errors.Unavailable) and allow_partial:
                missing.append(shard_name(config.collection.name.split("/")[-1], shard))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results[shard] = outcome
        return results, missing

    # =========================================================================== collections

    async def create_collection(self, collection_id: str, collection: indexer_pb2.Collection) -> indexer_pb2.Collection:
        if not COLLECTION_ID_RE.match(collection_id or ""):
            raise InvalidArgument("collection_id must be 1-63 lower-case letters, digits, '-' or '_', starting "
                                  f"with a letter; got {collection_id!r}", reason="INVALID_COLLECTION_ID",
                                  field="collection_id")
        spec = indexer_pb2.Collection()
        spec.CopyFrom(collection)
        spec.name = f"collections/{collection_id}"
        spec.metric = spec.metric or indexer_pb2.METRIC_COSINE
        spec.shard_count = spec.shard_count or 1
        if not 1 <= spec.shard_count <= MAX_SHARDS:
            raise InvalidArgument(f"shard_count must be 1..{MAX_SHARDS}, got {spec.shard_count}",
                                  reason="INVALID_SHARD_COUNT", field="collection.shard_count")
        if spec.model:
            dimension = await self._model_dimension(spec.model, "collection.model")
            if spec.dimension and spec.dimension != dimension:
                raise InvalidArgument(f"collection.dimension {spec.dimension} differs from the model's {dimension}",
                                      reason="DIMENSION_MISMATCH", field="collection.dimension")
            spec.dimension = dimension
        if not 1 <= spec.dimension <= MAX_DIMENSION:
            raise InvalidArgument(f"collection.dimension must be 1..{MAX_DIMENSION} (or bind a model), "
                                  f"got {spec.dimension}", reason="INVALID_DIMENSION", field="collection.dimension")
        for i, path in enumerate(spec.indexed_fields):
            if not path or path.startswith("$") or ".." in path:
                raise InvalidArgument(f"indexed field {path!r} is not a field path", reason="INVALID_FIELD",
                                      field=f"collection.indexed_fields[{i}]")
        spec.index.kind = spec.index.kind or DEFAULT_INDEX_KIND
        spec.index_state = indexer_pb2.INDEX_STATE_EXACT
        spec.record_count = 0
        spec.create_time.CopyFrom(now())
        spec.update_time.CopyFrom(spec.create_time)
        nodes = self.shards.node_count()
        if nodes < spec.shard_count:
            raise FailedPrecondition(
                f"collection.shard_count is {spec.shard_count} but {nodes} shard nodes are registered",
                reason="NOT_ENOUGH_SHARD_NODES", field="collection.shard_count",
                metadata={"nodes": nodes, "shard_count": spec.shard_count},
            )
        key = self.layout.collection_key(collection_id)
        value = encode(shard_pb2.CollectionConfig(collection=spec, generation=1))
        created = await asyncio.to_thread(self._put_if_absent, key, value)
        if not created:
            raise AlreadyExists(f"collection `collections/{collection_id}` already exists",
                                reason="COLLECTION_EXISTS", field="collection_id")
        await self.shards.wait_collection(collection_id, True, 5.0)
        if not await self.shards.wait_shards(collection_id, spec.shard_count, SHARD_WAIT_SECONDS):
            raise Unavailable(f"collection `collections/{collection_id}` was created but not all of its "
                              f"{spec.shard_count} shards came up within {SHARD_WAIT_SECONDS:.0f}s",
                              reason="SHARDS_NOT_READY")
        return spec

    def _put_if_absent(self, key: str, value: bytes) -> bool:
        client = self.shards.etcd
        succeeded, _ = client.transaction(
            compare=[client.transactions.version(key) == 0],
            success=[client.transactions.put(key, value)],
            failure=[],
        )
        return bool(succeeded)

    async def _model_dimension(self, model: str, field: str) -> int:
        if self.embedder is None:
            raise FailedPrecondition("no embedder is configured", reason="NO_EMBEDDER", field=field)
        try:
            if "/versions/" in model:
                version = await self.embedder.GetModelVersion(embedder_pb2.GetModelVersionRequest(name=model))
            else:
                info = await self.embedder.GetModel(embedder_pb2.GetModelRequest(name=model))
                version = await self.embedder.GetModelVersion(embedder_pb2.GetModelVersionRequest(
                    name=f"{info.name}/versions/{info.default_version}"))
        except grpc.aio.AioRpcError as error:
            raised = errors.from_rpc_error(error)
            raised.violations.insert(0, (field, raised.message))
            raise raised from None
        return version.manifest.dimension

    async def get_collection(self, collection_id: str) -> indexer_pb2.Collection:
        config = self.shards.config(collection_id)
        out = indexer_pb2.Collection()
        out.CopyFrom(config.collection)
        stats = await self.stats(collection_id, 5.0)
        out.record_count = stats.record_count
        if collection_id in self._training:
            out.index_state = indexer_pb2.INDEX_STATE_TRAINING
        return out

    async def list_collections(self) -> list[indexer_pb2.Collection]:
        return [await self.get_collection(c) for c in self.shards.collection_ids()]

    async def update_collection(self, collection: indexer_pb2.Collection, paths: Sequence[str]) -> indexer_pb2.Collection:
        collection_id = collection_id_of(collection.name, "collection.name")
        allowed = {"description", "model", "product_id_field", "tags_field", "indexed_fields", "index.nprobe",
                   "index.ef_search"}
        unknown = set(paths) - allowed
        if not paths or unknown:
            raise InvalidArgument(f"update_mask must name some of {sorted(allowed)}; got {sorted(paths)}",
                                  reason="INVALID_UPDATE_MASK", field="update_mask")
        config = self.shards.config(collection_id)
        spec = config.collection
        if "model" in paths and collection.model:
            dimension = await self._model_dimension(collection.model, "collection.model")
            if dimension != spec.dimension:
                raise FailedPrecondition(
                    f"model {collection.model} gives {dimension}-d vectors, the collection holds {spec.dimension}-d "
                    "ones; re-embed the collection (ReembedCollection) to change models",
                    reason="DIMENSION_MISMATCH", field="collection.model")
        for path in paths:
            if path == "indexed_fields":
                del spec.indexed_fields[:]
                spec.indexed_fields.extend(collection.indexed_fields)
            elif path.startswith("index."):
                setattr(spec.index, path[6:], getattr(collection.index, path[6:]))
            else:
                setattr(spec, path, getattr(collection, path))
        spec.update_time.CopyFrom(now())
        await self._save(config)
        return await self.get_collection(collection_id)

    async def _save(self, config: shard_pb2.CollectionConfig) -> None:
        """Writes the collection's definition and waits until this router's view has it."""
        config.generation += 1
        key = self.layout.collection_key(config.collection.name.split("/")[-1])
        value = encode(config)
        await asyncio.to_thread(self.shards.etcd.put, key, value)
        await self.shards.wait_value(key, value, 5.0)

    async def delete_collection(self, collection_id: str) -> None:
        config = self.shards.config(collection_id)
        await asyncio.to_thread(self.shards.etcd.delete, self.layout.collection_key(collection_id))
        await self.shards.wait_collection(collection_id, False, 5.0)
        for storage in filter(None, (storage_of(collection_id, config), config.next_storage)):
            await self.shards.wait_no_shards(storage, SHARD_WAIT_SECONDS)

    async def stats(self, collection_id: str, timeout: float | None) -> indexer_pb2.CollectionStats:
        config = self.shards.config(collection_id)
        out = indexer_pb2.CollectionStats(name=config.collection.name, index_state=config.collection.index_state)
        for shard in range(config.collection.shard_count):
            try:
                reply = await self._call(config, shard, "Stats",
                                         shard_pb2.StatsRequest(), timeout)
                out.shards.append(reply.stats)
                out.record_count += reply.stats.record_count
                out.memory_bytes += reply.stats.memory_bytes
            except errors.Unavailable:
                out.shards.append(indexer_pb2.ShardStats(name=shard_name(collection_id, shard), available=False))
        return out

    # =============================================================================== records

    async def insert(self, collection_id: str, inputs: Sequence[indexer_pb2.RecordInput], upsert: bool,
                     timeout: float | None) -> indexer_pb2.InsertRecordsResponse:
        config = self.shards.config(collection_id)
        prepared = await self._prepare(config, inputs, timeout)
        return await self._write(config, prepared, upsert, timeout)

    async def insert_stream(self, requests: AsyncIterator[indexer_pb2.InsertRecordsRequest],
                            timeout: Callable[[], float | None]) -> AsyncIterator[indexer_pb2.InsertRecordsResponse]:
        """`insert` of each request in turn, replies in request order. A batch is validated,
        embedded, split by shard and sent to the shards (see `write_streams`) while the batch
        before it is being written, so that each shard has its next batch at hand; a shard writes
        its batches in request order, so the later of two upserts of an id wins. A batch that
        fails as a whole ends the stream after the replies of the batches before it, and is not
        sent. `timeout()`: the time left."""
        streams = WriteStreams(self.shards, self._unary_write, timeout)

        async def prepare(request: indexer_pb2.InsertRecordsRequest):
            config = self.shards.config(collection_id_of(request.collection))
            prepared = await self._prepare(config, request.records, timeout())
            return config, prepared, request.upsert, await self._shard_writes(config, prepared, request.upsert)

        def write(config, prepared: Prepared, upsert: bool, writes) -> asyncio.Future:
            def send(shard: int, request: shard_pb2.WriteRequest) -> Awaitable[shard_pb2.WriteResponse]:
                return streams.write(config, shard, request, timeout())

            return asyncio.ensure_future(self._write(config, prepared, upsert, timeout(), writes, send))

        preparing: asyncio.Future | None = None
        writing: collections.deque[asyncio.Future] = collections.deque()  # sent, oldest first
        finished = False
        try:
            async for request in requests:
                preparing = asyncio.ensure_future(prepare(request))
                try:
                    batch = await preparing
                except Exception:
                    while writing:
                        yield await writing.popleft()
                    raise
                preparing = None
                writing.append(write(*batch))
                if len(writing) > 1:
                    yield await writing.popleft()
            while writing:
                yield await writing.popleft()
            finished = True
        finally:
            await streams.close(cleanly=finished)
            for task in (preparing, *writing):
                if task is None:
                    continue
                if not task.done():
                    task.cancel()
                elif not task.cancelled():
                    task.exception()  # retrieved, so that asyncio does not report it as never retrieved

    async def _prepare(self, config: shard_pb2.CollectionConfig, inputs: Sequence[indexer_pb2.RecordInput],
                       timeout: float | None) -> Prepared:
        """Validates the batch and embeds its images. A fault of the whole batch raises; an
        item's own is kept in `errors`."""
        ids = _batch_ids(inputs)
        spec = config.collection
        dimension = spec.dimension
        failures: dict[int, SimmeshError] = {}
        to_embed: list[int] = []
        given: list[int] = []
        given_data: list[bytes] = []
        for i, item in enumerate(inputs):
            if i and not i % YIELD_EVERY:
                await asyncio.sleep(0)
            try:
                if item.HasField("metadata"):
                    reserved = [k for k in item.metadata.fields if k.startswith("_")]
                    if reserved:
                        raise InvalidArgument(f"records[{i}].metadata field {reserved[0]!r}: names starting with '_' "
                                              "are reserved", reason="RESERVED_FIELD", field=f"records[{i}].metadata")
                if item.HasField("vector"):
                    given_data.append(vector_data(item.vector, dimension, f"records[{i}].vector"))
                    given.append(i)
                elif item.HasField("image"):
                    if not spec.model:
                        raise FailedPrecondition(f"records[{i}] has an image but the collection has no model",
                                                 reason="NO_MODEL", field=f"records[{i}].image")
                    to_embed.append(i)
                else:
                    raise InvalidArgument(f"records[{i}] needs a vector or an image", reason="NO_VECTOR_OR_IMAGE",
                                          field=f"records[{i}]")
                if not ids[i]:
                    ids[i] = uuid.uuid4().hex
            except SimmeshError as error:
                failures[i] = error
        matrix, bad = stack_rows(given_data, dimension)
        if len(given) == len(inputs):
            vectors = matrix
        else:
            vectors = np.zeros((len(inputs), dimension), dtype=np.float32)
            vectors[given] = matrix
        for row in bad:
            i = given[row]
            failures[i] = InvalidArgument(f"records[{i}].vector holds NaN or infinite values",
                                          reason="INVALID_VECTOR", field=f"records[{i}].vector")
        if to_embed:
            reply = await self._embed(spec.model, [inputs[i].image for i in to_embed], timeout)
            embedded = np.frombuffer(reply.vectors.data, dtype="<f4").reshape(reply.vectors.count,
                                                                                reply.vectors.dimension)
            if reply.vectors.dimension != dimension:
                raise FailedPrecondition(f"the model gives {reply.vectors.dimension}-d vectors, the collection holds "
                                         f"{dimension}-d ones", reason="DIMENSION_MISMATCH", field="collection.model")
            failed = {e.index: e for e in reply.errors}
            for j, i in enumerate(to_embed):
                if j in failed:
                    error = errors.from_status(failed[j].status)
                    error.violations = [(f"records[{i}].image", error.message)]
                    failures[i] = error
                else:
                    vectors[i] = embedded[j]
        for i in failures:
            ids[i] = ""
        return Prepared(inputs, ids, vectors, failures)

    async def _embed(self, model: str, images: Sequence[common_pb2.Image],
                     timeout: float | None) -> embedder_pb2.EmbedResponse:
        if self.embedder is None:
            raise FailedPrecondition("no embedder is configured", reason="NO_EMBEDDER")
        try:
            return await self.embedder.Embed(embedder_pb2.EmbedRequest(model=model, images=images), timeout=timeout)
        except grpc.aio.AioRpcError as error:
            raise errors.from_rpc_error(error) from None

    async def _shard_writes(self, config: shard_pb2.CollectionConfig, prepared: Prepared,
                            upsert: bool) -> dict[int, tuple[list[int], shard_pb2.WriteRequest]]:
        """The batch's good records by shard: their positions in the batch and the shard's Write."""
        count = config.collection.shard_count
        ids, inputs = prepared.ids, prepared.inputs
        by_shard: dict[int, list[int]] = {}
        for i, record_id in enumerate(ids):
            if record_id:
                by_shard.setdefault(placement(record_id, count), []).append(i)
        writes = {}
        for shard, items in by_shard.items():
            request = shard_pb2.WriteRequest(vectors=np.take(prepared.vectors, items, axis=0).tobytes(),
                                             dimension=config.collection.dimension, upsert=upsert)
            add = request.records.add
            for n, i in enumerate(items):
                if n and not n % YIELD_EVERY:
                    await asyncio.sleep(0)
                item = inputs[i]
                url = item.url or (item.image.url if item.HasField("image") else "")
                if item.HasField("metadata"):
                    add(id=ids[i], url=url, metadata=item.metadata)
                else:
                    add(id=ids[i], url=url)
            if prepared.create_time is not None:
                for record in request.records:
                    record.create_time.CopyFrom(prepared.create_time)
            self._address(config, shard, request)
            writes[shard] = items, request
        return writes

    def _unary_write(self, config: shard_pb2.CollectionConfig, shard: int, request: shard_pb2.WriteRequest,
                     timeout: float | None) -> Awaitable[shard_pb2.WriteResponse]:
        return self._call(config, shard, "Write", request, timeout)

    async def _write(self, config: shard_pb2.CollectionConfig, prepared: Prepared, upsert: bool,
                     timeout: float | None, writes: dict[int, tuple[list[int], shard_pb2.WriteRequest]] | None = None,
                     send: Callable[[int, shard_pb2.WriteRequest], Awaitable[shard_pb2.WriteResponse]] | None = None
                     ) -> indexer_pb2.InsertRecordsResponse:
        """Sends the batch's records to their shards (`writes`: from `_shard_writes`, by default
        made here; `send(shard, request)`: by default a unary Write) and gathers the reply."""
        if writes is None:
            writes = await self._shard_writes(config, prepared, upsert)
        if send is None:
            def send(shard: int, request: shard_pb2.WriteRequest) -> Awaitable[shard_pb2.WriteResponse]:
                return self._unary_write(config, shard, request, timeout)
        outcomes = await asyncio.gather(*(send(shard, request) for shard, (_, request) in writes.items()),
                                        return_exceptions=True)
        ids = prepared.ids
        stored = [""] * len(ids)
        response = indexer_pb2.InsertRecordsResponse()
        failures = dict(prepared.errors)
        for (items, _), outcome in zip(writes.values(), outcomes):
            if isinstance(outcome, SimmeshError):  # the shard's part failed; the others stand
                for i in items:
                    failures[i] = outcome
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            existing = set(outcome.existing_ids)
            for i in items:
                record_id = ids[i]
                if record_id in existing:
                    failures[i] = AlreadyExists(f"record {record_id!r} already exists (set upsert to replace it)",
                                                reason="RECORD_EXISTS", field=f"records[{i}].id")
                else:
                    stored[i] = record_id
            response.inserted_count += outcome.inserted_count
            response.updated_count += outcome.updated_count
        response.ids.extend(stored)
        for i in sorted(failures):
            response.errors.append(common_pb2.ItemError(index=i, id=ids[i], status=failures[i].to_status()))
        return response

    async def get_records(self, collection_id: str, ids: Sequence[str], include_vectors: bool,
                          timeout: float | None) -> tuple[list[indexer_pb2.Record], list[str]]:
        config = self.shards.config(collection_id)
        by_shard: dict[int, list[str]] = {}
        for record_id in dict.fromkeys(ids):
            by_shard.setdefault(placement(record_id, config.collection.shard_count), []).append(record_id)
        replies = await asyncio.gather(*(
            self._call(config, shard, "Get", shard_pb2.GetRequest(
                ids=wanted, include_vectors=include_vectors), timeout)
            for shard, wanted in by_shard.items()))
        found: dict[str, indexer_pb2.Record] = {}
        for reply in replies:
            vectors = _rows(reply.vectors, reply.dimension)
            for j, record in enumerate(reply.records):
                found[record.id] = self._record(collection_id, record, vectors[j] if vectors is not None else None)
        return [found[i] for i in ids if i in found], [i for i in ids if i not in found]

    def _record(self, collection_id: str, record: shard_pb2.ShardRecord, vector: np.ndarray | None = None,
                metadata: bool = True) -> indexer_pb2.Record:
        out = indexer_pb2.Record(name=f"collections/{collection_id}/records/{record.id}", id=record.id,
                                 url=record.url, create_time=record.create_time, update_time=record.update_time)
        if metadata:
            out.metadata.CopyFrom(record.metadata)
        if vector is not None:
            out.vector.CopyFrom(common_pb2.Vector(dimension=len(vector), data=vector.astype("<f4").tobytes()))
        return out

    async def delete_records(self, collection_id: str, ids: Sequence[str], filter: struct_pb2.Struct | None,
                             timeout: float | None) -> tuple[int, list[str]]:
        config = self.shards.config(collection_id)
        if not ids and filter is None:
            raise InvalidArgument("give ids or a filter", reason="NOTHING_TO_DELETE", field="ids")
        if filter is not None:
            compile_filter(filter)
        if ids:
            by_shard: dict[int, list[str]] = {}
            for record_id in dict.fromkeys(ids):
                by_shard.setdefault(placement(record_id, config.collection.shard_count), []).append(record_id)
            calls = {s: shard_pb2.DeleteRequest(ids=wanted, filter=filter)
                     for s, wanted in by_shard.items()}
        else:
            calls = {s: shard_pb2.DeleteRequest(filter=filter)
                     for s in range(config.collection.shard_count)}
        replies = await asyncio.gather(*(self._call(config, s, "Delete", r, timeout) for s, r in calls.items()))
        deleted = {i for reply in replies for i in reply.deleted_ids}
        return len(deleted), [i for i in dict.fromkeys(ids) if i not in deleted]

    async def list_records(self, collection_id: str, after_id: str, limit: int, filter: struct_pb2.Struct | None,
                           include_vectors: bool, timeout: float | None) -> tuple[list[indexer_pb2.Record], bool]:
        """Up to `limit` records after `after_id` in id order across shards; True when more follow."""
        config = self.shards.config(collection_id)
        if filter is not None:
            compile_filter(filter)

        async def page(shard: int) -> shard_pb2.ListResponse:
            return await self._call(config, shard, "List", shard_pb2.ListRequest(
                after_id=after_id, limit=limit + 1, filter=filter,
                include_vectors=include_vectors), timeout)

        replies, _ = await self._each_shard(config, page)
        merged = []
        for reply in replies.values():
            vectors = _rows(reply.vectors, reply.dimension)
            merged += [(r, vectors[j] if vectors is not None else None) for j, r in enumerate(reply.records)]
        merged.sort(key=lambda pair: pair[0].id)
        return [self._record(collection_id, r, v) for r, v in merged[:limit]], len(merged) > limit

    async def sample_records(self, collection_id: str, count: int, filter: struct_pb2.Struct | None,
                             include_vectors: bool, seed: int, timeout: float | None) -> list[indexer_pb2.Record]:
        config = self.shards.config(collection_id)
        if not 1 <= count <= MAX_BATCH:
            raise InvalidArgument(f"count must be 1..{MAX_BATCH}, got {count}", reason="INVALID_COUNT", field="count")
        if filter is not None:
            compile_filter(filter)

        async def sample(shard: int) -> shard_pb2.SampleResponse:
            return await self._call(config, shard, "Sample", shard_pb2.SampleRequest(
                count=count, filter=filter, seed=seed + shard if seed else 0,
                include_vectors=include_vectors), timeout)

        replies, _ = await self._each_shard(config, sample)
        pool = []
        for reply in replies.values():
            vectors = _rows(reply.vectors, reply.dimension)
            # Weight each shard's records by how many matching records they stand for.
            weight = reply.matching_count / max(len(reply.records), 1)
            pool += [(r, vectors[j] if vectors is not None else None, weight) for j, r in enumerate(reply.records)]
        if not pool:
            return []
        rng = np.random.default_rng(seed or None)
        weights = np.array([w for _, _, w in pool], dtype=np.float64)
        picks = rng.choice(len(pool), size=min(count, len(pool)), replace=False, p=weights / weights.sum())
        return [self._record(collection_id, pool[i][0], pool[i][1]) for i in sorted(picks, key=lambda i: pool[i][0].id)]

    async def update_record(self, record: indexer_pb2.Record, paths: Sequence[str], image: common_pb2.Image | None,
                            timeout: float | None) -> indexer_pb2.Record:
        parts = record.name.split("/")
        if len(parts) != 4 or parts[0] != "collections" or parts[2] != "records" or not parts[3]:
            raise InvalidArgument(f"record.name must be `collections/{{c}}/records/{{id}}`, got {record.name!r}",
                                  reason="INVALID_RECORD_NAME", field="record.name")
        collection_id, record_id = parts[1], parts[3]
        if not paths and image is None:
            raise InvalidArgument("update_mask is empty", reason="INVALID_UPDATE_MASK", field="update_mask")
        found, _ = await self.get_records(collection_id, [record_id], True, timeout)
        if not found:
            raise NotFound(f"record {record_id!r} does not exist in `collections/{collection_id}`",
                           reason="RECORD_NOT_FOUND", field="record.name")
        current = found[0]
        metadata = json_format.MessageToDict(current.metadata)
        update = indexer_pb2.RecordInput(id=record_id, url=current.url, vector=current.vector)
        for path in paths:
            if path == "metadata":
                metadata = json_format.MessageToDict(record.metadata)
            elif path.startswith("metadata."):
                key = path[len("metadata."):]
                if key in record.metadata.fields:
                    metadata[key] = json_format.MessageToDict(record.metadata)[key]
                else:
                    metadata.pop(key, None)
            elif path == "url":
                update.url = record.url
            elif path == "vector":
                update.vector.CopyFrom(record.vector)
            else:
                raise InvalidArgument(f"update_mask path {path!r} is not one of metadata, metadata.<field>, url, "
                                      "vector", reason="INVALID_UPDATE_MASK", field="update_mask")
        if image is not None:
            update.ClearField("vector")
            update.image.CopyFrom(image)
        update.metadata.CopyFrom(_struct(metadata))
        config = self.shards.config(collection_id)
        prepared = await self._prepare(config, [update], timeout)
        if prepared.errors:
            raise prepared.errors[0]
        prepared.create_time = current.create_time
        reply = await self._write(config, prepared, True, timeout)
        if reply.errors:
            raise errors.from_status(reply.errors[0].status)
        updated, _ = await self.get_records(collection_id, [record_id], False, timeout)
        return updated[0]

    # ================================================================================ search

    async def search(self, request: indexer_pb2.SearchRequest, timeout: float | None) -> indexer_pb2.SearchResponse:
        collection_id = collection_id_of(request.collection)
        config = self.shards.config(collection_id)
        spec = config.collection
        k = request.k or 10
        if not 1 <= k <= MAX_K:
            raise InvalidArgument(f"k must be 1..{MAX_K}, got {request.k}", reason="INVALID_K", field="k")
        if not request.queries:
            raise InvalidArgument("queries must not be empty", reason="NO_QUERIES", field="queries")
        if len(request.queries) > MAX_QUERIES:
            raise InvalidArgument(f"at most {MAX_QUERIES} queries per call, got {len(request.queries)}",
                                  reason="TOO_MANY_QUERIES", field="queries")
        if request.nprobe < 0 or request.ef_search < 0:
            raise InvalidArgument("nprobe and ef_search must not be negative", reason="INVALID_SEARCH_PARAMS",
                                  field="nprobe" if request.nprobe < 0 else "ef_search")
        if not 0.0 <= request.tag_weight <= 1.0:
            raise InvalidArgument(f"tag_weight must be within 0..1, got {request.tag_weight}",
                                  reason="INVALID_TAG_WEIGHT", field="tag_weight")
        if request.tag_weight and not spec.tags_field:
            raise FailedPrecondition("tag-weighted search needs the collection's tags_field",
                                     reason="NO_TAGS_FIELD", field="tag_weight")
        if request.group_by_product and not spec.product_id_field:
            raise FailedPrecondition("grouping needs the collection's product_id_field", reason="NO_PRODUCT_FIELD",
                                     field="group_by_product")
        group_size = request.group_size or 1
        if request.group_size < 0 or group_size > MAX_K:
            raise InvalidArgument(f"group_size must be 1..{MAX_K}", reason="INVALID_GROUP_SIZE", field="group_size")
        query_filter = request.filter if request.HasField("filter") else None
        if query_filter is not None:
            compile_filter(query_filter)
        vectors, exclude = await self._query_vectors(collection_id, config, request.queries, timeout)
        coarse = await self._assign(collection_id, config, vectors, request.nprobe)
        fields = [f for f in (spec.product_id_field if request.group_by_product else "",
                              spec.tags_field if request.tag_weight else "") if f]
        fetch = k
        if request.group_by_product:
            fetch = max(k * group_size * 3, 50)
        if request.tag_weight:
            fetch = max(fetch, k * 4, 50)
        fetch = min(fetch, MAX_FETCH)
        while True:
            replies, partial = await self._fan_out(collection_id, config, request, vectors, exclude, fetch, fields,
                                                   timeout, coarse)
            if not (request.tag_weight or request.group_by_product):
                response = indexer_pb2.SearchResponse(partial=bool(partial), unavailable_shards=partial)
                self._best(spec, request, replies, len(vectors), k, response.results)
                return response
            candidates, full = self._candidates(spec, replies, len(vectors), fetch)
            results, short = self._rank(spec, request, candidates, k, group_size)
            if not short or not full or fetch >= MAX_FETCH:
                break
            fetch = min(fetch * 4, MAX_FETCH)
        return indexer_pb2.SearchResponse(results=results, partial=bool(partial), unavailable_shards=partial)

    async def _query_vectors(self, collection_id: str, config: shard_pb2.CollectionConfig,
                             queries: Sequence[indexer_pb2.Query], timeout: float | None
                             ) -> tuple[np.ndarray, list[list[str]]]:
        spec = config.collection
        vectors = np.zeros((len(queries), spec.dimension), dtype=np.float32)
        exclude: list[list[str]] = [[] for _ in queries]
        by_id: dict[str, list[int]] = {}
        images: list[int] = []
        given: list[int] = []
        given_data: list[bytes] = []
        for i, query in enumerate(queries):
            kind = query.WhichOneof("query")
            if kind == "vector":
                given_data.append(vector_data(query.vector, spec.dimension, f"queries[{i}].vector"))
                given.append(i)
            elif kind == "record_id":
                by_id.setdefault(query.record_id, []).append(i)
                exclude[i].append(query.record_id)
            elif kind == "image":
                if not spec.model:
                    raise FailedPrecondition("searching by image needs a collection bound to a model",
                                             reason="NO_MODEL", field=f"queries[{i}].image")
                images.append(i)
            else:
                raise InvalidArgument(f"queries[{i}] needs a vector, a record_id or an image", reason="EMPTY_QUERY",
                                      field=f"queries[{i}]")
        if given:
            matrix, bad = stack_rows(given_data, spec.dimension)
            if bad:
                i = given[bad[0]]
                raise InvalidArgument(f"queries[{i}].vector holds NaN or infinite values", reason="INVALID_VECTOR",
                                      field=f"queries[{i}].vector")
            if len(given) == len(queries):
                vectors = matrix
            else:
                vectors[given] = matrix
        if by_id:
            found, missing = await self.get_records(collection_id, list(by_id), True, timeout)
            if missing:
                first = by_id[missing[0]][0]
                raise NotFound(f"record {missing[0]!r} does not exist in `collections/{collection_id}`",
                               reason="RECORD_NOT_FOUND", field=f"queries[{first}].record_id")
            for record in found:
                for i in by_id[record.id]:
                    vectors[i] = np.frombuffer(record.vector.data, dtype="<f4")
        if images:
            reply = await self._embed(spec.model, [queries[i].image for i in images], timeout)
            if reply.errors:
                item = reply.errors[0]
                error = errors.from_status(item.status)
                error.violations = [(f"queries[{images[item.index]}].image", error.message)]
                raise error
            embedded = np.frombuffer(reply.vectors.data, dtype="<f4").reshape(len(images), -1)
            if embedded.shape[1] != spec.dimension:
                raise FailedPrecondition(f"the model gives {embedded.shape[1]}-d vectors, the collection holds "
                                         f"{spec.dimension}-d ones", reason="DIMENSION_MISMATCH")
            vectors[images] = embedded
        return vectors, exclude

    async def _assign(self, collection_id: str, config: shard_pb2.CollectionConfig, vectors: np.ndarray,
                      nprobe: int) -> Coarse | None:
        """The queries' IVF lists, assigned here once for all shards (see `coarse`), or None
        where the shards assign them."""
        if len(vectors) < SMALL_BATCH:
            return None  # the shards assign a few queries at once, in parallel: nothing to save
        quantizer = self.coarse.get(storage_of(collection_id, config), config)
        if quantizer is None:
            return None
        return await asyncio.to_thread(quantizer.assign, vectors, nprobe)

    async def _fetch_trained_index(self, storage: str, config: shard_pb2.CollectionConfig
                                   ) -> shard_pb2.GetTrainedIndexResponse:
        return await self._call(config, 0, "GetTrainedIndex", shard_pb2.GetTrainedIndexRequest(), 30.0,
                                storage=storage)

    async def _fan_out(self, collection_id, config, request, vectors: np.ndarray, exclude, fetch: int,
                       fields: list[str], timeout: float | None, coarse: Coarse | None = None):
        """Every shard's `fetch` best per query, by shard, and the shards that did not answer."""
        shard_request = shard_pb2.SearchRequest(
            queries=vectors.tobytes(), query_count=len(vectors),
            dimension=config.collection.dimension, k=fetch, filter=request.filter if request.HasField("filter") else None,
            nprobe=request.nprobe, ef_search=request.ef_search,
            exclude=[shard_pb2.ExcludedIds(ids=ids) for ids in exclude] if any(exclude) else [],
            include_metadata=request.include_metadata, include_vectors=request.include_vectors, fields=fields,
        )
        if coarse is not None:
            shard_request.coarse_lists = coarse.lists.astype("<i8", copy=False).tobytes()
            shard_request.coarse_distances = coarse.distances.astype("<f4", copy=False).tobytes()
            shard_request.coarse_digest = coarse.digest

        async def search(shard: int) -> shard_pb2.SearchResponse:
            if len(vectors) < SMALL_BATCH:
                return await self._stream_search(config, shard, shard_request, timeout)
            one = shard_pb2.SearchRequest()
            one.CopyFrom(shard_request)
            return await self._call(config, shard, "Search", one, timeout)

        return await self._each_shard(config, search, allow_partial=request.allow_partial)

    async def _stream_search(self, config: shard_pb2.CollectionConfig, shard: int,
                             request: shard_pb2.SearchRequest, timeout: float | None) -> shard_pb2.SearchResponse:
        """A small search of one shard, on the stream to its node (see `shard_stream`); over a
        unary call where the node has no stream."""
        item = shard_pb2.SearchStreamRequest(search=request)
        collection_id = self._address(config, shard, item.search)
        storage = item.search.collection
        stream = self.shards.search_stream(storage, shard, collection_id)
        if stream is not None:
            try:
                return await stream.ask(item, timeout)
            except asyncio.TimeoutError:
                raise shard_unavailable(collection_id, shard, "deadline exceeded") from None
            except StreamClosed as error:
                if error.code == grpc.StatusCode.UNIMPLEMENTED:
                    self.shards.unary_only(storage, shard)
                elif stream.answered:
                    raise shard_unavailable(collection_id, shard, str(error)) from None
                # else a stream refused before any answer (a node without the method can end it
                # with INTERNAL when a write races its refusal): the unary call says how the node is
        return await self._call(config, shard, "Search", item.search, timeout)

    def _best(self, spec: indexer_pb2.Collection, request: indexer_pb2.SearchRequest,
              replies: dict[int, shard_pb2.SearchResponse], nq: int, k: int, out) -> None:
        """Adds to `out` (a response's results) the k best hits per query across the shards'
        answers (no tags, no grouping), merged as arrays: the same hits in the same order as
        `_rank` gives. Built in place: copying 10,000 hits into a response costs as much again."""
        if not replies:
            for _ in range(nq):
                out.add()
            return
        if nq < SMALL_BATCH:  # fewer hits than numpy's overheads are worth
            self._best_few(spec, request, replies, nq, k, out)
            return
        ids = np.concatenate([np.array(r.ids, dtype=object).reshape(nq, -1) for r in replies.values()], axis=1)
        scores = np.concatenate([np.frombuffer(r.scores, dtype="<f4").reshape(nq, -1) for r in replies.values()],
                                axis=1)
        if request.HasField("min_score"):
            scores = np.where(scores >= request.min_score, scores, -np.inf)
        best_ids, best_scores = top_rows(ids, scores, k)
        records, vectors = _details(spec, replies)
        for row_ids, row_scores in zip(best_ids.tolist(), best_scores.tolist()):
            hits = out.add().hits
            for hit_id, score in zip(row_ids, row_scores):
                if score == -math.inf:
                    break
                self._add_hit(hits, hit_id, score, records, vectors, request)

    def _best_few(self, spec: indexer_pb2.Collection, request: indexer_pb2.SearchRequest,
                  replies: dict[int, shard_pb2.SearchResponse], nq: int, k: int, out) -> None:
        """`_best` for a few queries: each query's hits as plain (-score, id) pairs, sorted (the
        order `top` gives). Building a `Candidate` for every hit every shard returned took about
        a third of the router's own time for a single query (0.1 of 0.28 ms, measured in
        process)."""
        min_score = request.min_score if request.HasField("min_score") else -math.inf
        rows: list[list[tuple[float, str]]] = [[] for _ in range(nq)]
        for reply in replies.values():
            width = reply.k or k
            scores = np.frombuffer(reply.scores, dtype="<f4").tolist()
            ids = list(reply.ids)
            for q, row in enumerate(rows):
                for j in range(q * width, min((q + 1) * width, len(ids))):
                    if ids[j] and scores[j] >= min_score:
                        row.append((-scores[j], ids[j]))
        records, vectors = _details(spec, replies)
        for row in rows:
            hits = out.add().hits
            for negated, hit_id in sorted(row)[:k]:
                self._add_hit(hits, hit_id, -negated, records, vectors, request)

    def _add_hit(self, hits, hit_id: str, score: float, records: dict[str, shard_pb2.ShardRecord],
                 vectors: dict[str, bytes], request: indexer_pb2.SearchRequest) -> None:
        """Appends a hit to a result's `hits`: its record's url, metadata and vector where the
        shards sent records (see `_details`), else the id and score alone."""
        if records:
            hits.append(self._hit(Candidate(hit_id, score, score, records.get(hit_id), vectors.get(hit_id, b"")),
                                  request))
        else:
            hits.add(id=hit_id, score=score, visual_score=score)

    def _candidates(self, spec: indexer_pb2.Collection, replies: dict[int, shard_pb2.SearchResponse], nq: int,
                    fetch: int) -> tuple[list[list[Candidate]], bool]:
        """The shards' hits per query, as candidates, and whether some shard returned full lists
        (so fetching more could find more)."""
        per_query: list[list[Candidate]] = [[] for _ in range(nq)]
        full = False
        records, vectors = _details(spec, replies)
        for shard, reply in replies.items():
            scores = np.frombuffer(reply.scores, dtype="<f4")
            width = reply.k or fetch
            for q in range(nq):
                row = reply.ids[q * width:(q + 1) * width]
                hits = 0
                for j, hit_id in enumerate(row):
                    if not hit_id:
                        continue
                    hits += 1
                    score = float(scores[q * width + j])
                    per_query[q].append(Candidate(hit_id, score, score, records.get(hit_id),
                                                  vectors.get(hit_id, b""), shard))
                full = full or hits >= width
        return per_query, full

    def _rank(self, spec: indexer_pb2.Collection, request: indexer_pb2.SearchRequest,
              per_query: list[list[Candidate]], k: int, group_size: int
              ) -> tuple[list[indexer_pb2.QueryResult], bool]:
        """Results per query, and whether some query came out short of k (hits or groups)."""
        results, short = [], False
        for q, candidates in enumerate(per_query):
            if request.tag_weight:
                blend_tags(candidates, request.queries[q].tags, request.tag_weight,
                           lambda c: lookup(_metadata_dict(c.record), spec.tags_field))
            if request.HasField("min_score"):
                candidates = [c for c in candidates if c.score >= request.min_score]
            ordered = sorted(candidates, key=lambda c: (-c.score, c.id))
            result = indexer_pb2.QueryResult()
            if request.group_by_product:
                groups = group_by(ordered, k, group_size,
                                  lambda c: lookup(_metadata_dict(c.record), spec.product_id_field))
                short = short or len(groups) < k
                for group in groups:
                    result.groups.append(indexer_pb2.HitGroup(
                        product_id=group.product_id, score=group.score,
                        hits=[self._hit(c, request) for c in group.hits]))
            else:
                best = top(ordered, k)
                short = short or len(best) < k
                result.hits.extend(self._hit(c, request) for c in best)
            results.append(result)
        return results, short

    @staticmethod
    def _hit(candidate: Candidate, request: indexer_pb2.SearchRequest) -> indexer_pb2.Hit:
        hit = indexer_pb2.Hit(id=candidate.id, score=candidate.score, visual_score=candidate.visual)
        if candidate.record is not None:
            hit.url = candidate.record.url
            if request.include_metadata:
                hit.metadata.CopyFrom(candidate.record.metadata)
        if request.include_vectors and candidate.vector:
            hit.vector.CopyFrom(common_pb2.Vector(dimension=len(candidate.vector) // 4, data=candidate.vector))
        return hit

    # ============================================================================== training

    async def train_index(self, collection_id: str, index: indexer_pb2.IndexSpec,
                          timeout: float | None):
        config = self.shards.config(collection_id)
        spec = indexer_pb2.IndexSpec()
        spec.CopyFrom(config.collection.index)
        for descriptor, value in index.ListFields():
            setattr(spec, descriptor.name, value)
        if spec.kind in (indexer_pb2.INDEX_KIND_UNSPECIFIED, indexer_pb2.INDEX_KIND_EXACT):
            raise InvalidArgument("index.kind must name an approximate index (IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW)",
                                  reason="INVALID_INDEX_KIND", field="index.kind")
        if collection_id in self._training:
            raise FailedPrecondition(f"collection `collections/{collection_id}` is already training",
                                     reason="ALREADY_TRAINING")
        stats = await self.stats(collection_id, timeout)
        unavailable = [s.name for s in stats.shards if not s.available]
        if unavailable:
            raise Unavailable(f"shard {unavailable[0]} is unavailable", reason="SHARD_UNAVAILABLE",
                              metadata={"shard": unavailable[0]})
        need = spec.min_train_vectors or self.min_train_vectors
        if stats.record_count < need:
            raise FailedPrecondition(f"need at least {need} vectors to train, have {stats.record_count}",
                                     reason="NEED_MORE_SAMPLES",
                                     metadata={"need": need, "have": stats.record_count})
        metadata = indexer_pb2.TrainIndexMetadata(collection=config.collection.name, stage="sampling",
                                                  vector_count=stats.record_count, kind=spec.kind)

        async def job(ctx: JobContext) -> indexer_pb2.Collection:
            try:
                return await self._train(ctx, collection_id, spec, stats, metadata)
            finally:
                self._training.discard(collection_id)

        self._training.add(collection_id)
        try:
            return self.operations.start("train_index", metadata, job)
        except BaseException:
            self._training.discard(collection_id)
            raise

    async def _train(self, ctx: JobContext, collection_id: str, spec: indexer_pb2.IndexSpec,
                     stats: indexer_pb2.CollectionStats, metadata: indexer_pb2.TrainIndexMetadata):
        config = self.shards.config(collection_id)
        trained = b""
        if spec.kind in IVF_KINDS:
            total = stats.record_count
            sample = await self._training_sample(config, stats, min(total, TRAIN_SAMPLE))
            metadata.stage, metadata.progress = "training", 0.2
            ctx.report(metadata)
            trained = await asyncio.to_thread(VectorIndex.train_empty, config.collection.dimension,
                                              config.collection.metric, spec, sample, total)
        metadata.stage, metadata.progress = "adding", 0.5
        ctx.report(metadata)
        done = 0

        async def train_shard(shard: int) -> shard_pb2.TrainResponse:
            nonlocal done
            reply = await self._call(config, shard, "Train", shard_pb2.TrainRequest(
                index=spec, trained_index=trained), None)
            done += 1
            metadata.progress = 0.5 + 0.45 * done / config.collection.shard_count
            ctx.report(metadata)
            return reply

        await self._each_shard(config, train_shard)
        config = self.shards.config(collection_id)
        config.collection.index.CopyFrom(spec)
        config.collection.index_state = indexer_pb2.INDEX_STATE_TRAINED
        config.collection.update_time.CopyFrom(now())
        await self._save(config)
        if trained:
            quantizer = await asyncio.to_thread(CoarseQuantizer, trained, config.collection.metric, spec.nprobe)
            self.coarse.put(storage_of(collection_id, config), config, quantizer)
        metadata.stage, metadata.progress = "done", 1.0
        ctx.report(metadata)
        self._training.discard(collection_id)
        return await self.get_collection(collection_id)

    async def _training_sample(self, config: shard_pb2.CollectionConfig, stats: indexer_pb2.CollectionStats,
                               size: int) -> np.ndarray:
        counts = {int(s.name.rsplit("/", 1)[-1]): s.record_count for s in stats.shards}
        total = max(sum(counts.values()), 1)

        async def sample(shard: int) -> shard_pb2.SampleVectorsResponse:
            want = math.ceil(size * counts.get(shard, 0) / total)
            return await self._call(config, shard, "SampleVectors", shard_pb2.SampleVectorsRequest(
                count=want, seed=7), None)

        replies, _ = await self._each_shard(config, sample)
        parts = [_rows(r.vectors, r.dimension) for r in replies.values() if r.count]
        return np.concatenate([p for p in parts if p is not None]) if parts else \
            np.empty((0, config.collection.dimension), np.float32)


def _batch_ids(inputs: Sequence[indexer_pb2.RecordInput]) -> list[str]:
    """The ids of an insert batch ("" where to be generated), once the batch is checked."""
    if not inputs:
        raise InvalidArgument("records must not be empty", reason="NO_RECORDS", field="records")
    if len(inputs) > MAX_BATCH:
        raise InvalidArgument(f"a batch holds at most {MAX_BATCH} records, got {len(inputs)}",
                              reason="BATCH_TOO_LARGE", field="records")
    ids = [item.id for item in inputs]
    given = [i for i in ids if i]
    if len(set(given)) != len(given):  # name the first repeat
        seen: dict[str, int] = {}
        for i, record_id in enumerate(ids):
            if record_id:
                if record_id in seen:
                    raise InvalidArgument(f"records[{i}].id {record_id!r} repeats records[{seen[record_id]}].id",
                                          reason="DUPLICATE_ID", field=f"records[{i}].id")
                seen[record_id] = i
    return ids


def _details(spec: indexer_pb2.Collection, replies: dict[int, shard_pb2.SearchResponse]
             ) -> tuple[dict[str, shard_pb2.ShardRecord], dict[str, bytes]]:
    """The records the shards sent with their hits (asked for with metadata, fields or vectors)
    and their vectors as packed float32, by record id; both empty when none were asked for."""
    records: dict[str, shard_pb2.ShardRecord] = {}
    vectors: dict[str, bytes] = {}
    for reply in replies.values():
        records.update((r.id, r) for r in reply.records)
        hit_vectors = _rows(reply.vectors, spec.dimension)
        if hit_vectors is not None:
            vectors.update((r.id, hit_vectors[j].tobytes()) for j, r in enumerate(reply.records))
    return records, vectors


def _rows(data: bytes, dimension: int) -> np.ndarray | None:
    if not data or not dimension:
        return None
    return np.frombuffer(data, dtype="<f4").reshape(-1, dimension)

