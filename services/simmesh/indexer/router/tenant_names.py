"""The router's replies, operations and stored errors as the calling tenant sees them: its internal ids
(`acme.shoes`) turned back into the public ids it gave (`shoes`). Requests are scoped where they
are parsed (`requests.collection_id_of`); everything behind the edge works on internal ids."""

from __future__ import annotations

import re
from typing import TypeVar

from google.longrunning import operations_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from simmesh.kit.auth.tenancy import caller_tenant, owner, unscoped
from simmesh.kit.operations_service import public_operation_name
from simmesh_proto.v1 import common_pb2, indexer_pb2

M = TypeVar("M", bound=Message)

# The router's messages that name resources, and their fields that hold such names.
_NAMED: dict[type[Message], tuple[str, ...]] = {
    indexer_pb2.Collection: ("name",),
    indexer_pb2.CollectionStats: ("name",),
    indexer_pb2.ShardStats: ("name",),
    indexer_pb2.Record: ("name",),
    indexer_pb2.Snapshot: ("name", "collection"),
    indexer_pb2.TrainIndexMetadata: ("collection",),
    indexer_pb2.ReembedMetadata: ("collection",),
    indexer_pb2.ReembedResponse: ("collection",),
    indexer_pb2.SnapshotOperationMetadata: ("collection", "snapshot"),
}
# Resource names whose first id is a tenant's (`collections/acme.shoes/records/r1` names no tenant in `r1`).
_SCOPED_KINDS = ("collections", "snapshots", "operations")


def public_id(internal_id: str) -> str:
    """What the caller calls one of its own internal ids; every other id (and every id for the
    default tenant and for the mesh itself) as it is."""
    tenant = caller_tenant()
    return unscoped(internal_id) if tenant and owner(internal_id) == tenant else internal_id


def public_name(name: str) -> str:
    """A resource name (`collections/{id}/...`, `snapshots/{id}`) with its id as the caller calls it."""
    kind, slash, rest = name.partition("/")
    resource, sep, tail = rest.partition("/")
    return f"{kind}{slash}{public_id(resource)}{sep}{tail}" if slash else name


def public(message: M) -> M:
    """`message` (changed in place) with the resource names it holds as the caller calls them,
    those of the records, collections, shards and item errors it lists included."""
    for field in _NAMED.get(type(message), ()):
        setattr(message, field, public_name(getattr(message, field)))
    for descriptor, value in message.ListFields():
        if descriptor.is_repeated and descriptor.message_type is not None:
            for item in value:
                if isinstance(item, common_pb2.ItemError):
                    public_status(item.status)
                elif type(item) in _NAMED:
                    public(item)
    if isinstance(message, indexer_pb2.SearchResponse):
        message.unavailable_shards[:] = [public_name(name) for name in message.unavailable_shards]
    return message


def public_operation(operation: operations_pb2.Operation) -> operations_pb2.Operation:
    """An operation of the router (changed in place) as its caller sees it: its name, the names in
    its metadata and response, and its error."""
    public_operation_name(operation)
    _public_any(operation.metadata)
    if operation.HasField("response"):
        _public_any(operation.response)
    if operation.HasField("error"):
        public_status(operation.error)
    return operation


def _public_any(packed: any_pb2.Any) -> None:
    for cls in _NAMED:
        if packed.Is(cls.DESCRIPTOR):
            message = cls()
            packed.Unpack(message)
            packed.Pack(public(message))
            return


def public_text(text: str) -> str:
    """An error text with the caller's internal ids in resource names (`collections/acme.shoes`)
    turned into public ones (`collections/shoes`)."""
    tenant = caller_tenant()
    if not tenant:
        return text
    return re.sub(rf"\b({'|'.join(_SCOPED_KINDS)})/{re.escape(tenant)}\.", r"\1/", text)


def public_status(status: status_pb2.Status) -> None:
    """A stored error (an operation's, an insert item's) naming the caller's resources as it calls
    them (errors a handler raises are rewritten by the server interceptor, `kit.auth.tenant_edge`)."""
    status.message = public_text(status.message)
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            for key, value in info.metadata.items():
                info.metadata[key] = public_text(value)
            detail.Pack(info)
