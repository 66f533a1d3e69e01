"""What lets an authenticated call in: its key's rate limit and daily quota, the server's cap on calls at once."""

from __future__ import annotations

from simmesh.kit import reasons
from simmesh.kit.auth.identity import Identity
from simmesh.kit.auth.store import KeyStore
from simmesh.kit.errors import Unavailable
from simmesh.kit.quotas import Limiter

# What a caller refused for a full server is told to wait before trying again.
BUSY_RETRY_AFTER = 0.1


class Admission:
    """Counts calls in and out.

        admission.admit(identity)   # per key: RATE_LIMITED / QUOTA_EXCEEDED
        admission.enter()           # per server: UNAVAILABLE (SERVER_BUSY) when `max_calls` are in flight
        ...
        admission.leave()

    Calls made with the internal credential are counted where they entered the mesh, not again at
    each hop; the bootstrap (operator) key is never limited, so it can always manage keys.
    `max_calls` 0: no cap."""

    def __init__(self, limiter: Limiter | None = None, store: KeyStore | None = None, max_calls: int = 0) -> None:
        if max_calls < 0:
            raise ValueError("max_calls must not be negative")
        self.limiter = limiter
        self.store = store
        self.max_calls = max_calls
        self.in_flight = 0

    def admit(self, identity: Identity | None) -> None:
        if self.limiter is None or identity is None or identity.internal or identity.operator:
            return
        record = self.store.get(identity.key_id) if self.store is not None else None
        self.limiter.admit(identity.key_id, record.limits() if record is not None else None)

    def enter(self) -> None:
        """Takes a slot (all calls run on the server's one event loop: no lock needed)."""
        if self.max_calls and self.in_flight >= self.max_calls:
            raise Unavailable(
                f"the server is handling its limit of {self.max_calls} calls; retry shortly",
                reason=reasons.SERVER_BUSY,
                retry_after=BUSY_RETRY_AFTER,
                metadata={"max_concurrent_calls": self.max_calls},
            )
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
