"""What makes a write safe to retry: record ids made before the first attempt (time-ordered,
UUIDv7), request ids, which failures a retry can mend, and how long to wait before one."""

from __future__ import annotations

import os
import threading
import time
import uuid

import grpc

# Reasons a retry of the same records can mend (the server's catalogue marks them retriable):
# a shard, service or store that was away, a call that ran out of time, a key over its rate limit.
RETRYABLE_REASONS = frozenset(
    {
        "ABORTED",
        "BLOB_STORE_UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "EMBEDDER_UNAVAILABLE",
        "INDEXER_UNAVAILABLE",
        "RATE_LIMITED",
        "SHARDS_NOT_READY",
        "SHARD_NOT_REGISTERED",
        "SHARD_UNAVAILABLE",
        "TRITON_UNAVAILABLE",
        "UNAVAILABLE",
    }
)
# Codes retried whatever the reason: the service could not be reached, or did not answer in time.
RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
MAX_BACKOFF_S = 30.0

_lock = threading.Lock()
_last = [0, 0]  # the last id's milliseconds and 12-bit sequence


def retryable(code: grpc.StatusCode, reason: str) -> bool:
    """Whether a failure with this code and reason may go away on a retry."""
    return reason in RETRYABLE_REASONS or code in RETRYABLE_CODES


def backoff(attempt: int, base: float) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): `base` doubled each time, at
    most `MAX_BACKOFF_S`."""
    return min(base * 2 ** (attempt - 1), MAX_BACKOFF_S) if attempt > 0 else 0.0


def new_record_id() -> str:
    """A UUIDv7 as 32 hex digits (the form the router gives ids it makes): later ids of one
    process sort after earlier ones, also within a millisecond (a 12-bit sequence, then the
    next millisecond), and 62 random bits make ids of different processes apart."""
    with _lock:
        now = time.time_ns() // 1_000_000
        millis, sequence = _last
        if now > millis:
            millis, sequence = now, 0
        elif sequence < 0xFFF:
            sequence += 1
        else:
            millis, sequence = millis + 1, 0
        _last[:] = [millis, sequence]
    random = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | sequence << 64 | 0b10 << 62 | random
    return uuid.UUID(int=value).hex


def new_request_id() -> str:
    """An id for one batch, kept across its retries."""
    return uuid.uuid4().hex
