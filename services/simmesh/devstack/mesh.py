"""The whole mesh on one machine: etcd, an S3 server, tritonserver, the four services and the REST gateway.

    with Mesh(MeshConfig(data_dir=Path(".simmesh"))) as mesh:
        mesh.addresses["indexer"]  # "127.0.0.1:50052"
        mesh.addresses["gateway"]  # "127.0.0.1:8080" (HTTP)

Everything lives under `data_dir` (state of each component, logs, credentials), so a restart
keeps the data. `ports="auto"` picks free ports for everything (tests); the defaults are the
documented ones.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simmesh.devstack.auth import api_key_env
from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.gateway import gateway_env, http_serving
from simmesh.devstack.process import ManagedProcess, ProcessFailed, free_port
from simmesh.devstack.s3 import S3Server
from simmesh.devstack.supervisor import Child, RestartPolicy, Supervisor
from simmesh.devstack.triton import TritonServer
from simmesh.embedder.triton_runtime import prepare_repository
from simmesh.kit.blobstore_s3 import S3BlobStore
from simmesh.kit.memory import ARENA_ENV
from simmesh.kit.tls import ChannelTls

SERVICES = ("embedder", "indexer", "catalog", "labeler")
GATEWAY = "gateway"  # HTTP, started after the services it calls

C = TypeVar("C")

DEFAULT_PORTS = {
    "embedder": 50051,
    "indexer": 50052,
    "catalog": 50053,
    "labeler": 50054,
    "gateway": 8080,
    "embedder-metrics": 9091,
    "indexer-metrics": 9092,
    "catalog-metrics": 9093,
    "labeler-metrics": 9094,
    "etcd": 2379,
    "etcd-peer": 2380,
    "s3": 8333,
    "triton-grpc": 8001,
    "triton-http": 8000,
    "triton-metrics": 8002,
}

# Shard node n listens on SHARD_BASE_PORT + n.
SHARD_BASE_PORT = 50060

# One bucket per kind of artifact, as in the Kubernetes deployment.
BUCKETS = {"models": "simmesh-models", "images": "simmesh-images", "snapshots": "simmesh-snapshots"}
BLOB_URLS = {
    "embedder": "s3://simmesh-models",
    "indexer": "s3://simmesh-snapshots",
    "shard": "s3://simmesh-snapshots",
    "catalog": "s3://simmesh-images/catalog",
    "labeler": "s3://simmesh-images/labeler",
}


LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"


@dataclass(frozen=True)
class MeshConfig:
    data_dir: Path
    ports: str = "default"  # "default" or "auto"
    host: str = "127.0.0.1"
    auth_token: str = ""
    api_keys: bool = False  # API keys in etcd, an internal credential and a bootstrap key (devstack/auth.py)
    with_triton: bool = True
    # Indexer shard nodes (ordinals 0..n-1): a collection can have up to this many shards.
    shard_nodes: int = 2
    # Image URLs may reach this machine's loopback addresses (the owner's own image servers);
    # off by default, like in any other deployment.
    allow_loopback_urls: bool = False
    # Extra SIMMESH_* variables for every service.
    env: dict[str, str] = field(default_factory=dict)
    # Mutual TLS on every server and peer channel, all services presenting this certificate
    # (`cert_file`/`key_file`, for 127.0.0.1 or `host`) and trusting `ca_file`; None: plaintext.
    tls: ChannelTls | None = None

    def url_env(self) -> dict[str, str]:
        """The image URL settings every service gets: loopback allowed only when asked for."""
        return {"SIMMESH_URL_ALLOWED_NETWORKS": LOOPBACK_NETWORKS} if self.allow_loopback_urls else {}


class Mesh:
    def __init__(self, config: MeshConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir).resolve()
        self.log_dir = self.data_dir / "logs"
        defaults = dict(DEFAULT_PORTS) | {f"shard-{i}": SHARD_BASE_PORT + i for i in range(config.shard_nodes)}
        self.ports = {name: free_port() for name in defaults} if config.ports == "auto" else defaults
        self.etcd: EtcdServer | None = None
        self.s3: S3Server | None = None
        self.triton: TritonServer | None = None
        self.services: dict[str, ManagedProcess] = {}
        self.supervisor: Supervisor | None = None

    # -- addresses ---------------------------------------------------------------------------

    @property
    def addresses(self) -> dict[str, str]:
        return {name: self.address_of(name) for name in (*SERVICES, GATEWAY)}

    def address_of(self, name: str) -> str:
        return f"{self.config.host}:{self.ports[name]}"

    def _credentials(self) -> dict[str, str]:
        """S3 credentials, made once per data directory and kept there."""
        path = self.data_dir / "credentials.json"
        if path.exists():
            return json.loads(path.read_text())
        creds = {"access_key": "simmesh", "secret_key": secrets.token_hex(16)}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(creds))
        path.chmod(0o600)
        return creds

    def triton_repository(self) -> str:
        return f"s3://{_started(self.s3, 'S3 server').endpoint}/{BUCKETS['models']}/triton"

    def service_env(self, name: str) -> dict[str, str]:
        etcd, s3 = _started(self.etcd, "etcd"), _started(self.s3, "S3 server")
        env = dict(ARENA_ENV) | dict(os.environ)
        env.update(
            SIMMESH_HOST=self.config.host,
            SIMMESH_PORT=str(self.ports[name]),
            SIMMESH_METRICS_PORT=str(self.ports.get(f"{name}-metrics", -1)),
            SIMMESH_DATA_DIR=str(self.data_dir / name),
            SIMMESH_LOG_LEVEL=env.get("SIMMESH_LOG_LEVEL", "INFO"),
            SIMMESH_AUTH_TOKEN=self.config.auth_token,
            SIMMESH_ETCD_ENDPOINTS=etcd.endpoint,
            SIMMESH_S3_ENDPOINT=s3.endpoint,
            SIMMESH_S3_ACCESS_KEY=s3.access_key,
            SIMMESH_S3_SECRET_KEY=s3.secret_key,
            SIMMESH_S3_REGION=s3.region,
            SIMMESH_EMBEDDER_ADDR=self.addresses["embedder"],
            SIMMESH_INDEXER_ADDR=self.addresses["indexer"],
            SIMMESH_CATALOG_ADDR=self.addresses["catalog"],
            SIMMESH_LABELER_ADDR=self.addresses["labeler"],
        )
        env["SIMMESH_BLOB_URL"] = BLOB_URLS[name.split("-")[0] if name.startswith("shard-") else name]
        if name == "catalog":  # imported backbones are read from the model registry's bucket
            env["SIMMESH_MODELS_BLOB_URL"] = BLOB_URLS["embedder"]
        if self.triton is not None:
            env.update(SIMMESH_RUNTIME="triton", SIMMESH_TRITON_URL=self.triton.grpc_url)
        env.update(self.config.url_env())
        if self.config.tls is not None:
            env.update(mutual_tls_env(self.config.tls))
        if self.config.api_keys:
            env.update(api_key_env(self.data_dir))
        env.update(self.config.env)
        return env

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> Mesh:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        creds = self._credentials()
        try:
            self.etcd = EtcdServer(
                self.data_dir / "etcd", self.log_dir, client_port=self.ports["etcd"], peer_port=self.ports["etcd-peer"]
            )
            self.s3 = S3Server(
                self.data_dir / "s3",
                self.log_dir,
                port=self.ports["s3"],
                access_key=creds["access_key"],
                secret_key=creds["secret_key"],
            )
            with ThreadPoolExecutor(2) as pool:
                etcd_started, s3_started = pool.submit(self.etcd.start), pool.submit(self.s3.start)
                etcd_started.result()
                s3_started.result()
            self._make_buckets()
            if self.config.with_triton:
                self.triton = TritonServer(
                    self.triton_repository(),
                    self.log_dir,
                    grpc_port=self.ports["triton-grpc"],
                    http_port=self.ports["triton-http"],
                    metrics_port=self.ports["triton-metrics"],
                    s3_credentials={
                        "AWS_ACCESS_KEY_ID": self.s3.access_key,
                        "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
                        "AWS_DEFAULT_REGION": self.s3.region,
                    },
                )
                self.triton.start()
            for ordinal in range(self.config.shard_nodes):
                name = f"shard-{ordinal}"
                env = self.service_env(name) | {
                    "SIMMESH_SHARD_ORDINAL": str(ordinal),
                    "SIMMESH_FAISS_THREADS": str(faiss_threads(self.config.shard_nodes)),
                }
                self.services[name] = ManagedProcess(
                    name,
                    [sys.executable, "-m", "simmesh.indexer", "shard"],
                    log_path=self.log_dir / f"{name}.log",
                    env=env,
                ).start()
            for name in SERVICES:
                argv = [sys.executable, "-m", f"simmesh.{name}"] + (["router"] if name == "indexer" else [])
                self.services[name] = ManagedProcess(
                    name, argv, log_path=self.log_dir / f"{name}.log", env=self.service_env(name)
                ).start()
            deadline = time.monotonic() + timeout
            for name, proc in self.services.items():
                proc.wait_ready(
                    functools.partial(serving, self.address_of(name), timeout=1.0, tls=self.config.tls),
                    max(1.0, deadline - time.monotonic()),
                )
            self.services[GATEWAY] = ManagedProcess(
                GATEWAY,
                [sys.executable, "-m", "simmesh.gateway"],
                log_path=self.log_dir / "gateway.log",
                env=gateway_env(self.service_env("labeler"), self.config.host, self.ports[GATEWAY]),
            ).start()
            self.services[GATEWAY].wait_ready(
                functools.partial(http_serving, self.address_of(GATEWAY)), max(5.0, deadline - time.monotonic())
            )
        except BaseException:
            self.stop()
            raise
        self._write_state()
        return self

    def _make_buckets(self) -> None:
        s3 = _started(self.s3, "S3 server")
        for bucket in BUCKETS.values():
            store = S3BlobStore(s3.endpoint, bucket, "", s3.access_key, s3.secret_key, s3.region)
            if bucket == BUCKETS["models"]:
                prepare_repository(store, "triton")

    def stop(self) -> None:
        """Services first (they drain; shard nodes last), then Triton, S3 and etcd. By process id."""
        for proc in reversed(list(self.services.values())):
            proc.stop(grace=15)
        for component in (self.triton, self.s3, self.etcd):
            if component is not None:
                component.stop()
        state = self.data_dir / "mesh.json"
        if state.exists():
            state.unlink()

    def supervise(self, policy: RestartPolicy | None = None, report: Callable[[str], None] | None = None) -> Supervisor:
        """A supervisor of every process started, that keeps the state file current; call its
        `poll()` or `run()`. `report` gets a line per exit and restart (default: stderr)."""
        children: dict[str, Child] = {"etcd": _started(self.etcd, "etcd"), "s3": _started(self.s3, "S3 server")}
        if self.triton is not None:
            children["triton"] = self.triton
        self.supervisor = Supervisor(children | self.services, policy, report=report, on_change=self._write_state)
        self._write_state()
        return self.supervisor

    def __enter__(self) -> Mesh:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reporting ---------------------------------------------------------------------------

    def processes(self) -> Iterator[tuple[str, str, int | None, Path]]:
        """(name, where it listens, pid, log file) for everything running."""
        if self.etcd:
            yield "etcd", self.etcd.endpoint, self.etcd.pid, self.etcd.log_path
        if self.s3:
            yield "s3", self.s3.endpoint, self.s3.pid, self.s3.log_path
        if self.triton:
            yield "triton", self.triton.grpc_url, self.triton.pid, self.triton.log_path
        for name, proc in self.services.items():
            yield name, self.address_of(name), proc.pid, proc.log_path

    def _write_state(self) -> None:
        records = self.supervisor.records if self.supervisor else {}
        processes = [
            {"name": n, "address": a, "pid": p, "log": str(log)} | (records[n].as_json() if n in records else {})
            for n, a, p, log in self.processes()
        ]
        state = {"runner_pid": os.getpid(), "processes": processes, "addresses": self.addresses}
        written = self.data_dir / "mesh.json.new"  # then renamed: `status` never reads half a file
        written.write_text(json.dumps(state, indent=2))
        written.replace(self.data_dir / "mesh.json")


def _started(component: C | None, what: str) -> C:
    """`component` as `Mesh.start()` made it; raises if the mesh has not started it."""
    if component is None:
        raise RuntimeError(f"the mesh's {what} is not started")
    return component


def faiss_threads(nodes_on_this_machine: int) -> int:
    """FAISS threads per shard node so that the nodes together use the cores once: OpenMP
    threads beyond the cores spin against each other and slow every node down."""
    return max(1, (os.cpu_count() or 1) // max(1, nodes_on_this_machine))


def mutual_tls_env(tls: ChannelTls) -> dict[str, str]:
    """`SIMMESH_*` variables for a service that serves mutual TLS with `tls`'s certificate and calls
    its peers over mutual TLS with the same certificate, as a pod with one cert-manager Secret does."""
    return {
        "SIMMESH_TLS_CERT_FILE": tls.cert_file,
        "SIMMESH_TLS_KEY_FILE": tls.key_file,
        "SIMMESH_TLS_CLIENT_CA_FILE": tls.ca_file,
        "SIMMESH_PEER_TLS_CA_FILE": tls.ca_file,
        "SIMMESH_PEER_TLS_CERT_FILE": tls.cert_file,
        "SIMMESH_PEER_TLS_KEY_FILE": tls.key_file,
    }


def serving(address: str, service: str = "", timeout: float = 2.0, tls: ChannelTls | None = None) -> bool:
    """True when the standard health service at `address` answers SERVING (asked over TLS with `tls`)."""
    channel = (
        grpc.insecure_channel(address)
        if tls is None
        else grpc.secure_channel(address, tls.credentials(), tls.options())
    )
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


__all__ = [
    "BUCKETS",
    "DEFAULT_PORTS",
    "GATEWAY",
    "SERVICES",
    "Mesh",
    "MeshConfig",
    "ProcessFailed",
    "mutual_tls_env",
    "serving",
]
