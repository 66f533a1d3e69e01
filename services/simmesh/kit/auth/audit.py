"""The audit log: one structured line per key creation or revocation, with who did it and the request id."""

from __future__ import annotations

import logging

from simmesh.kit.auth.identity import Identity
from simmesh.kit.auth.keys import KeyRecord
from simmesh.kit.interceptors import current_request_id

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
