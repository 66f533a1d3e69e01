"""Service discovery on etcd: leased sessions for the processes that register, prefix watchers
for the processes that follow them.

    client = EtcdConfig("127.0.0.1:2379").connect()
    session = Session(client, ttl=10, on_lost=stop_serving)
    session.put("/simmesh/shards/c1/0", shard_json)     # gone when the process dies
    ...
    view = PrefixWatcher(client, "/simmesh/shards/c1/")  # listed now, kept current by a watch
    view.snapshot()                                      # {"/simmesh/shards/c1/0": b"..."}

A `Session` grants a lease and keeps it alive from a thread; its keys vanish when the process
dies (after the TTL) or closes the session (at once). When a keep-alive finds the lease gone, or
cannot reach etcd for a whole TTL, `on_lost` runs once: the owner must stop serving.

A `PrefixWatcher` lists the prefix with its revision, then watches from the next revision on its
own gRPC stream. When the stream breaks it resumes from the last revision it applied, keeping the
last view meanwhile; when etcd has compacted that revision away, or etcd's revision went back (its
data was lost and it started afresh), it lists again and reports the difference. With
`wait_for_etcd` it also starts while etcd is down: empty until the first list succeeds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import grpc
import pyetcd
from pyetcd import etcdrpc
from pyetcd.etcdrpc import kv_pb2
from pyetcd.exceptions import Etcd3Exception
from pyetcd.utils import prefix_range_end, to_bytes

from simmesh.kit import reasons
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, Unavailable
from simmesh.kit.tls import ChannelTls

log = logging.getLogger(__name__)

Changes = Mapping[str, bytes | None]  # key -> new value, None where the key was deleted

# gRPC channel options: reconnect quickly after an etcd restart, notice dead connections.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


class EtcdLease(Protocol):
    """A granted lease: its id and the TTL etcd granted."""

    id: int
    ttl: int


class EtcdClient(Protocol):
    """What simmesh uses of an etcd client: pyetcd's `MultiEndpointEtcd3Client`, as `EtcdConfig.connect()`
    makes it. pyetcd ships no type information, so its calls are described here."""

    call_credentials: grpc.CallCredentials | None
    metadata: tuple[tuple[str, str], ...] | None
    transactions: Any  # builds a transaction's compares and requests: `mod(key) == rev`, `put(key, value)`

    @property
    def channel(self) -> grpc.Channel: ...

    def lease(self, ttl: int, lease_id: int | None = None) -> EtcdLease: ...

    def revoke_lease(self, lease_id: int) -> None: ...

    def get(self, key: str) -> tuple[bytes | None, Any]:
        """Returns the key's value (None where absent) and its metadata (`mod_revision`)."""

    def put(self, key: str, value: bytes | str, lease: int | None = None, prev_kv: bool = False) -> Any:
        """Returns etcd's PutResponse."""

    def delete(self, key: str, prev_kv: bool = False, return_response: bool = False) -> Any:
        """Returns whether the key was deleted, or etcd's DeleteRangeResponse with `return_response`."""

    def transaction(
        self, compare: list[Any], success: list[Any] | None = None, failure: list[Any] | None = None
    ) -> tuple[bool, list[Any]]:
        """Returns whether the compares held, and the responses of the requests that ran."""

    def get_prefix_response(self, key_prefix: str, **kwargs: Any) -> Any:
        """Returns etcd's RangeResponse (`kvs`, `header.revision`)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class EtcdConfig:
    """etcd endpoints as `host:port[,host:port...]` (an `http://` or `https://` in front is
    accepted); with `tls`, the client speaks TLS to every endpoint (client certificate optional)."""

    endpoints: str
    tls: ChannelTls | None = None

    def __post_init__(self) -> None:
        _parse_endpoints(self.endpoints)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return _parse_endpoints(self.endpoints)

    def connect(self, *, timeout: float = 5.0) -> EtcdClient:
        """A pyetcd client over every endpoint, failing over between them.

        A failed endpoint is retried after a second (pyetcd's default is five minutes, which
        would leave a single-endpoint client dead long after etcd is back).
        """
        endpoints = [
            pyetcd.Endpoint(
                host,
                port,
                secure=self.tls is not None,
                creds=self.tls.credentials() if self.tls else None,
                time_retry=1.0,
                opts=_CHANNEL_OPTIONS + (self.tls.options() if self.tls else []),
            )
            for host, port in self.addresses
        ]
        client: EtcdClient = pyetcd.MultiEndpointEtcd3Client(endpoints=endpoints, timeout=timeout, failover=True)
        return client


def _parse_endpoints(text: str) -> list[tuple[str, int]]:
    result = []
    for item in text.split(","):
        item = item.strip().removeprefix("http://").removeprefix("https://")
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgument(
                f"invalid etcd endpoint {item!r}: expected host:port",
                reason=reasons.INVALID_ETCD_ENDPOINT,
                field="etcd_endpoints",
            )
        result.append((host.strip("[]"), int(port)))
    return result


ETCD_ERRORS = (Etcd3Exception, grpc.RpcError, ValueError)  # ValueError: pyetcd's "failed node"


def _unavailable(what: str, error: BaseException) -> Unavailable:
    return Unavailable(f"etcd unavailable during {what}: {error!r}", reason=reasons.ETCD_UNAVAILABLE)


class Session:
    """A lease kept alive from a background thread; keys put through it live as long as it does."""

    def __init__(
        self,
        client: EtcdClient,
        ttl: int,
        *,
        on_lost: Callable[[], None] | None = None,
        keepalive_interval: float | None = None,
    ) -> None:
        if ttl < 1:
            raise InvalidArgument("lease ttl must be at least 1 second", reason=reasons.INVALID_TTL, field="ttl")
        self._client = client
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._closed = False
        try:
            lease = client.lease(ttl)
        except ETCD_ERRORS as error:
            raise _unavailable("lease grant", error) from error
        self.lease_id: int = lease.id
        self.ttl: int = lease.ttl  # etcd may grant more than asked (its minimum is about 2s)
        self._interval = keepalive_interval or max(self.ttl / 3.0, 0.2)
        self._last_ok = time.monotonic()
        self._thread = threading.Thread(target=self._keep_alive, name=f"etcd-lease-{self.lease_id:x}", daemon=True)
        self._thread.start()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def put(self, key: str, value: bytes | str) -> None:
        """Writes `key` under this session's lease."""
        self._check_usable()
        try:
            self._client.put(key, value, lease=self.lease_id)
        except ETCD_ERRORS as error:
            raise _unavailable(f"put {key}", error) from error

    def delete(self, key: str) -> None:
        self._check_usable()
        try:
            self._client.delete(key)
        except ETCD_ERRORS as error:
            raise _unavailable(f"delete {key}", error) from error

    def close(self, revoke: bool = True) -> None:
        """Stops the keep-alive; with `revoke` the lease goes now and its keys with it,
        otherwise they expire after the TTL."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        if revoke and not self.lost:
            try:
                self._client.revoke_lease(self.lease_id)
            except ETCD_ERRORS as error:
                log.warning("could not revoke lease %x (its keys expire in %ss): %r", self.lease_id, self.ttl, error)

    def _check_usable(self) -> None:
        if self._closed:
            raise FailedPrecondition("the etcd session is closed", reason=reasons.SESSION_CLOSED)
        if self.lost:
            raise FailedPrecondition(f"the etcd lease {self.lease_id:x} is lost", reason=reasons.SESSION_LOST)

    def _keep_alive(self) -> None:
        wait = self._interval
        while not self._stop.wait(wait):
            try:
                remaining = self._refresh()
            except ETCD_ERRORS as error:
                silent_for = time.monotonic() - self._last_ok
                log.warning("lease %x keep-alive failed (%.1fs without one): %r", self.lease_id, silent_for, error)
                if silent_for >= self.ttl:
                    self._declare_lost(f"no keep-alive answered for {silent_for:.1f}s (ttl {self.ttl}s)")
                    return
                wait = min(self._interval, 0.5)
                continue
            if remaining <= 0:
                self._declare_lost("etcd reports the lease expired or revoked")
                return
            self._last_ok = time.monotonic()
            wait = self._interval

    def _refresh(self) -> int:
        """One keep-alive round trip; returns the TTL etcd reports (0: the lease is gone)."""
        request = etcdrpc.LeaseKeepAliveRequest(ID=self.lease_id)
        stub = etcdrpc.LeaseStub(self._client.channel)
        responses = stub.LeaseKeepAlive(
            iter([request]),
            timeout=max(self._interval, 1.0),
            credentials=self._client.call_credentials,
            metadata=self._client.metadata,
        )
        for response in responses:
            return response.TTL
        return 0

    def _declare_lost(self, why: str) -> None:
        log.error("lease %x lost: %s", self.lease_id, why)
        self._lost.set()
        if self._on_lost is not None:
            try:
                self._on_lost()
            except Exception:
                log.exception("on_lost callback failed")

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Compacted(Exception):
    """The watch cannot resume from the view's revision: list the prefix again."""


