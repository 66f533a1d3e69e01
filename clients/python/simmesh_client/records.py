"""Records as JSON documents, and the outcome of a bulk insert (see `bulk_insert`).

A record is a dict in the seeds' (Ximilar-style) JSON form:

    {"_id": "sku-1", "_url": "https://shop/1.jpg", "color": "red", "price": 12.5}
    {"_id": "sku-2", "_file": "images/2.jpg", "tags": ["summer"]}
    {"_id": "sku-3", "_vector": [0.1, 0.2, ...], "_url": "https://shop/3.jpg"}

`_id` names the record (one is made before the record is first sent when absent, so that a retry
stores the same record); the image comes from `_url`,
`_base64` or `_file` (a local path, read and sent as bytes), or a ready vector from `_vector`, in
which case `_url` is only kept with the record. Every other field is metadata.
"""

from __future__ import annotations

import base64
import binascii
import collections
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from simmesh_client.vectors import to_vector
from simmesh_proto.v1 import common_pb2, indexer_pb2

RecordLike = Mapping[str, Any] | indexer_pb2.RecordInput

IMAGE_FIELDS = ("_url", "_base64", "_file")
VECTOR_FIELD = "_vector"
ID_FIELD = "_id"

# Reasons for records refused before they are sent.
INVALID_RECORD = "INVALID_RECORD"
INVALID_VECTOR = "INVALID_VECTOR"
FILE_UNREADABLE = "FILE_UNREADABLE"
DUPLICATE_ID = "DUPLICATE_ID"

# The bulk stream as a whole has no useful deadline: each batch is answered when it is durable.
BULK_STREAM_TIMEOUT = 7 * 24 * 3600.0


class RecordError(ValueError):
    """A record that cannot become a `RecordInput`; `reason` is one of the constants above."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def record_input(record: RecordLike, *, base_dir: str | os.PathLike[str] | None = None) -> indexer_pb2.RecordInput:
    """A `RecordInput` from a JSON record (or a copy of a `RecordInput`).

    Relative `_file` paths are read from `base_dir` (the working directory without one).
    Raises `RecordError`.
    """
    if isinstance(record, indexer_pb2.RecordInput):
        copy = indexer_pb2.RecordInput()
        copy.CopyFrom(record)
        return copy
    if not isinstance(record, Mapping):
        raise RecordError(INVALID_RECORD, f"a record must be a JSON object, got {type(record).__name__}")
    out = indexer_pb2.RecordInput(id=_record_id(record.get(ID_FIELD)))
    images = [name for name in IMAGE_FIELDS if record.get(name) not in (None, "")]
    has_vector = record.get(VECTOR_FIELD) is not None
    if has_vector:
        out.vector.CopyFrom(_vector(record[VECTOR_FIELD]))
        if set(images) - {"_url"}:
            raise RecordError(INVALID_RECORD, f"give `{VECTOR_FIELD}` or an image, not both")
        if images:
            out.url = _text(record, "_url")
    elif len(images) > 1:
        raise RecordError(INVALID_RECORD, f"give one image source, not {' and '.join(f'`{n}`' for n in images)}")
    elif images:
        out.image.CopyFrom(_image(record, images[0], base_dir))
    reserved = (ID_FIELD, VECTOR_FIELD, *IMAGE_FIELDS)
    metadata = {key: value for key, value in record.items() if key not in reserved}
    if metadata:
        try:
            out.metadata.update(metadata)
        except (ValueError, TypeError) as error:
            raise RecordError(INVALID_RECORD, f"metadata is not JSON: {error}") from None
    return out


def _record_id(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise RecordError(INVALID_RECORD, f"`{ID_FIELD}` must be a string, got {type(value).__name__}")


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record[name]
    if not isinstance(value, str):
        raise RecordError(INVALID_RECORD, f"`{name}` must be a string, got {type(value).__name__}")
    return value


def _vector(value: Any) -> common_pb2.Vector:
    if not isinstance(value, (list, tuple, np.ndarray)) or any(isinstance(v, (bool, str)) for v in value):
        raise RecordError(INVALID_VECTOR, f"`{VECTOR_FIELD}` must be a list of numbers")
    try:
        return to_vector(value)
    except (ValueError, TypeError) as error:
        raise RecordError(INVALID_VECTOR, f"`{VECTOR_FIELD}`: {error}") from None


def _image(record: Mapping[str, Any], name: str, base_dir: str | os.PathLike[str] | None) -> common_pb2.Image:
    value = _text(record, name)
    if name == "_url":
        return common_pb2.Image(url=value)
    if name == "_base64":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise RecordError(INVALID_RECORD, "`_base64` is not valid base64") from None
        return common_pb2.Image(base64=value)
    path = Path(value).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    try:
        return common_pb2.Image(content=path.read_bytes())
    except OSError as error:
        raise RecordError(FILE_UNREADABLE, f"`_file` {value!r}: {error.strerror or error}") from None


@dataclass(frozen=True)
class InsertFailure:
    """A record that was not stored: its position in the input, its id, and why."""

    index: int
    id: str
    reason: str
    message: str
    code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT


@dataclass(frozen=True)
class InsertBatch:
    """The outcome of one batch: input positions `start`..`start + count - 1`."""

    start: int
    count: int
    inserted: int
    updated: int
    failures: tuple[InsertFailure, ...]
    # Stored ids in input order; empty where the record failed (or is to be sent again).
    ids: tuple[str, ...]
    # Records of the batch to be sent again (a retryable failure); their outcome is in the summary.
    retried: int = 0


@dataclass
class InsertSummary:
    """Totals of a bulk insert: `retried`, the records sent more than once."""

    total: int = 0
    inserted: int = 0
    updated: int = 0
    failures: list[InsertFailure] = field(default_factory=list)
    retried: int = 0

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures

    def by_reason(self) -> dict[str, int]:
        """Failure counts per reason, most frequent first."""
        return dict(collections.Counter(failure.reason for failure in self.failures).most_common())

    def add(self, batch: InsertBatch) -> None:
        self.total += batch.count
        self.inserted += batch.inserted
        self.updated += batch.updated
        self.failures.extend(batch.failures)
