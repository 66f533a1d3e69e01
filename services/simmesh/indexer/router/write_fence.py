"""Writes in flight by collection, held back for a re-embed's swap, and the ids they touched meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable


class _Gate:
    """One collection's writes: how many are in flight, whether new ones may start, and (while a
    re-embed runs) the ids written or deleted since it began."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.opened.set()
        self.idle = asyncio.Event()
        self.idle.set()
        self.in_flight = 0
        self.touched: set[str] | None = None


class WriteFence:
    """A write holds its collection's gate from reading the collection's definition to its answer
    (`writing`, or `enter`/`leave`); `close` waits for the writes in flight and holds new ones back
    until `open`. While a collection is `track`ed, the ids its writes and deletes name are kept
    (`touched`) until `take`n. A collection's entry goes once nothing uses it."""

    def __init__(self) -> None:
        self._gates: dict[str, _Gate] = {}

    @contextlib.asynccontextmanager
    async def writing(self, collection_id: str) -> AsyncIterator[None]:
        await self.enter(collection_id)
        try:
            yield
        finally:
            self.leave(collection_id)

    async def enter(self, collection_id: str) -> None:
        while (gate := self._gates.get(collection_id)) is not None and not gate.opened.is_set():
            await gate.opened.wait()
        gate = self._gate(collection_id)
        gate.in_flight += 1
        gate.idle.clear()

    def leave(self, collection_id: str) -> None:
        gate = self._gates[collection_id]
        gate.in_flight -= 1
        if not gate.in_flight:
            gate.idle.set()
            self._forget_if_unused(collection_id)

    def touched(self, collection_id: str, ids: Iterable[str]) -> None:
        """Notes ids a write or delete named (or may have changed), while the collection is tracked."""
        gate = self._gates.get(collection_id)
        if gate is not None and gate.touched is not None:
            gate.touched.update(i for i in ids if i)

    def track(self, collection_id: str) -> None:
        self._gate(collection_id).touched = set()

    def pending(self, collection_id: str) -> int:
        """How many touched ids wait to be taken."""
        gate = self._gates.get(collection_id)
        return len(gate.touched) if gate is not None and gate.touched is not None else 0

    def take(self, collection_id: str) -> list[str]:
        """The ids touched since the last take (sorted); tracking goes on."""
        gate = self._gate(collection_id)
        taken, gate.touched = gate.touched or set(), set()
        return sorted(taken)

    def untrack(self, collection_id: str) -> None:
        gate = self._gates.get(collection_id)
        if gate is not None:
            gate.touched = None
            self.open(collection_id)

    async def close(self, collection_id: str, drain_s: float | None) -> bool:
        """Holds back new writes and waits for those in flight to end; False (and open again) if
        they have not within `drain_s` (None: no limit)."""
        gate = self._gate(collection_id)
        gate.opened.clear()
        try:
            await asyncio.wait_for(gate.idle.wait(), drain_s)
        except TimeoutError:
            self.open(collection_id)
            return False
        except BaseException:
            self.open(collection_id)
            raise
        return True

    def open(self, collection_id: str) -> None:
        gate = self._gates.get(collection_id)
        if gate is not None:
            gate.opened.set()
            self._forget_if_unused(collection_id)

    def _gate(self, collection_id: str) -> _Gate:
        gate = self._gates.get(collection_id)
        if gate is None:
            gate = self._gates[collection_id] = _Gate()
        return gate

    def _forget_if_unused(self, collection_id: str) -> None:
        gate = self._gates.get(collection_id)
        if gate is not None and not gate.in_flight and gate.touched is None and gate.opened.is_set():
            del self._gates[collection_id]
