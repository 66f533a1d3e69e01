"""Per-key rate limits (token buckets) and daily quotas (requests per UTC day), counted in this process.

    limiter = Limiter(KeyLimits(rate=5, burst=10, daily=100))
    limiter.admit("3f2a9c", record_limits)      # raises ResourceExhausted (RATE_LIMITED, QUOTA_EXCEEDED)

Counts live in the process that answers the call: a key spread over N replicas gets N times its
limits. A shared store (etcd, Redis) is future work.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from simmesh.kit import reasons
from simmesh.kit.errors import ResourceExhausted
from simmesh.kit.reasons import Reason

DAY = 86400.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class KeyLimits:
    """What one key may do: `rate` requests a second with bursts of `burst`, `daily` requests per
    UTC day. 0 means no limit (for `burst`: the rate rounded up, at least 1)."""

    rate: float = 0.0
    burst: int = 0
    daily: int = 0

    def __post_init__(self) -> None:
        if self.rate < 0 or self.burst < 0 or self.daily < 0:
            raise ValueError("rate, burst and daily must not be negative")

    @property
    def capacity(self) -> float:
        return float(self.burst) if self.burst else max(1.0, math.ceil(self.rate))

    def over(self, defaults: KeyLimits) -> KeyLimits:
        """These limits, each unset (0) one taken from `defaults`."""
        return KeyLimits(self.rate or defaults.rate, self.burst or defaults.burst, self.daily or defaults.daily)


class TokenBucket:
    """`capacity` tokens, refilled at `rate` a second; each admitted request takes one."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, now: float) -> float:
        """0 when a token was taken; else the seconds until one will be there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class DailyQuota:
    """Requests counted per UTC day; the count starts again at midnight UTC."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.day = -1
        self.used = 0

    def take(self, now: float) -> float:
        """0 when the request fits today's quota; else the seconds until the next UTC day."""
        day = int(now // DAY)
        if day != self.day:
            self.day, self.used = day, 0
        if self.used >= self.limit:
            return (day + 1) * DAY - now
        self.used += 1
        return 0.0


class _KeyState:
    def __init__(self, limits: KeyLimits, now: float) -> None:
        self.limits = limits
        self.bucket = TokenBucket(limits.rate, limits.capacity, now) if limits.rate else None
        self.quota = DailyQuota(limits.daily) if limits.daily else None


class Limiter:
    """The rate limit and daily quota of every key this process has seen.

    `defaults` apply to keys whose record sets no limit of its own; `clock` is wall time (the
    daily quota follows UTC days), injectable for tests."""

    def __init__(self, defaults: KeyLimits | None = None, clock: Clock = time.time) -> None:
        self.defaults = defaults or KeyLimits()
        self._clock = clock
        self._keys: dict[str, _KeyState] = {}
        self._lock = threading.Lock()

    def admit(self, key_id: str, own: KeyLimits | None = None) -> None:
        """Counts one request of `key_id`; RESOURCE_EXHAUSTED with RetryInfo and QuotaFailure when
        it is over its rate (RATE_LIMITED) or today's quota (QUOTA_EXCEEDED)."""
        limits = (own or KeyLimits()).over(self.defaults)
        if not limits.rate and not limits.daily:
            return
        with self._lock:
            now = self._clock()
            state = self._keys.get(key_id)
            if state is None or state.limits != limits:
                state = self._keys[key_id] = _KeyState(limits, now)
            wait = state.bucket.take(now) if state.bucket is not None else 0.0
            if wait:
                raise _refusal(
                    f"key {key_id} is over its rate limit of {limits.rate:g} requests/s (burst {limits.capacity:g})",
                    reasons.RATE_LIMITED,
                    key_id,
                    wait,
                )
            wait = state.quota.take(now) if state.quota is not None else 0.0
            if wait:
                if state.bucket is not None:
                    state.bucket.tokens += 1.0  # a refused request does not spend the rate either
                raise _refusal(
                    f"key {key_id} used its daily quota of {limits.daily} requests; it renews at 00:00 UTC",
                    reasons.QUOTA_EXCEEDED,
                    key_id,
                    wait,
                )


def _refusal(message: str, reason: Reason, key_id: str, wait: float) -> ResourceExhausted:
    return ResourceExhausted(
        message,
        reason=reason,
        retriable=reason.retriable,
        retry_after=wait,
        quota_violations=[(f"keys/{key_id}", message)],
        metadata={"key_id": key_id},
    )
