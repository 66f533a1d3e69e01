"""Recent insert batches by request id, so that a batch a client sends again (a retry) is answered
as a replay: what landed in an earlier attempt is not refused as RECORD_EXISTS.

Kept in the router's memory, bounded by age and by the ids held: a retry comes within seconds
or minutes of its first attempt, through the same router as a rule. A replay that reaches a
router that has not seen the batch (another replica, or this one after a restart) is sent to
the shards with its request id, and each shard recognises the records that request stored
(`indexer.shard_replays`)."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from simmesh_proto.v1 import indexer_pb2

MAX_IDS = 200_000
MAX_AGE_S = 600.0


@dataclass
class Attempts:
    """What the attempts of one batch so far came to: `landed`, the ids stored; `unsure`, the
    ids whose shard failed its part (they may have been written before it failed); `reply`,
    the last reply where every item of the batch landed, with the ids it was for."""

    ids: tuple[str, ...] = ()
    reply: indexer_pb2.InsertRecordsResponse | None = None
    landed: set[str] = field(default_factory=set)
    unsure: set[str] = field(default_factory=set)
    at: float = 0.0

    def size(self) -> int:
        return len(self.ids) + len(self.landed) + len(self.unsure)

    def same_batch(self, ids: Sequence[str]) -> bool:
        """Whether `ids` (a batch's given ids, "" where the router generates one) are those of the
        batch whose `reply` is kept."""
        return len(ids) == len(self.ids) and all(not a or a == b for a, b in zip(ids, self.ids))


class Replays:
    """Attempts by (collection, request id), the least recently used dropped first."""

    def __init__(
        self, max_ids: int = MAX_IDS, max_age: float = MAX_AGE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_ids = max_ids
        self.max_age = max_age
        self.clock = clock
        self._attempts: collections.OrderedDict[tuple[str, str], Attempts] = collections.OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return len(self._attempts)

    def get(self, collection_id: str, request_id: str) -> Attempts | None:
        """The attempts so far of the batch, or None (none seen, or forgotten)."""
        self._expire()
        return self._attempts.get((collection_id, request_id)) if request_id else None

    def record(
        self,
        collection_id: str,
        request_id: str,
        ids: Sequence[str],
        reply: indexer_pb2.InsertRecordsResponse,
        unsure: Sequence[str],
    ) -> None:
        """Adds an attempt: `ids`, the batch's given ids; `reply`, what it was answered; `unsure`,
        the ids whose shard part failed."""
        if not request_id:
            return
        key = (collection_id, request_id)
        attempts = self._attempts.pop(key, None) or Attempts()
        self._size -= attempts.size()
        stored = [i for i in reply.ids if i]
        attempts.landed.update(stored)
        attempts.unsure.difference_update(stored)
        attempts.unsure.update(unsure)
        attempts.ids = tuple(ids)
        attempts.reply = reply if not reply.errors else None
        attempts.at = self.clock()
        self._attempts[key] = attempts
        self._size += attempts.size()
        self._expire()

    def _expire(self) -> None:
        oldest = self.clock() - self.max_age
        while self._attempts:
            attempts = next(iter(self._attempts.values()))
            if attempts.at >= oldest and self._size <= self.max_ids:
                break
            self._size -= self._attempts.popitem(last=False)[1].size()
