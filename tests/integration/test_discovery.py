"""Leased sessions and prefix watchers against a real etcd."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.process import ManagedProcess
from simmesh.kit.discovery import EtcdClient, EtcdConfig, PrefixWatcher, Session
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, Unavailable

pytestmark = pytest.mark.integration

TTL = 2  # the smallest lease etcd grants with its default heartbeat and election timeout
SLACK = 1.5  # etcd looks for expired leases every 500 ms; the rest is scheduling on 2 cores

SHARD_SCRIPT = """
import sys, time
from simmesh.kit.discovery import EtcdConfig, Session
endpoint, key, ttl = sys.argv[1], sys.argv[2], int(sys.argv[3])
session = Session(EtcdConfig(endpoint).connect(), ttl=ttl)
session.put(key, '{"address": "127.0.0.1:50051", "state": "SERVING"}')
print("registered", key, "lease", hex(session.lease_id), flush=True)
while True:
    time.sleep(1)
"""


def test_killed_process_disappears_within_the_ttl(
    etcd_server: EtcdServer, etcd_client: EtcdClient, etcd_prefix: str, tmp_path: Path
) -> None:
    key = f"{etcd_prefix}shards/c1/0"
    watcher = PrefixWatcher(etcd_client, f"{etcd_prefix}shards/")
    shard = ManagedProcess(
        "shard",
        [sys.executable, "-c", SHARD_SCRIPT, etcd_server.endpoint, key, str(TTL)],
        log_path=tmp_path / "shard.log",
    )
    try:
        shard.start(ready=lambda: key in watcher.snapshot(), timeout=30)
        assert b'"SERVING"' in watcher.snapshot()[key]

        killed = time.monotonic()
        shard.kill()
        assert watcher.wait_for(lambda view: key not in view, timeout=TTL + 5)
        delay = time.monotonic() - killed
        print(f"\nshard SIGKILLed; its key left the view after {delay:.2f}s (ttl {TTL}s)")
        assert delay <= TTL + SLACK
    finally:
        shard.stop()
        watcher.close()


def test_clean_close_removes_the_key_at_once(etcd_client: EtcdClient, etcd_prefix: str) -> None:
    key = f"{etcd_prefix}shards/c1/1"
    changes: list[dict] = []
    watcher = PrefixWatcher(etcd_client, etcd_prefix, on_change=changes.append)
    session = Session(etcd_client, ttl=30)
    try:
        session.put(key, b"v1")
        assert watcher.wait_for(lambda view: view.get(key) == b"v1", timeout=5)
        closed = time.monotonic()
        session.close()
        assert watcher.wait_for(lambda view: key not in view, timeout=1.0)
        print(f"\nclose() removed the key from the view in {time.monotonic() - closed:.3f}s")
        assert changes == [{key: b"v1"}, {key: None}]
        with pytest.raises(FailedPrecondition):
            session.put(key, b"v2")
    finally:
        session.close()
        watcher.close()


def test_relists_after_compaction(etcd_server: EtcdServer, etcd_client: EtcdClient, etcd_prefix: str) -> None:
    """The watcher loses its connection, etcd moves on and compacts the history it missed; when it
    reconnects it cannot resume, so it lists again and the view comes out right."""
    p = etcd_prefix
    changes: list[dict] = []
    proxy = _TcpProxy(etcd_server.client_port)
    watch_client = EtcdConfig(f"127.0.0.1:{proxy.port}").connect()
    etcd_client.put(p + "a", "1")
    watcher = PrefixWatcher(watch_client, p, on_change=changes.append)
    try:
        assert watcher.snapshot() == {p + "a": b"1"}
        etcd_client.put(p + "b", "2")
        assert watcher.wait_for(lambda view: view.get(p + "b") == b"2", timeout=5)
        seen_revision = watcher.revision

        proxy.cut()
        assert _eventually(lambda: not watcher.connected, timeout=10)
        etcd_client.delete(p + "a")
        etcd_client.put(p + "b", "22")
        revision = etcd_client.put(p + "c", "3").header.revision
        etcd_client.compact(revision, physical=True)
        assert revision > seen_revision + 1
        changes.clear()
        proxy.restore()

        assert watcher.wait_for(lambda view: view == {p + "b": b"22", p + "c": b"3"}, timeout=15)
        assert watcher.relists == 1
        assert changes == [{p + "a": None, p + "b": b"22", p + "c": b"3"}]

        etcd_client.put(p + "d", "4")
        etcd_client.delete(p + "b")
        assert watcher.wait_for(lambda view: view == {p + "c": b"3", p + "d": b"4"}, timeout=5)
        assert watcher.revision > revision
    finally:
        watcher.close()
        watch_client.close()
        proxy.close()


def test_on_lost_fires_when_the_lease_is_revoked_elsewhere(etcd_client: EtcdClient, etcd_prefix: str) -> None:
    lost = threading.Event()
    ttl = 3
    session = Session(etcd_client, ttl=ttl, on_lost=lost.set)
    try:
        session.put(etcd_prefix + "me", b"1")
        revoked = time.monotonic()
        etcd_client.revoke_lease(session.lease_id)
        assert lost.wait(timeout=ttl + 1)
        print(f"\non_lost fired {time.monotonic() - revoked:.2f}s after the revoke (keep-alive every {ttl / 3:.1f}s)")
        assert session.lost
        assert etcd_client.get(etcd_prefix + "me") == (None, None)
        with pytest.raises(FailedPrecondition) as caught:
            session.put(etcd_prefix + "me", b"2")
        assert caught.value.reason == "SESSION_LOST"
    finally:
        session.close()


def test_on_lost_fires_when_etcd_is_unreachable_for_a_ttl(etcd_server: EtcdServer) -> None:
    lost = threading.Event()
    proxy = _TcpProxy(etcd_server.client_port)
    client = EtcdConfig(f"127.0.0.1:{proxy.port}").connect(timeout=1.0)
    session = Session(client, ttl=TTL, on_lost=lost.set)
    try:
        proxy.cut()
        cut = time.monotonic()
        assert lost.wait(timeout=TTL + 3)
        assert time.monotonic() - cut <= TTL + SLACK
    finally:
        session.close()
        client.close()
        proxy.close()


def test_session_and_watcher_ride_out_an_etcd_restart(tmp_path: Path) -> None:
    server = EtcdServer(tmp_path / "data", tmp_path / "logs")
    client = watcher = session = None
    lost = threading.Event()
    try:
        server.start()
        client = EtcdConfig(server.endpoint).connect()
        session = Session(client, ttl=10, on_lost=lost.set)
        session.put("/simmesh/shards/c1/0", b"v1")
        watcher = PrefixWatcher(client, "/simmesh/shards/")
        assert watcher.snapshot() == {"/simmesh/shards/c1/0": b"v1"}

        server.stop()
        server.start()
        assert _eventually(lambda: _try(lambda: session.put("/simmesh/shards/c1/0", b"v2")), timeout=15)
        assert watcher.wait_for(lambda view: view == {"/simmesh/shards/c1/0": b"v2"}, timeout=15)
        assert watcher.relists == 0  # it resumed from its revision, no re-list was needed
        assert not lost.is_set()

        session.close()
        assert watcher.wait_for(lambda view: view == {}, timeout=2)
    finally:
        for closeable in (watcher, session, client):
            if closeable is not None:
                closeable.close()
        server.stop()


def test_unreachable_etcd_is_unavailable() -> None:
    from simmesh.devstack.process import free_port

    client = EtcdConfig(f"127.0.0.1:{free_port()}").connect(timeout=1.0)
    try:
        with pytest.raises(Unavailable) as caught:
            Session(client, ttl=5)
        assert caught.value.reason == "ETCD_UNAVAILABLE"
        with pytest.raises(Unavailable):
            PrefixWatcher(client, "/x/")
    finally:
        client.close()


def test_endpoint_parsing() -> None:
    assert EtcdConfig("10.0.0.1:2379, http://etcd-1:2379").addresses == [("10.0.0.1", 2379), ("etcd-1", 2379)]
    for bad in ("", "host", "host:", "host:port", ":2379", "h:99999"):
        with pytest.raises(InvalidArgument):
            EtcdConfig(bad)


def _eventually(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _try(action) -> bool:
    try:
        action()
    except Unavailable:
        return False
    return True


class _TcpProxy:
    """Forwards 127.0.0.1:port to a target port; `cut()` drops every connection and refuses new
    ones until `restore()`: a network partition between one client and etcd."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _shut(sock)

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        for thread in self._threads:
            thread.join()
        self._listener.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                downstream, _ = self._listener.accept()
            except TimeoutError:
                continue
            if not self._open.is_set():
                _shut(downstream)
                continue
            upstream = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                self._sockets.update((downstream, upstream))
            self._spawn(self._pump, downstream, upstream)
            self._spawn(self._pump, upstream, downstream)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _shut(source)
            _shut(sink)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
