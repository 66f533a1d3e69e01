"""What every batch call shares: its size limit and the failures reported per item."""

from __future__ import annotations

from dataclasses import dataclass

from simmesh.kit import reasons
from simmesh.kit.batches import check_batch_size
from simmesh.kit.errors import SimmeshError

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
    too_large = "{field} holds at most {limit} items, got {count}"
    check_batch_size(count, MAX_ITEMS, field, empty_reason=reasons.EMPTY_BATCH, too_large=too_large)
