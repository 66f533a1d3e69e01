"""Catalog records <-> `simmesh.v1` messages (ids shown as the caller calls them), and update masks -> the
store's changes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import field_mask_pb2, json_format, struct_pb2
from google.protobuf.message import Message

from simmesh.catalog.names import GROUPS, IMAGES, TASKS, TYPES, public_model_name, public_name, public_version_name
from simmesh.catalog.records import Group as GroupRecord
from simmesh.catalog.records import SimilarityType, Task, TaskVersion, TrainingImage
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh.kit.wire import Json, dict_to_struct, struct_to_dict, timestamp
from simmesh_proto.v1 import catalog_pb2

TYPE_MUTABLE = ("display_name", "description", "metadata")
TASK_MUTABLE = ("display_name", "description", "similarity_types", "training_config")
GROUP_MUTABLE = ("display_name", "metadata", "test")
IMAGE_MUTABLE = ("metadata",)


def config_to_dict(config: catalog_pb2.TrainingConfig) -> Json:
    return json_format.MessageToDict(config, preserving_proto_field_name=True)


def dict_to_config(value: Json) -> catalog_pb2.TrainingConfig:
    return json_format.ParseDict(value, catalog_pb2.TrainingConfig(), ignore_unknown_fields=True)


# ---------------------------------------------------------------------------------------------
# Records -> messages


def similarity_type_pb(record: SimilarityType) -> catalog_pb2.SimilarityType:
    return catalog_pb2.SimilarityType(
        name=public_name(TYPES, record.id),
        display_name=record.display_name,
        description=record.description,
        metadata=dict_to_struct(record.metadata),
        group_count=record.group_count,
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
    )


def task_pb(record: Task) -> catalog_pb2.Task:
    return catalog_pb2.Task(
        name=public_name(TASKS, record.id),
        display_name=record.display_name,
        description=record.description,
        similarity_types=[public_name(TYPES, t) for t in record.similarity_types],
        training_config=dict_to_config(record.training_config),
        production_version=record.production_version,
        latest_version=record.latest_version,
        model=public_model_name(f"models/{record.model_id}"),
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
    )


def group_pb(record: GroupRecord) -> catalog_pb2.Group:
    return catalog_pb2.Group(
        name=public_name(GROUPS, record.id),
        similarity_type=public_name(TYPES, record.similarity_type),
        display_name=record.display_name,
        metadata=dict_to_struct(record.metadata),
        test=record.test,
        images=[public_name(IMAGES, i) for i in record.images],
        members=[public_name(GROUPS, g) for g in record.members],
        parents=[public_name(GROUPS, g) for g in record.parents],
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
    )


def training_image_pb(record: TrainingImage) -> catalog_pb2.TrainingImage:
    return catalog_pb2.TrainingImage(
        name=public_name(IMAGES, record.id),
        sha256=record.sha256,
        uri=record.uri,
        source_url=record.source_url,
        content_type=record.content_type,
        width=record.width,
        height=record.height,
        size_bytes=record.size_bytes,
        metadata=dict_to_struct(record.metadata),
        groups=[public_name(GROUPS, g) for g in record.groups],
        create_time=timestamp(record.create_time),
    )


def task_version_pb(record: TaskVersion) -> catalog_pb2.TaskVersion:
    return catalog_pb2.TaskVersion(
        name=public_version_name(record.task_id, record.number),
        model_version=public_model_name(record.model_version),
        training_config=dict_to_config(record.training_config),
        metrics=dict(record.metrics),
        training_image_count=record.training_image_count,
        training_group_count=record.training_group_count,
        test_group_count=record.test_group_count,
        training_seconds=record.training_seconds,
        create_time=timestamp(record.create_time),
    )


# ---------------------------------------------------------------------------------------------
# Update masks


def mask_paths(
    message: Message, mask: field_mask_pb2.FieldMask, mutable: Iterable[str], nested: Iterable[str] = ()
) -> list[str]:
    """The paths an update applies (AIP-134): the mask's, `*` for every mutable field, or with
    no mask every mutable field the message sets. `nested` fields also take `field.sub` paths.
    Any other path is InvalidArgument (reason INVALID_UPDATE_MASK)."""
    mutable = tuple(mutable)
    nested = tuple(nested)
    if not mask.paths:
        return [f.name for f, _ in message.ListFields() if f.name in mutable]
    if list(mask.paths) == ["*"]:
        return list(mutable)
    paths = list(dict.fromkeys(mask.paths))
    for path in paths:
        head, dot, tail = path.partition(".")
        if (not dot and path in mutable) or (dot and head in nested and _is_field(message, head, tail)):
            continue
        raise InvalidArgument(
            f"update_mask path {path!r} is not updatable; updatable: {', '.join(mutable)}",
            reason=reasons.INVALID_UPDATE_MASK,
            field="update_mask",
        )
    return paths


def _is_field(message: Message, head: str, tail: str) -> bool:
    sub = message.DESCRIPTOR.fields_by_name[head].message_type
    return sub is not None and tail in sub.fields_by_name


def type_changes(message: catalog_pb2.SimilarityType, mask: field_mask_pb2.FieldMask) -> dict[str, Any]:
    return {p: _value(message, p) for p in mask_paths(message, mask, TYPE_MUTABLE)}


def group_changes(message: catalog_pb2.Group, mask: field_mask_pb2.FieldMask) -> dict[str, Any]:
    return {p: _value(message, p) for p in mask_paths(message, mask, GROUP_MUTABLE)}


def image_changes(message: catalog_pb2.TrainingImage, mask: field_mask_pb2.FieldMask) -> dict[str, Any]:
    return {p: _value(message, p) for p in mask_paths(message, mask, IMAGE_MUTABLE)}


def task_changes(message: catalog_pb2.Task, mask: field_mask_pb2.FieldMask, type_ids: list[str]) -> dict[str, Any]:
    """`type_ids`: the ids of `message.similarity_types`, parsed by the caller."""
    changes: dict[str, Any] = {}
    config = config_to_dict(message.training_config)
    for path in mask_paths(message, mask, TASK_MUTABLE, nested=("training_config",)):
        if path == "similarity_types":
            changes["similarity_types"] = type_ids
        elif path.startswith("training_config."):
            sub = path.partition(".")[2]
            # None (a field at its default, absent from the dict form) clears it.
            changes.setdefault("training_config_fields", {})[sub] = config.get(sub)
        elif path == "training_config":
            changes["training_config"] = config
        else:
            changes[path] = getattr(message, path)
    return changes


def _value(message: Message, path: str) -> Any:
    value = getattr(message, path)
    return struct_to_dict(value) if isinstance(value, struct_pb2.Struct) else value
