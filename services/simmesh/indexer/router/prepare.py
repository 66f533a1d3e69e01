"""An insert batch checked and embedded, ready to be split by shard: the batch's faults raise,
an item's own are kept with it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from google.protobuf import timestamp_pb2

from simmesh.indexer.router.embedder import Embedder, embedded_rows, item_error
from simmesh.kit import reasons
from simmesh.kit.batches import check_batch_size
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, SimmeshError
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import common_pb2, indexer_pb2

MAX_BATCH = 10_000
# Records an insert batch goes through between turns it gives the event loop, so that a large
# batch does not hold up other calls (searches, the previous batch's writes) for long.
YIELD_EVERY = 500


@dataclass
class PreparedWrites:
    """An insert batch after validation and embedding: record i is `inputs[i]` stored as
    `ids[i]` (generated where the input had none; "" where the item failed, its error in
    `errors`) with vector `vectors[i]`."""

    inputs: Sequence[indexer_pb2.RecordInput]
    ids: list[str]
    vectors: np.ndarray
    errors: dict[int, SimmeshError]
    # The records' creation time, for an update that keeps it; None: the time of the write.
    create_time: timestamp_pb2.Timestamp | None = None
    # A batch sent again under its request id (see `replays`): (collection id, request id) to
    # record this attempt under; the positions that landed in an earlier attempt (answered as
    # stored, not written again) and those that may have (their shard failed its part); the
    # first reply, where the whole batch landed before.
    request_key: tuple[str, str] | None = None
    landed: set[int] = field(default_factory=set)
    unsure: set[int] = field(default_factory=set)
    reply: indexer_pb2.InsertRecordsResponse | None = None


def vector_data(vector: common_pb2.Vector, dimension: int, field: str) -> bytes:
    """The vector's packed float32 bytes, once its dimension and length are checked (the
    values are checked batch-wise by `stack_rows`)."""
    data = vector.data
    if vector.dimension != dimension or len(data) != dimension * 4:
        raise InvalidArgument(
            f"{field} has dimension {vector.dimension} ({len(data)} bytes); the collection's is {dimension}",
            reason=reasons.DIMENSION_MISMATCH,
            field=field,
        )
    return data


def stack_rows(rows: Sequence[bytes], dimension: int) -> tuple[np.ndarray, list[int]]:
    """Packed float32 rows as one (len(rows), dimension) matrix (one copy), and the positions of
    the rows holding NaN or infinite values."""
    matrix = np.frombuffer(b"".join(rows), dtype="<f4").reshape(len(rows), dimension)
    if np.isfinite(matrix).all():  # one reduction; the rows are looked at only when some value is bad
        return matrix, []
    return matrix, np.flatnonzero(~np.isfinite(matrix).all(axis=1)).tolist()


def is_cosine(spec: indexer_pb2.Collection) -> bool:
    """Whether the collection compares by cosine (as the shards take one without a metric)."""
    return spec.metric in (indexer_pb2.METRIC_COSINE, indexer_pb2.METRIC_UNSPECIFIED)


def zero_rows(matrix: np.ndarray) -> list[int]:
    """The positions of the all-zero rows: vectors without a direction, so without a cosine."""
    return np.flatnonzero(~matrix.any(axis=1)).tolist()


def zero_vector(field: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field} is an all-zero vector, which has no cosine similarity", reason=reasons.INVALID_VECTOR, field=field
    )


def batch_ids(inputs: Sequence[indexer_pb2.RecordInput]) -> list[str]:
    """The ids of an insert batch ("" where to be generated), once the batch is checked."""
    too_large = "a batch holds at most {limit} records, got {count}"
    check_batch_size(len(inputs), MAX_BATCH, "records", empty_reason=reasons.NO_RECORDS, too_large=too_large)
    ids = [item.id for item in inputs]
    given = [i for i in ids if i]
    if len(set(given)) != len(given):  # name the first repeat
        seen: dict[str, int] = {}
        for i, record_id in enumerate(ids):
            if record_id:
                if record_id in seen:
                    raise InvalidArgument(
                        f"records[{i}].id {record_id!r} repeats records[{seen[record_id]}].id",
                        reason=reasons.DUPLICATE_ID,
                        field=f"records[{i}].id",
                    )
                seen[record_id] = i
    return ids


def _source(item: indexer_pb2.RecordInput, i: int, spec: indexer_pb2.Collection) -> str:
    """Where record i's vector comes from ("vector" or "image"), once the item is checked."""
    if item.HasField("metadata"):
        reserved = [k for k in item.metadata.fields if k.startswith("_")]
        if reserved:
            raise InvalidArgument(
                f"records[{i}].metadata field {reserved[0]!r}: names starting with '_' are reserved",
                reason=reasons.RESERVED_FIELD,
                field=f"records[{i}].metadata",
            )
    if item.HasField("vector"):
        return "vector"
    if item.HasField("image"):
        if not spec.model:
            raise FailedPrecondition(
                f"records[{i}] has an image but the collection has no model",
                reason=reasons.NO_MODEL,
                field=f"records[{i}].image",
            )
        return "image"
    raise InvalidArgument(
        f"records[{i}] needs a vector or an image", reason=reasons.NO_VECTOR_OR_IMAGE, field=f"records[{i}]"
    )


async def prepare(
    config: shard_pb2.CollectionConfig,
    inputs: Sequence[indexer_pb2.RecordInput],
    embedder: Embedder,
    timeout: float | None,
    refused: Mapping[int, SimmeshError] | None = None,
) -> PreparedWrites:
    """Validates the batch and embeds its images. A fault of the whole batch raises; an item's
    own is kept in `errors`, with those `refused` before (by position)."""
    ids = batch_ids(inputs)
    spec = config.collection
    dimension = spec.dimension
    failures: dict[int, SimmeshError] = dict(refused or {})
    to_embed: list[int] = []
    given: list[int] = []
    given_data: list[bytes] = []
    for i, item in enumerate(inputs):
        if i and not i % YIELD_EVERY:
            await asyncio.sleep(0)
        if i in failures:
            continue
        try:
            if _source(item, i, spec) == "vector":
                given_data.append(vector_data(item.vector, dimension, f"records[{i}].vector"))
                given.append(i)
            else:
                to_embed.append(i)
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
        failures[i] = InvalidArgument(
            f"records[{i}].vector holds NaN or infinite values",
            reason=reasons.INVALID_VECTOR,
            field=f"records[{i}].vector",
        )
    if to_embed:
        reply = await embedder.embed(spec.model, [inputs[i].image for i in to_embed], timeout)
        embedded = embedded_rows(reply, dimension, "collection.model")
        failed = {e.index: e for e in reply.errors}
        for j, i in enumerate(to_embed):
            if j in failed:
                failures[i] = item_error(failed[j], f"records[{i}].image")
            else:
                vectors[i] = embedded[j]
    if is_cosine(spec):
        for i in zero_rows(vectors):
            if i not in failures:
                failures[i] = zero_vector(f"records[{i}].{'vector' if inputs[i].HasField('vector') else 'image'}")
    for i in failures:
        ids[i] = ""
    return PreparedWrites(inputs, ids, vectors, failures)
