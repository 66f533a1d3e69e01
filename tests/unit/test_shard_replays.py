"""A shard's memory of recent write requests: what a retry of each finds, and what it costs."""

from __future__ import annotations

import tracemalloc
import uuid

from simmesh.indexer.shard_replays import RecentWrites

MINUTE_NS = 60 * 10**9


def test_a_request_finds_only_the_ids_it_stored_also_across_its_attempts() -> None:
    recent = RecentWrites()
    recent.note("req-1", ["a", "b"], at_ns=1)
    recent.note("req-2", ["c"], at_ns=2)
    recent.note("req-1", ["d"], at_ns=3)  # a second attempt of req-1 stored one more

    assert recent.stored_by("req-1", ["a", "c", "d", "x"]) == ["a", "d"]
    assert recent.stored_by("req-2", ["a", "c"]) == ["c"]
    assert recent.stored_by("req-3", ["a"]) == []
    assert recent.stored_by("", ["a"]) == []
    assert recent.id_count == 4


def test_requests_are_forgotten_by_the_age_of_their_write_and_past_the_id_cap() -> None:
    recent = RecentWrites(max_age=600, max_ids=1_000)
    recent.note("old", ["a"], at_ns=0)
    recent.note("recent", ["b"], at_ns=9 * MINUTE_NS)
    recent.note("now", ["c"], at_ns=11 * MINUTE_NS)

    assert recent.stored_by("old", ["a"]) == []
    assert recent.stored_by("recent", ["b"]) == ["b"]

    recent.note("big", [f"id-{n}" for n in range(1_000)], at_ns=11 * MINUTE_NS)
    assert recent.stored_by("recent", ["b"]) == []  # dropped, oldest first, to make room
    assert recent.stored_by("big", ["id-7"]) == ["id-7"]
    assert recent.id_count <= 1_000


def test_ten_minutes_of_steady_inserts_stay_a_few_megabytes() -> None:
    # 50-record batches at 300 records a second for ten minutes: 180,000 uuid ids.
    batches = [[str(uuid.uuid4()) for _ in range(50)] for _ in range(3_600)]
    request_ids = [str(uuid.uuid4()) for _ in batches]
    tracemalloc.start()
    try:
        recent = RecentWrites()
        for n, (request_id, ids) in enumerate(zip(request_ids, batches)):
            recent.note(request_id, ids, at_ns=n * 10**9 // 6)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert recent.stored_by(request_ids[-1], batches[-1][:3]) == batches[-1][:3]
    assert held < 4 * 2**20, f"{held / 2**20:.1f} MiB for 180,000 ids"
