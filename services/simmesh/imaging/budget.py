"""How much image data one request may bring and the process may hold decoded at once, and the settings for it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

from simmesh.imaging.limits import MIB
from simmesh.kit import reasons
from simmesh.kit.errors import ResourceExhausted


@dataclasses.dataclass(frozen=True)
class Budgets:
    """`request_bytes` encoded bytes and `request_pixels` decoded pixels per request; `decode_pixels`
    pixels decoded at once across the process; URLs fetched by `fetch_workers` threads, and all of
    one request's within `fetch_deadline` seconds."""

    request_bytes: int = 256 * MIB
    request_pixels: int = 1_000_000_000
    decode_pixels: int = 64_000_000
    fetch_workers: int = 16
    fetch_deadline: float = 30.0

    def __post_init__(self) -> None:
        if min(self.request_bytes, self.request_pixels, self.decode_pixels, self.fetch_workers) <= 0:
            raise ValueError("image budgets and fetch_workers must be positive")
        if self.fetch_deadline <= 0:
            raise ValueError("fetch_deadline must be positive")


@dataclasses.dataclass(frozen=True)
class BudgetSettings:
    """The embedder's image budgets (flags and SIMMESH_* variables)."""

    max_request_image_bytes: int = dataclasses.field(
        default=256 * MIB, metadata={"help": "encoded image bytes one request may bring (inline and fetched)"}
    )
    max_request_image_pixels: int = dataclasses.field(
        default=1_000_000_000, metadata={"help": "decoded pixels (width x height, summed) one request may bring"}
    )
    decode_budget_pixels: int = dataclasses.field(
        default=64_000_000,
        metadata={"help": "pixels decoded at once across the process; bounds the memory decoding takes"},
    )
    url_fetch_workers: int = dataclasses.field(
        default=16, metadata={"help": "threads fetching image URLs, apart from decoding"}
    )
    url_request_timeout: float = dataclasses.field(
        default=30.0, metadata={"help": "seconds all image URLs of one request may take together"}
    )

    def budgets(self) -> Budgets:
        return Budgets(
            request_bytes=self.max_request_image_bytes,
            request_pixels=self.max_request_image_pixels,
            decode_pixels=self.decode_budget_pixels,
            fetch_workers=self.url_fetch_workers,
            fetch_deadline=self.url_request_timeout,
        )


class PixelBudget:
    """Pixels decoded at once across the process: a weighted semaphore on the event loop.

    An image larger than the whole budget waits until nothing else is decoding, then goes alone."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        amount = max(1, min(pixels, self.capacity))
        async with self._changed:
            await self._changed.wait_for(lambda: self.held + amount <= self.capacity)
            self.held += amount
        try:
            yield
        finally:
            async with self._changed:
                self.held -= amount
                self._changed.notify_all()


def over_budget(field: str, total: int, limit: int, unit: str) -> ResourceExhausted:
    """REQUEST_TOO_LARGE naming the image that took the request past its budget."""
    return ResourceExhausted(
        f"{field} brings the request to {total} {unit}, over its budget of {limit} {unit}; split the request",
        reason=reasons.REQUEST_TOO_LARGE,
        field=field,
        metadata={f"request_{unit}": total, f"limit_{unit}": limit},
    )
