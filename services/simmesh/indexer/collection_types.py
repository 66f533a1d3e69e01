"""Collection types: the presets (model, product field, grouping) a collection's type stands for,
and the `type = ...` filter of ListCollections."""

from __future__ import annotations

import re
from dataclasses import dataclass

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh_proto.v1 import indexer_pb2

DEFAULT_PRODUCT_ID_FIELD = "product_id"
_TYPE_PREFIX = "COLLECTION_TYPE_"
_FILTER_RE = re.compile(r"^\s*type\s*=\s*([A-Za-z_]+)\s*$")


@dataclass(frozen=True, slots=True)
class Preset:
    """What a type sets where the caller leaves a field empty."""

    model: str = ""
    product_id_field: str = ""
    # Whether searches group by product unless the request says otherwise.
    grouped: bool = False


PRESETS: dict[int, Preset] = {
    indexer_pb2.COLLECTION_TYPE_UNSPECIFIED: Preset(),
    indexer_pb2.COLLECTION_TYPE_GENERIC: Preset(model="models/generic"),
    indexer_pb2.COLLECTION_TYPE_PRODUCT: Preset(
        model="models/generic", product_id_field=DEFAULT_PRODUCT_ID_FIELD, grouped=True
    ),
    indexer_pb2.COLLECTION_TYPE_COLORS: Preset(model="models/color"),
    indexer_pb2.COLLECTION_TYPE_MATCHING: Preset(model="models/match"),
    indexer_pb2.COLLECTION_TYPE_CUSTOM: Preset(),
}
# Types that name a model of their own; re-embedding with another makes them CUSTOM.
_MODEL_TYPES = (
    indexer_pb2.COLLECTION_TYPE_GENERIC,
    indexer_pb2.COLLECTION_TYPE_COLORS,
    indexer_pb2.COLLECTION_TYPE_MATCHING,
)


def type_name(value: int) -> str:
    """`product` for COLLECTION_TYPE_PRODUCT; "" for UNSPECIFIED."""
    if value == indexer_pb2.COLLECTION_TYPE_UNSPECIFIED:
        return ""
    return indexer_pb2.CollectionType.Name(value)[len(_TYPE_PREFIX) :].lower()


def parse_type(text: str, field: str = "type") -> int:
    """The CollectionType that `text` names: `product`, `PRODUCT` or `COLLECTION_TYPE_PRODUCT`."""
    name = text.strip().upper()
    if not name.startswith(_TYPE_PREFIX):
        name = _TYPE_PREFIX + name
    if name not in indexer_pb2.CollectionType.DESCRIPTOR.values_by_name:
        known = ", ".join(type_name(v) for v in PRESETS if v)
        raise InvalidArgument(
            f"{field} {text!r} is not a collection type (known: {known})",
            reason=reasons.INVALID_COLLECTION_TYPE,
            field=field,
        )
    return indexer_pb2.CollectionType.Value(name)


def apply_preset(spec: indexer_pb2.Collection) -> None:
    """Fills the fields of `spec` that its type presets and the caller left empty; an unknown type
    or a CUSTOM one without a model is InvalidArgument."""
    if spec.type not in PRESETS:
        raise InvalidArgument(
            f"collection.type {spec.type} is not a known collection type",
            reason=reasons.INVALID_COLLECTION_TYPE,
            field="collection.type",
        )
    check_image_keeping(spec.image_keeping)
    if spec.type == indexer_pb2.COLLECTION_TYPE_CUSTOM and not spec.model:
        raise InvalidArgument(
            "a COLLECTION_TYPE_CUSTOM collection needs collection.model (an imported model or a task's version)",
            reason=reasons.MODEL_REQUIRED,
            field="collection.model",
        )
    preset = PRESETS[spec.type]
    spec.model = spec.model or preset.model
    spec.product_id_field = spec.product_id_field or preset.product_id_field


def check_image_keeping(value: int) -> None:
    if value not in indexer_pb2.ImageKeeping.values():
        raise InvalidArgument(
            f"collection.image_keeping {value} is not a known value",
            reason=reasons.INVALID_IMAGE_KEEPING,
            field="collection.image_keeping",
        )


def grouped_by_default(spec: indexer_pb2.Collection) -> bool:
    """Whether the collection's searches group by product when the request does not say."""
    return PRESETS.get(spec.type, Preset()).grouped and bool(spec.product_id_field)


def type_for_model(collection_type: indexer_pb2.CollectionType, model: str) -> indexer_pb2.CollectionType:
    """The type of a collection given `model` (re-embedded, or updated): a generic, colors or
    matching collection given another model than its own becomes CUSTOM; the others keep theirs."""
    if collection_type in _MODEL_TYPES and _model_id(model) != PRESETS[collection_type].model:
        return indexer_pb2.COLLECTION_TYPE_CUSTOM
    return collection_type


def _model_id(model: str) -> str:
    """`models/m` of `models/m/versions/v`."""
    return "/".join(model.split("/")[:2])


def parse_filter(text: str) -> int | None:
    """The collection type a ListCollections filter asks for; None for an empty filter."""
    if not text.strip():
        return None
    match = _FILTER_RE.match(text)
    if not match:
        raise InvalidArgument(
            f"filter {text!r} is not supported; use `type = PRODUCT` (or another collection type)",
            reason=reasons.INVALID_FILTER,
            field="filter",
        )
    return parse_type(match.group(1), "filter")
