"""Conversions every service makes at its edge: Struct <-> dict, timestamps, packed vectors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
from google.protobuf import struct_pb2, timestamp_pb2

from simmesh_proto.v1 import common_pb2

Json = dict[str, Any]


def struct_to_dict(value: struct_pb2.Struct) -> Json:
    """A Struct as plain JSON values (numbers as floats)."""
    return {key: _from_value(item) for key, item in value.fields.items()}


def dict_to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def _from_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [_from_value(item) for item in value.list_value.values]
    return None


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp:
    """`value` as a Timestamp; the empty Timestamp (unset) for None."""
    stamp = timestamp_pb2.Timestamp()
    if value is not None:
        stamp.FromDatetime(value)
    return stamp


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def vector_pb(row: np.ndarray) -> common_pb2.Vector:
    """One float32 row as a packed `Vector` (little-endian bytes, not repeated floats)."""
    data = np.ascontiguousarray(row, dtype="<f4")
    return common_pb2.Vector(dimension=int(data.shape[-1]), data=data.tobytes())


def vector_of(message: common_pb2.Vector) -> np.ndarray:
    """A packed `Vector` as a read-only float32 array over its bytes (no copy)."""
    return np.frombuffer(message.data, dtype="<f4")
