"""The time an incoming call has left, handed down to the calls made on its behalf."""

from __future__ import annotations

from typing import Protocol

# Seconds kept back from the caller's deadline, so a downstream call times out (and its error
# travels back) before the caller gives up on us.
MARGIN = 0.02
# The shortest timeout handed down: a call whose deadline has passed still gets a definite answer.
FLOOR = 0.001


class _Context(Protocol):
    def time_remaining(self) -> float | None: ...


def remaining(context: _Context) -> float | None:
    """What is left of the caller's deadline less `MARGIN`; None when the caller set none."""
    return within(context.time_remaining())


def within(left: float | None) -> float | None:
    """`left` seconds less `MARGIN` (never below `FLOOR`); None stays None."""
    return None if left is None else max(left - MARGIN, FLOOR)


def or_default(timeout: float | None, default: float) -> float:
    """`timeout` when the caller gave one, else `default`."""
    return default if timeout is None else timeout
