"""A shard node's periodic upkeep: snapshots of changed slices (retried with backoff while the object
store fails) and the write-ahead log's size, exported as a metric and warned about past a threshold."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from simmesh.indexer.store import ShardStore
from simmesh.kit.backoff import Backoff
from simmesh.kit.metrics import Metrics

log = logging.getLogger("simmesh.indexer.shard")

WAL_BYTES = "simmesh_shard_wal_bytes"
WAL_REPORT_EVERY = 5.0  # seconds between updates of the log size gauge


class ShardUpkeep:
    """Every `interval` seconds snapshots the slices with log entries since their last snapshot;
    after a failed snapshot it tries again sooner (backoff), not a whole interval later."""

    def __init__(
        self,
        stores: Callable[[], dict[str, ShardStore]],
        ordinal: int,
        *,
        interval: float,
        metrics: Metrics | None = None,
        wal_warn_bytes: int = 0,
        backoff: Backoff | None = None,
    ) -> None:
        self._stores = stores
        self._ordinal = ordinal
        self._interval = interval
        self._wal_warn_bytes = wal_warn_bytes
        self._backoff = backoff or Backoff(1.0, max(1.0, min(interval, 30.0)))
        self._gauge = (
            metrics.gauge(WAL_BYTES, "bytes of write-ahead log not yet covered by a snapshot", ("storage", "shard"))
            if metrics is not None
            else None
        )
        self._warned: set[str] = set()
        self._reported: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shard-upkeep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        due = time.monotonic() + self._interval
        while not self._stop.wait(max(0.0, min(WAL_REPORT_EVERY, due - time.monotonic()))):
            if time.monotonic() >= due:
                failed = self.snapshot_all()
                if failed:
                    delay = min(self._backoff.next(), self._interval)
                    log.warning("%d snapshots failed; trying again in %.1fs", failed, delay)
                else:
                    self._backoff.reset()
                    delay = self._interval
                due = time.monotonic() + delay
            self.report_wal()

    def snapshot_all(self) -> int:
        """Snapshots every slice with new log entries; returns how many failed."""
        failed = 0
        for storage, store in self._stores().items():
            if self._stop.is_set():
                break
            try:
                if store.stats().wal_entries > 0:
                    info = store.snapshot()
                    log.info(
                        "snapshot of %s shard %d: %d records at %s", storage, self._ordinal, info.record_count, info.uri
                    )
            except Exception:  # retried with backoff
                failed += 1
                log.exception("snapshot of %s shard %d failed", storage, self._ordinal)
        return failed

    def report_wal(self) -> None:
        """Sets the log size gauge of each slice and warns once a slice's log passes the threshold."""
        stores = self._stores()
        for storage in self._reported - set(stores):
            if self._gauge is not None:
                self._gauge.remove(storage, str(self._ordinal))
        self._reported = set(stores)
        for storage, store in stores.items():
            size = store.stats().wal_bytes
            if self._gauge is not None:
                self._gauge.labels(storage, str(self._ordinal)).set(size)
            if self._wal_warn_bytes and size > self._wal_warn_bytes:
                if storage not in self._warned:
                    self._warned.add(storage)
                    log.warning(
                        "the write-ahead log of %s shard %d holds %d bytes (warning threshold %d): "
                        "snapshots are not being written",
                        storage,
                        self._ordinal,
                        size,
                        self._wal_warn_bytes,
                        extra={"storage": storage, "shard": self._ordinal, "wal_bytes": size},
                    )
            else:
                self._warned.discard(storage)
