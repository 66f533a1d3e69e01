"""The audit log (logger `simmesh.audit`): one structured line per key creation or revocation and per
delete that succeeded, with the tenant, the key id and the request id."""

from __future__ import annotations

import logging
from typing import Any

from simmesh.kit.auth.identity import Identity, current_identity
from simmesh.kit.auth.keys import KeyRecord
from simmesh.kit.request_ids import current_request_id

log = logging.getLogger("simmesh.audit")


def audit(event: str, record: KeyRecord, by: Identity) -> None:
    """`event` (`key.create`, `key.revoke`) on `record`, done by `by`; never the key's secret."""
    log.info(
        "%s %s (tenant %s) by %s",
        event,
        record.key_id,
        record.tenant,
        by.key_id,
        extra={
            "audit": event,
            "tenant": record.tenant,
            "key_id": record.key_id,
            "role": record.role.label,
            "by_tenant": by.tenant,
            "by_key_id": by.key_id,
            "request_id": current_request_id(),
        },
    )


# The request field naming what a delete acts on, in the order they are looked for.
_TARGET_FIELDS = ("name", "collection", "project", "group", "task")


def audit_delete(full_method: str, request: Any) -> None:
    """A delete (`/pkg.Service/DeleteX`, `RemoveX`) that succeeded: who called it, what it named
    (`target`) and how many items it listed (`items`: ids, images, members), never their values."""
    identity = current_identity()
    service, _, method = full_method.lstrip("/").partition("/")
    fields = {f.name: f for f in request.DESCRIPTOR.fields}
    target = next((getattr(request, n) for n in _TARGET_FIELDS if n in fields and getattr(request, n)), "")
    listed = [f.name for f in request.DESCRIPTOR.fields if f.is_repeated and f.type == f.TYPE_STRING]
    log.info(
        "%s %s by %s",
        method,
        target,
        identity.key_id if identity is not None else "-",
        extra={
            "audit": "delete",
            "rpc_service": service,
            "method": method,
            "target": target,
            "items": len(getattr(request, listed[0])) if listed else 0,
            "tenant": identity.tenant if identity is not None else "",
            "key_id": identity.key_id if identity is not None else "",
            "request_id": current_request_id(),
        },
    )
