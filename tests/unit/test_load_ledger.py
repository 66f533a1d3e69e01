"""The mixed load's ledger finds every way stored records can break what the mesh acknowledged,
so a chaos test that finds none has checked something; and a load's calls are counted by time."""

from __future__ import annotations

from collections import Counter

from simmesh.devstack.load import Ledger, OperationStats


def _ledger() -> Ledger:
    return Ledger(inserted={"a", "b", "c", "d"}, unsure={"u"}, deleting={"d"}, deleted={"c"})


def test_what_was_acknowledged_stored_once_is_no_problem() -> None:
    # `d` had a delete tried (not acknowledged): there or not; `u` failed: stored at most once.
    assert _ledger().compare(Counter({"a": 1, "b": 1, "u": 1})) == []
    assert _ledger().compare(Counter({"a": 1, "b": 1, "d": 1})) == []


def test_a_lost_duplicated_resurrected_or_unknown_record_is_reported() -> None:
    problems = _ledger().compare(Counter({"a": 2, "c": 1, "x": 1}))
    assert problems == [
        "1 records stored more than once, e.g. ['a']",
        "1 records acknowledged but missing, e.g. ['b']",
        "1 records deleted but present, e.g. ['c']",
        "1 records never written, e.g. ['x']",
    ]


def test_calls_that_succeeded_are_counted_by_when_they_started() -> None:
    stats = OperationStats(latencies=[0.1] * 4, failures=[(2.0, "SHARD_UNAVAILABLE")], starts=[1.0, 2.0, 3.0, 9.0])
    assert stats.succeeded(1.5, 5.0) == 1
    assert stats.succeeded(0.0, 10.0) == 3
    assert stats.errors_by_reason(lambda at: at < 5) == Counter({"SHARD_UNAVAILABLE": 1})
