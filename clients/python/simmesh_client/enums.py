"""Proto enum values from the short names people type: `nchw`, `ivf-flat`, `cosine`.

enum_value(indexer_pb2.IndexKind, "INDEX_KIND_", "ivf_flat")  # -> INDEX_KIND_IVF_FLAT
enum_value(indexer_pb2.IndexKind, "INDEX_KIND_", "INDEX_KIND_HNSW")
short_name(indexer_pb2.IndexKind, "INDEX_KIND_", indexer_pb2.INDEX_KIND_HNSW)  # -> "hnsw"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from simmesh_proto.v1 import embedder_pb2, indexer_pb2

# Spellings that do not follow from the enum names.
_ALIASES: Mapping[str, Mapping[str, str]] = {
    "RESIZE_POLICY_": {"SHORTER_SIDE_CROP": "SHORTER_SIDE_CENTER_CROP", "SHORTER_SIDE": "SHORTER_SIDE_CENTER_CROP"},
    "COLOR_ORDER_": {"GREY": "GRAY", "GRAYSCALE": "GRAY"},
    "METRIC_": {"IP": "INNER_PRODUCT", "DOT": "INNER_PRODUCT"},
}

# The enums the SDK and simctl accept by name, with the prefix their value names carry.
LAYOUT = (embedder_pb2.TensorLayout, "TENSOR_LAYOUT_")
COLOR_ORDER = (embedder_pb2.ColorOrder, "COLOR_ORDER_")
RESIZE_POLICY = (embedder_pb2.ResizePolicy, "RESIZE_POLICY_")
MODEL_KIND = (embedder_pb2.ModelKind, "MODEL_KIND_")
METRIC = (indexer_pb2.Metric, "METRIC_")
INDEX_KIND = (indexer_pb2.IndexKind, "INDEX_KIND_")
COLLECTION_TYPE = (indexer_pb2.CollectionType, "COLLECTION_TYPE_")
IMAGE_KEEPING = (indexer_pb2.ImageKeeping, "IMAGE_KEEPING_")
RECORD_VIEW = (indexer_pb2.RecordView, "RECORD_VIEW_")

EnumT = TypeVar("EnumT", bound=int)


def enum_value(enum: type[EnumT], prefix: str, value: str | int) -> EnumT:
    """The number of `value`, given as a number, a full name, or a short name in any case with `-` or `_`.

    Raises ValueError naming the accepted short names.
    """
    # A generated enum class is an EnumTypeWrapper at run time, whose values are plain ints.
    wrapper: Any = enum
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in wrapper.values():
            raise ValueError(f"{value} is not a {wrapper.DESCRIPTOR.name} value")
        return cast(EnumT, value)
    if not isinstance(value, str):
        raise TypeError(f"{wrapper.DESCRIPTOR.name} must be a name or a number, got {type(value).__name__}")
    text = value.strip().upper().replace("-", "_")
    short = text[len(prefix) :] if text.startswith(prefix) else text
    short = _ALIASES.get(prefix, {}).get(short, short)
    full = prefix + short
    if not short.endswith("_UNSPECIFIED") and short != "UNSPECIFIED" and full in wrapper.DESCRIPTOR.values_by_name:
        return cast(EnumT, int(wrapper.Value(full)))
    expected = ", ".join(short_names(wrapper, prefix))
    raise ValueError(f"unknown {wrapper.DESCRIPTOR.name} {value!r}; expected one of {expected}")


def short_name(enum: Any, prefix: str, number: int) -> str:
    """`INDEX_KIND_IVF_FLAT` -> `ivf_flat`; numbers outside the enum as digits."""
    try:
        name = enum.Name(number)
    except ValueError:
        return str(number)
    return (name[len(prefix) :] if name.startswith(prefix) else name).lower()


def short_names(enum: Any, prefix: str) -> list[str]:
    """The short names of every value but the zero one."""
    return [short_name(enum, prefix, number) for number in enum.values() if number != 0]
