"""The ids each recent write request stored on a shard, so that the same request sent again (a
client's retry, through any router) finds its own records and does not refuse them as existing.

A retry comes within seconds or minutes of its first attempt, so requests are forgotten after
`MAX_AGE_S` (by the write's own time, so that the log replayed after a restart ages the same
way) and past `MAX_IDS` ids. Each id is kept as its 64-bit hash in a sorted array: 8 bytes an
id rather than a string in a set, so a shard under a steady stream of inserts holds a few
megabytes here, not a copy of every id it stored in the window. A hash collision could only
make a record of the same request answer "stored" instead of RECORD_EXISTS."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable

import numpy as np

MAX_REQUESTS = 20_000
MAX_IDS = 500_000
MAX_AGE_S = 600.0


def _hashes(ids: Iterable[str]) -> np.ndarray:
    return np.fromiter((hash(record_id) for record_id in ids), dtype=np.int64)


class RecentWrites:
    """Hashed ids by request id, the oldest requests forgotten first: past `max_age` seconds,
    `max_requests` requests or `max_ids` ids. Filled as writes are applied, also when the log is
    replayed after a restart (the writes since the last snapshot), so a retry after a crash of the
    router, of the shard or of both is still recognised."""

    def __init__(self, max_requests: int = MAX_REQUESTS, max_ids: int = MAX_IDS, max_age: float = MAX_AGE_S) -> None:
        self.max_requests = max_requests
        self.max_ids = max_ids
        self.max_age_ns = int(max_age * 1e9)
        self._ids: collections.OrderedDict[str, tuple[int, np.ndarray]] = collections.OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def id_count(self) -> int:
        return self._size

    def note(self, request_id: str, ids: Iterable[str], at_ns: int | None = None) -> None:
        """Remembers that the write `request_id`, made at `at_ns` (now when None), stored `ids`."""
        if not request_id:
            return
        at_ns = time.time_ns() if at_ns is None else at_ns
        _, known = self._ids.pop(request_id, (0, np.empty(0, dtype=np.int64)))
        merged = np.union1d(known, _hashes(ids))
        self._size += len(merged) - len(known)
        self._ids[request_id] = (at_ns, merged)
        self._forget(at_ns)

    def stored_by(self, request_id: str, ids: Iterable[str]) -> list[str]:
        """Those of `ids` that a write under `request_id` stored."""
        if not request_id or request_id not in self._ids:
            return []
        candidates = list(ids)
        known = self._ids[request_id][1]
        if not candidates or not len(known):
            return []
        hashes = _hashes(candidates)
        at = np.minimum(np.searchsorted(known, hashes), len(known) - 1)
        hit = known[at] == hashes
        return [record_id for record_id, found in zip(candidates, hit.tolist()) if found]

    def _forget(self, now_ns: int) -> None:
        oldest = now_ns - self.max_age_ns
        while self._ids:
            at_ns, known = next(iter(self._ids.values()))
            if at_ns >= oldest and len(self._ids) <= self.max_requests and self._size <= self.max_ids:
                return
            self._ids.popitem(last=False)
            self._size -= len(known)