def relist_reason(response: etcdrpc.WatchResponse, revision: int, cluster_id: int) -> str | None:
    """Why a watch response means the view must be listed again (None: it can be applied).

    `revision` is the view's revision and `cluster_id` the cluster it was listed from (0: unknown).
    """
    if response.compact_revision:
        return f"etcd compacted revisions up to {response.compact_revision}"
    if response.canceled:
        return f"etcd cancelled the watch: {response.cancel_reason or 'no reason given'}"
    header = response.header
    if cluster_id and header.cluster_id and header.cluster_id != cluster_id:
        return f"etcd is another cluster now ({cluster_id:x} -> {header.cluster_id:x}): its data was lost"
    if header.revision and header.revision < revision:
        return f"etcd's revision went back from {revision} to {header.revision}: its data was lost"
    return None


class PrefixWatcher:
    """An always-current view of every key under `prefix`.

    The constructor lists the prefix (raising Unavailable if etcd cannot be reached), so the
    view is complete when it returns. `on_change(changes)` runs on the watcher's thread after
    each batch of changes has been applied to the view.
    """

    def __init__(
        self,
        client: EtcdClient,
        prefix: str,
        on_change: Callable[[Changes], None] | None = None,
        *,
        max_backoff: float = 2.0,
        wait_for_etcd: bool = False,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self._on_change = on_change
        self._max_backoff = max_backoff
        self._cond = threading.Condition()
        self._view: dict[str, bytes] = {}
        self._revision = 0
        self._cluster_id = 0
        self._listed = False
        self._connected = False
        self._closed = threading.Event()
        self._call: grpc.Future | None = None
        self._requests: queue.Queue | None = None
        self.relists = 0  # how many times the view was rebuilt after a compaction
        try:
            self._relist()
        except ETCD_ERRORS as error:
            if not wait_for_etcd:
                raise _unavailable(f"listing {prefix}", error) from error
            log.warning("cannot list %s yet (listing again in the background): %r", prefix, error)
        self._thread = threading.Thread(target=self._run, name=f"etcd-watch-{prefix}", daemon=True)
        self._thread.start()

    @property
    def revision(self) -> int:
        """The etcd revision the view reflects."""
        with self._cond:
            return self._revision

    @property
    def listed(self) -> bool:
        """True once the prefix has been listed (before that, with `wait_for_etcd`, the view is empty)."""
        return self._listed

    @property
    def connected(self) -> bool:
        """True while the watch stream is up (the view is live, not just the last known one)."""
        return self._connected

    def snapshot(self) -> dict[str, bytes]:
        with self._cond:
            return dict(self._view)

    def wait_for(self, predicate: Callable[[dict[str, bytes]], bool], timeout: float) -> bool:
        """Blocks until `predicate(view)` holds; False if it still does not after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(dict(self._view)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        """Stops the watch and its thread."""
        self._closed.set()
        self._cancel_stream()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> PrefixWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        backoff = 0.1
        while not self._closed.is_set():
            try:
                if not self._listed:
                    self._relist()
                self._watch()
                backoff = 0.1
            except _Compacted:
                if self._closed.is_set():
                    break
                try:
                    self._relist()
                    backoff = 0.1
                    continue
                except ETCD_ERRORS as error:
                    log.warning("re-listing %s failed: %r", self.prefix, error)
            except (*ETCD_ERRORS, Unavailable) as error:
                if not self._closed.is_set():
                    log.warning("watch on %s broke at revision %d: %r", self.prefix, self.revision, error)
            except Exception:
                log.exception("watch on %s failed", self.prefix)
            finally:
                self._connected = False
            if self._closed.wait(backoff):
                break
            backoff = min(backoff * 2, self._max_backoff)

    def _relist(self) -> None:
        response = self._client.get_prefix_response(self.prefix)
        fresh = {_key(kv.key): kv.value for kv in response.kvs}
        with self._cond:
            changes: dict[str, bytes | None] = {k: v for k, v in fresh.items() if self._view.get(k) != v}
            changes.update({k: None for k in self._view if k not in fresh})
            had_revision = self._revision
            self._view = fresh
            self._revision = response.header.revision
            self._cluster_id = response.header.cluster_id
            self._listed = True
            self._cond.notify_all()
        if had_revision:
            self.relists += 1
            log.info("re-listed %s at revision %d (%d changes)", self.prefix, response.header.revision, len(changes))
        self._notify(changes)

    def _watch(self) -> None:
        create = etcdrpc.WatchCreateRequest(
            key=to_bytes(self.prefix),
            range_end=prefix_range_end(to_bytes(self.prefix)),
            start_revision=self.revision + 1,
            progress_notify=True,
        )
        requests: queue.Queue = queue.Queue()
        requests.put(etcdrpc.WatchRequest(create_request=create))
        stub = etcdrpc.WatchStub(self._client.channel)
        call = stub.Watch(_drain(requests), credentials=self._client.call_credentials, metadata=self._client.metadata)
        with self._cond:
            self._call, self._requests = call, requests
        if self._closed.is_set():
            self._cancel_stream()
        try:
            for response in call:
                why = relist_reason(response, self.revision, self._cluster_id)
                if why is not None:
                    log.warning("watch on %s: %s; listing it again", self.prefix, why)
                    raise _Compacted(why)
                if response.created:
                    self._connected = True
                self._apply(response)
        finally:
            self._cancel_stream()
        if not self._closed.is_set():
            raise Unavailable("etcd ended the watch stream", reason=reasons.ETCD_UNAVAILABLE)

    def _apply(self, response: etcdrpc.WatchResponse) -> None:
        changes: dict[str, bytes | None] = {}
        with self._cond:
            for event in response.events:
                key = _key(event.kv.key)
                if event.type == kv_pb2.Event.PUT:
                    self._view[key] = event.kv.value
                    changes[key] = event.kv.value
                else:
                    self._view.pop(key, None)
                    changes[key] = None
                self._revision = max(self._revision, event.kv.mod_revision)
            if not response.events and not response.created:
                # A progress notification: every event up to this revision has been delivered.
                self._revision = max(self._revision, response.header.revision)
            self._cond.notify_all()
        self._notify(changes)

    def _notify(self, changes: dict[str, bytes | None]) -> None:
        if changes and self._on_change is not None:
            try:
                self._on_change(changes)
            except Exception:
                log.exception("on_change callback for %s failed", self.prefix)

    def _cancel_stream(self) -> None:
        with self._cond:
            call, requests = self._call, self._requests
            self._call = self._requests = None
        if requests is not None:
            requests.put(None)
        if call is not None:
            call.cancel()


def _key(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def _drain(requests: queue.Queue) -> Iterator[etcdrpc.WatchRequest]:
    while (request := requests.get()) is not None:
        yield request
