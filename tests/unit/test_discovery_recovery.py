"""Backoff delays and the watch responses after which a prefix view is listed again."""

from __future__ import annotations

import pytest
from pyetcd import etcdrpc

from simmesh.kit.backoff import Backoff
from simmesh.kit.discovery import PrefixWatcher, relist_reason
from simmesh.kit.errors import Unavailable


def test_backoff_doubles_up_to_its_maximum_and_starts_over_after_a_reset() -> None:
    backoff = Backoff(0.2, 1.0, jitter=False)
    assert [backoff.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.attempts == 5
    backoff.reset()
    assert backoff.next() == 0.2


def test_backoff_jitter_stays_between_half_the_delay_and_the_delay() -> None:
    backoff = Backoff(1.0, 8.0)
    for expected in (1.0, 2.0, 4.0, 8.0, 8.0):
        assert expected / 2 <= backoff.next() <= expected


def test_backoff_refuses_a_maximum_below_its_start() -> None:
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def _response(revision: int, cluster_id: int = 7, **fields: object) -> etcdrpc.WatchResponse:
    return etcdrpc.WatchResponse(header=etcdrpc.ResponseHeader(revision=revision, cluster_id=cluster_id), **fields)


def test_a_watch_response_at_or_after_the_view_revision_is_applied() -> None:
    assert relist_reason(_response(120, created=True), revision=100, cluster_id=7) is None
    assert relist_reason(_response(100), revision=100, cluster_id=7) is None


def test_a_revision_that_went_back_means_etcd_lost_its_data_and_the_view_is_listed_again() -> None:
    why = relist_reason(_response(3, created=True), revision=100, cluster_id=7)
    assert why is not None and "went back from 100 to 3" in why


def test_compaction_cancellation_and_another_cluster_each_mean_listing_again() -> None:
    assert "compacted" in (relist_reason(_response(200, compact_revision=150), 100, 7) or "")
    assert "cancelled" in (relist_reason(_response(200, canceled=True, cancel_reason="x"), 100, 7) or "")
    assert "another cluster" in (relist_reason(_response(200, cluster_id=9), 100, 7) or "")
    assert relist_reason(_response(200, cluster_id=9), 100, 0) is None  # not known yet: nothing to compare


class _DownEtcd:
    """An etcd client whose every listing fails, as while etcd is down."""

    call_credentials = None
    metadata = None

    @property
    def channel(self):  # type: ignore[no-untyped-def]
        raise Unavailable("down", reason="ETCD_UNAVAILABLE")

    def get_prefix_response(self, key_prefix: str, **kwargs: object) -> object:
        raise ValueError("failed node")


def test_a_watcher_waiting_for_etcd_starts_empty_and_unlisted() -> None:
    watcher = PrefixWatcher(_DownEtcd(), "/p/", wait_for_etcd=True)  # type: ignore[arg-type]
    try:
        assert not watcher.listed
        assert watcher.snapshot() == {}
    finally:
        watcher.close()


def test_a_watcher_not_waiting_for_etcd_refuses_to_start_while_it_is_down() -> None:
    with pytest.raises(Unavailable):
        PrefixWatcher(_DownEtcd(), "/p/")  # type: ignore[arg-type]
