"""The size check every batch call makes before it looks at the items."""

from __future__ import annotations

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument


def check_batch_size(
    count: int,
    limit: int,
    field: str,
    *,
    empty_reason: str,
    too_large: str,
    too_large_reason: str = reasons.BATCH_TOO_LARGE,
) -> None:
    """InvalidArgument naming `field` when the batch is empty ("{field} must not be empty") or holds
    more than `limit` items (`too_large`, with `{field}`, `{limit}` and `{count}` filled in)."""
    if count == 0:
        message, reason = f"{field} must not be empty", empty_reason
    elif count > limit:
        message, reason = too_large.format(field=field, limit=limit, count=count), too_large_reason
    else:
        return
    raise InvalidArgument(message, reason=reason, field=field)
