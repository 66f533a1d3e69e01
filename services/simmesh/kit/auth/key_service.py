"""`simmesh.v1.KeyService` over a `KeyStore`: create, list and revoke API keys, list tenants.

An admin key manages the keys of its own tenant; the bootstrap (operator) key those of every
tenant. A key of another tenant answers KEY_NOT_FOUND, so key ids do not leak across tenants.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from google.protobuf import timestamp_pb2

from simmesh.kit import reasons
from simmesh.kit.auth.audit import audit
from simmesh.kit.auth.identity import Identity, Role, current_identity
from simmesh.kit.auth.keys import KeyRecord, new_key
from simmesh.kit.auth.store import KeyStore
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from simmesh.kit.paging import clamp_page_size, decode_offset, fingerprint, offset_token
from simmesh.kit.quotas import KeyLimits
from simmesh.kit.server import ServiceBinding, binding
from simmesh_proto.v1 import auth_pb2, auth_pb2_grpc

_TENANT = re.compile(r"[a-z][a-z0-9-]{0,62}")


def _tenant(name: str, caller: Identity) -> str:
    """The tenant `tenants/{tenant}` names (the caller's when empty), if the caller may manage it."""
    if not name:
        return caller.tenant
    tenant = name.removeprefix("tenants/")
    if not name.startswith("tenants/") or not _TENANT.fullmatch(tenant):
        raise InvalidArgument(
            f"tenant must be tenants/{{tenant}} with 1..63 of a-z, 0-9 and -, starting with a letter, got {name!r}",
            reason=reasons.INVALID_TENANT,
            field="tenant",
        )
    if tenant != caller.tenant and not caller.operator:
        raise PermissionDenied(
            f"key {caller.key_id} of tenant {caller.tenant} may manage the keys of its own tenant only",
            reason=reasons.TENANT_MISMATCH,
        )
    return tenant


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp | None:
    if not seconds:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def to_proto(record: KeyRecord) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        name=f"keys/{record.key_id}",
        tenant=f"tenants/{record.tenant}",
        role=auth_pb2.Role.Name(record.role.value),
        create_time=_timestamp(record.created),
        expire_time=_timestamp(record.expires),
        revoke_time=_timestamp(record.revoked),
        description=record.description,
        rate_limit=record.rate,
        rate_burst=record.burst,
        daily_quota=record.daily_quota,
    )


def _page(items: list, request, *parts: object) -> tuple[list, str]:
    """One page of `items` (computed whole) and the next page's token."""
    print_ = fingerprint(*parts)
    size = clamp_page_size(request.page_size)
    start = decode_offset(request.page_token, print_)
    token = offset_token(start + size, print_) if len(items) > start + size else ""
    return items[start : start + size], token


class KeyServicer(auth_pb2_grpc.KeyServiceServicer):
    def __init__(self, store: KeyStore | None) -> None:
        self.store = store

    def _ready(self) -> tuple[KeyStore, Identity]:
        """The store and the caller; API_KEYS_OFF on a mesh without API keys."""
        identity = current_identity()
        if self.store is None or identity is None:
            raise FailedPrecondition(
                "this mesh runs without API keys; start it with api_keys set", reason=reasons.API_KEYS_OFF
            )
        return self.store, identity

    async def CreateKey(self, request, context) -> auth_pb2.CreateKeyResponse:
        store, caller = self._ready()
        tenant = _tenant(request.tenant, caller)
        if request.role not in {role.value for role in Role}:
            raise InvalidArgument(
                f"role must be reader, writer or admin, got {request.role}", reason=reasons.INVALID_ROLE, field="role"
            )
        ttl = request.ttl.ToTimedelta().total_seconds() if request.HasField("ttl") else 0.0
        if ttl < 0:
            raise InvalidArgument(f"ttl must not be negative, got {ttl}s", field="ttl")
        try:
            limits = KeyLimits(request.rate_limit, request.rate_burst, request.daily_quota)
        except ValueError:
            raise InvalidArgument(
                "rate_limit, rate_burst and daily_quota must not be negative", field="rate_limit"
            ) from None
        secret, record = new_key(tenant, Role(request.role), ttl=ttl, description=request.description, limits=limits)
        await asyncio.to_thread(store.put, record)
        audit("key.create", record, caller)
        return auth_pb2.CreateKeyResponse(key=to_proto(record), secret=secret)

    async def ListKeys(self, request, context) -> auth_pb2.ListKeysResponse:
        store, caller = self._ready()
        tenant = _tenant(request.tenant, caller)
        records = [r for r in store.list(tenant) if request.show_revoked or not r.revoked]
        page, token = _page(records, request, "keys", tenant, request.show_revoked)
        return auth_pb2.ListKeysResponse(keys=[to_proto(r) for r in page], next_page_token=token)

    async def RevokeKey(self, request, context) -> auth_pb2.ApiKey:
        store, caller = self._ready()
        key_id = request.name.removeprefix("keys/")
        record = store.get(key_id) if request.name.startswith("keys/") else None
        if record is None or (record.tenant != caller.tenant and not caller.operator):
            raise NotFound(f"key `{request.name}` does not exist", reason=reasons.KEY_NOT_FOUND, field="name")
        if not record.revoked:
            record = record.revoke()
            await asyncio.to_thread(store.put, record)
            audit("key.revoke", record, caller)
        return to_proto(record)

    async def ListTenants(self, request, context) -> auth_pb2.ListTenantsResponse:
        store, caller = self._ready()
        records = store.list(None if caller.operator else caller.tenant)
        active = Counter(r.tenant for r in records if not r.revoked and not r.expired())
        tenants = sorted({r.tenant for r in records} | ({caller.tenant} if caller.tenant else set()))
        page, token = _page(tenants, request, "tenants", caller.operator)
        return auth_pb2.ListTenantsResponse(
            tenants=[auth_pb2.Tenant(name=f"tenants/{t}", active_keys=active[t]) for t in page], next_page_token=token
        )


def key_binding(store: KeyStore | None) -> ServiceBinding:
    """The KeyService over `store` (None: every call answers API_KEYS_OFF)."""
    return binding(KeyServicer(store), auth_pb2, auth_pb2_grpc, "KeyService")
