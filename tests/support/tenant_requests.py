"""Requests that name another tenant's resources, built from the request descriptors: every string
field of a request is either a resource reference (filled with the owning tenant's name of that
kind) or declared plain here, so a new field naming a resource fails until it is mapped."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from simmesh_proto.v1 import common_pb2
from support.models import png_bytes

# Every resource is named `.../secret-...`, so a reply that shows one of them is easy to spot.
MARK = "secret"

# The name the owning tenant gives each kind of resource (what the other tenant's request names).
NAMES = {
    "collection": "collections/secret-shoes",
    "record": "collections/secret-shoes/records/secret-r1",
    "snapshot": "snapshots/secret-s1",
    "similarity_type": "similarityTypes/secret-kind",
    "task": "tasks/secret-task",
    "task_version": "tasks/secret-task/versions/1",
    "group": "groups/secret-group",
    "training_image": "trainingImages/secret-image",
    "model": "models/secret-model",
    "model_version": "models/secret-model/versions/1",
    "project": "projects/secret-project",
    "labeled_image": "projects/secret-project/images/secret-i1",
    "operation": "operations/secret-operation",
    "key": "keys/secret-key",
    "tenant": "tenants/acme",
}

# Request fields (string or repeated string) that name a resource, and the kind they name.
REFERENCES = {
    "collection": "collection",
    "task": "task",
    "project": "project",
    "group": "group",
    "model": "model",
    "similarity_type": "similarity_type",
    "similarity_types": "similarity_type",
    "version": "task_version",
    "snapshot": "snapshot",
    "images": "training_image",
    "members": "group",
    "records": "record",
    "groups": "group",
    "tenant": "tenant",
}

# What `name` / `parent` names where the request's message name does not say it.
NAME_KINDS = {
    "GetCollectionStatsRequest": "collection",
    "GetImageRequest": "labeled_image",
    "ListTaskVersionsRequest": "task",
    "ListModelVersionsRequest": "model",
    "ListGroupsRequest": "group",
    "ListOperationsRequest": None,  # the operations collection itself, not a resource
}

# String fields that name no resource: paging, filters, free text, new ids, ids inside a container.
PLAIN = {
    "page_token",
    "filter",
    "name_query",
    "label",
    "request_id",
    "description",
    "ids",
    "example_ids",
    "texts",
    "backup_id",
    "backup",  # a whole-database backup: not a tenant's resource (see the matrix test)
}

_NEW_ID = re.compile(r"\w+_id$")


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _name_kind(message: Descriptor) -> str | None:
    """What the `name` or `parent` field of a request names: `GetTaskVersionRequest` -> task_version."""
    if message.name in NAME_KINDS:
        return NAME_KINDS[message.name]
    noun = re.sub(r"^(Get|Delete|Update|Cancel|Wait|Revoke|Restore)|Request$", "", message.name)
    return _snake(noun)


def _fill(target: Message, field: FieldDescriptor, kind: str | None, names: dict[str, str]) -> bool:
    if kind is None:
        return False
    if kind not in names:
        raise AssertionError(f"{field.full_name} names a {kind}: give NAMES a resource of that kind")
    if field.is_repeated:
        getattr(target, field.name).append(names[kind])
    else:
        setattr(target, field.name, names[kind])
    return True


def _fill_resource(target: Message, field: FieldDescriptor, creating: bool, names: dict[str, str]) -> bool:
    """A resource message inside a request (`UpdateTaskRequest.task`): its name (unless it is being
    created under a new id) and the resources it refers to. Its other fields are not inspected."""
    inner = getattr(target, field.name)
    filled = False
    for sub in field.message_type.fields:
        if sub.type != FieldDescriptor.TYPE_STRING:
            continue
        if sub.name == "name" and not creating:
            filled |= _fill(inner, sub, _snake(field.message_type.name), names)
        elif sub.name in REFERENCES:
            filled |= _fill(inner, sub, REFERENCES[sub.name], names)
    return filled


def _change(resource: Message) -> str:
    """Changes one updatable field of `resource` (an update's message); the update_mask path."""
    fields = resource.DESCRIPTOR.fields_by_name
    path = next(name for name in ("display_name", "description", "metadata") if name in fields)
    if path == "metadata":
        getattr(resource, path).update({"changed": "by another tenant"})
    else:
        setattr(resource, path, "changed by another tenant")
    return path


def other_tenants_request(method: MethodDescriptor, names: dict[str, str]) -> Message | None:
    """The request of `method` naming the owning tenant's resources (`names`: NAMES with what the
    seeding made); None where it names none."""
    message = method.input_type
    request = message_factory.GetMessageClass(message)()
    creating = any(_NEW_ID.fullmatch(f.name) and f.name not in PLAIN for f in message.fields)
    filled = False
    for field in message.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if "name" in field.message_type.fields_by_name and field.message_type.full_name.startswith("simmesh."):
                filled |= _fill_resource(request, field, creating, names)
        elif field.type != FieldDescriptor.TYPE_STRING:
            continue
        elif field.name in ("name", "parent"):
            filled |= _fill(request, field, _name_kind(message), names)
        elif field.name in REFERENCES:
            filled |= _fill(request, field, REFERENCES[field.name], names)
        elif field.name in PLAIN:
            continue
        elif _NEW_ID.fullmatch(field.name):
            setattr(request, field.name, "fresh")
        else:
            raise AssertionError(f"{field.full_name}: map it in REFERENCES (it names a resource) or PLAIN")
    if not filled:
        return None
    if "update_mask" in message.fields_by_name:
        resource = next(f for f in message.fields if f.type == FieldDescriptor.TYPE_MESSAGE and f.name != "update_mask")
        request.update_mask.paths.append(_change(getattr(request, resource.name)))
    complete = COMPLETIONS.get(f"/{method.containing_service.full_name}/{method.name}")
    if complete is not None:
        complete(request)
    return request


# What some requests need besides the names to get past validation to the lookup.
_PNG = png_bytes((1, 2, 3))
COMPLETIONS: dict[str, Callable[[Any], object]] = {
    "/simmesh.v1.CatalogService/CreateTrainingImage": lambda r: r.image.MergeFrom(common_pb2.Image(content=_PNG)),
    "/simmesh.v1.EmbedderService/Embed": lambda r: r.images.add(content=_PNG),
    "/simmesh.v1.EmbedderService/StreamEmbed": lambda r: r.images.add(content=_PNG),
    "/simmesh.v1.EmbedderService/Compare": lambda r: (
        r.reference.MergeFrom(common_pb2.Image(content=_PNG)),
        r.candidates.add(content=_PNG),
    ),
    "/simmesh.v1.IndexerService/Search": lambda r: r.queries.add(record_id="secret-r1"),
    "/simmesh.v1.LabelerService/DeleteImages": lambda r: r.ids.append("secret-i1"),
    "/simmesh.v1.LabelerService/ReviewSuggestions": lambda r: r.reviews.add(image_id="secret-i1", action=1),
    "/simmesh.v1.LabelerService/MinePool": lambda r: setattr(r, "label", "bird"),
    "/simmesh.v1.LabelerService/ExportLabels": lambda r: setattr(r, "format", 1),
}
