"""The ids each recent write request stored on a shard, so that the same request sent again (a
client's retry, through any router) finds its own records and does not refuse them as existing."""

from __future__ import annotations

import collections
from collections.abc import Iterable

MAX_REQUESTS = 20_000
MAX_IDS = 500_000


class RecentWrites:
    """Ids by request id, the oldest requests forgotten first past `max_requests` requests or
    `max_ids` ids. Filled as writes are applied, also when the log is replayed after a restart
    (the writes since the last snapshot), so a retry after a crash of the router, of the shard or
    of both is still recognised."""

    def __init__(self, max_requests: int = MAX_REQUESTS, max_ids: int = MAX_IDS) -> None:
        self.max_requests = max_requests
        self.max_ids = max_ids
        self._ids: collections.OrderedDict[str, set[str]] = collections.OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return len(self._ids)

    def note(self, request_id: str, ids: Iterable[str]) -> None:
        if not request_id:
            return
        known = self._ids.setdefault(request_id, set())
        before = len(known)
        known.update(ids)
        self._size += len(known) - before
        self._ids.move_to_end(request_id)
        while self._ids and (len(self._ids) > self.max_requests or self._size > self.max_ids):
            _, dropped = self._ids.popitem(last=False)
            self._size -= len(dropped)

    def stored_by(self, request_id: str, ids: Iterable[str]) -> list[str]:
        """Those of `ids` that a write under `request_id` stored."""
        known = self._ids.get(request_id, set()) if request_id else set()
        return [record_id for record_id in ids if record_id in known]
