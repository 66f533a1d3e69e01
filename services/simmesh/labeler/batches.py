"""What every batch call shares: its size limit and the failures reported per item."""

from __future__ import annotations

from dataclasses import dataclass

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument, SimmeshError

# Items one AddImages or SuggestLabels call may carry.
MAX_ITEMS = 5000


@dataclass(frozen=True)
class ItemFailure:
    """One item of a batch that failed; nothing was saved for it."""

    index: int
    id: str
    error: SimmeshError


def at_field(error: SimmeshError, field: str) -> SimmeshError:
    """`error` with `field` as the only request field at fault."""
    error.violations = [(field, error.message)]
    return error


def check_batch(count: int, field: str) -> None:
    if count == 0:
        raise InvalidArgument(f"{field} must not be empty", reason=reasons.EMPTY_BATCH, field=field)
    if count > MAX_ITEMS:
        raise InvalidArgument(
            f"{field} holds at most {MAX_ITEMS} items, got {count}", reason=reasons.BATCH_TOO_LARGE, field=field
        )
