"""Keys kept registered in etcd under a lease through etcd outages: the lease and every key are
made again whenever etcd answers after losing them.

    registration = Registration(client, ttl=5)
    registration.start()                       # returns at once; registers in the background
    registration.put("/simmesh/shards/c1/0", shard_json)
    registration.registered                    # True while the lease is alive and every key written

Unlike a bare `Session`, losing the lease is not the end: the keys stay wanted, and a background
thread grants a new lease and writes them again, retrying with backoff while etcd is away.
"""

from __future__ import annotations

import logging
import threading

from simmesh.kit.backoff import Backoff
from simmesh.kit.discovery import ETCD_ERRORS, EtcdClient, Session
from simmesh.kit.errors import FailedPrecondition, Unavailable

log = logging.getLogger(__name__)


class Registration:
    """The wanted keys of one process, written under whichever lease is alive."""

    def __init__(self, client: EtcdClient, ttl: int, *, backoff: Backoff | None = None) -> None:
        self._client = client
        self._ttl = ttl
        self._backoff = backoff or Backoff(0.2, 2.0)
        self._wanted: dict[str, bytes | str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._dirty: set[str] = set()  # keys to write (or delete, when no longer wanted)
        self._session: Session | None = None
        self.leases = 0  # how many leases were granted (more than one: it re-registered)
        self._thread = threading.Thread(target=self._run, name="etcd-registration", daemon=True)

    @property
    def registered(self) -> bool:
        """True while a live lease holds every wanted key."""
        session = self._session
        return not self._dirty and session is not None and not session.lost

    def start(self) -> None:
        self._thread.start()

    def put(self, key: str, value: bytes | str) -> None:
        """Wants `key` registered with `value`: written at once from the background thread, or
        when etcd answers again."""
        with self._lock:
            self._wanted[key] = value
            self._dirty.add(key)
        self._wake.set()

    def delete(self, key: str) -> None:
        with self._lock:
            self._wanted.pop(key, None)
            self._dirty.add(key)
        self._wake.set()

    def close(self, revoke: bool = True) -> None:
        """Stops re-registering; with `revoke` the keys go now, otherwise when the lease expires."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._session is not None:
            self._session.close(revoke=revoke)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._sync()
            except (*ETCD_ERRORS, Unavailable, FailedPrecondition) as error:
                delay = self._backoff.next()
                log.warning(
                    "etcd registration failed (attempt %d, next in %.1fs): %s", self._backoff.attempts, delay, error
                )
                self._stop.wait(delay)
                continue
            self._backoff.reset()
            # Woken by a change or a lost lease; otherwise checked a few times a TTL.
            self._wake.wait(max(self._ttl / 3.0, 0.2))

    def _sync(self) -> None:
        """Makes sure a live lease holds every wanted key and no unwanted one."""
        if self._session is None or self._session.lost:
            if self._session is not None:
                self._session.close(revoke=False)
                log.warning("etcd lease %x lost; registering again", self._session.lease_id)
            self._session = None
            session = Session(self._client, self._ttl, on_lost=self._wake.set)
            with self._lock:
                self._dirty = set(self._wanted)  # the old lease took its keys with it
            self._session = session
            self.leases += 1
            if self.leases > 1:
                log.info("etcd lease granted again (%x); writing %d keys", session.lease_id, len(self._dirty))
        while True:
            with self._lock:
                if not self._dirty:
                    return
                key = next(iter(self._dirty))
                value = self._wanted.get(key)
            if value is None:
                self._session.delete(key)
            else:
                self._session.put(key, value)
            with self._lock:
                if self._wanted.get(key) is value:
                    self._dirty.discard(key)
