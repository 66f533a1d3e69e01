"""An indexer of real processes on one machine: shard nodes and a router on given etcd and S3.

Used by the integration tests and the benchmarks:

    cluster = IndexerCluster(root, etcd.endpoint, s3, shards=2).start()
    cluster.router_address       # host:port of simmesh.v1.IndexerService
    cluster.kill_shard(1)        # SIGKILL, as a crash
    cluster.start_shard(1)       # restart it on the same data
    cluster.stop()               # every process, by pid

With `tls`, every process serves mutual TLS with that certificate and calls its peers with it
(`mutual_tls_env`); `start_shard(n, tls=other)` starts a node with another certificate.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

from simmesh.devstack.mesh import faiss_threads, mutual_tls_env, serving
from simmesh.devstack.process import ManagedProcess, free_port
from simmesh.devstack.s3 import S3Server
from simmesh.kit.blobstore_s3 import S3BlobStore
from simmesh.kit.tls import ChannelTls


class IndexerCluster:
    def __init__(
        self,
        root: Path,
        etcd_endpoint: str,
        s3: S3Server,
        shards: int,
        *,
        embedder_addr: str = "",
        env: dict[str, str] | None = None,
        tls: ChannelTls | None = None,
    ) -> None:
        self.root = root
        self.tls = tls
        self.prefix = f"/simmesh-test/{uuid.uuid4().hex[:8]}"
        self.bucket = f"snapshots-{uuid.uuid4().hex[:8]}"
        self.store = S3BlobStore(s3.endpoint, self.bucket, "", s3.access_key, s3.secret_key, s3.region)
        self.common = {
            "SIMMESH_HOST": "127.0.0.1",
            "SIMMESH_ETCD_ENDPOINTS": etcd_endpoint,
            "SIMMESH_ETCD_PREFIX": self.prefix,
            "SIMMESH_BLOB_URL": f"s3://{self.bucket}",
            "SIMMESH_S3_ENDPOINT": s3.endpoint,
            "SIMMESH_S3_ACCESS_KEY": s3.access_key,
            "SIMMESH_S3_SECRET_KEY": s3.secret_key,
            "SIMMESH_S3_REGION": s3.region,
            "SIMMESH_EMBEDDER_ADDR": embedder_addr or f"127.0.0.1:{free_port()}",
            **(mutual_tls_env(tls) if tls else {}),
            **(env or {}),
        }
        self.shard_ports = [free_port() for _ in range(shards)]
        self.router_port = free_port()
        self.shards: dict[int, ManagedProcess] = {}
        self.router: ManagedProcess | None = None

    @property
    def router_address(self) -> str:
        return f"127.0.0.1:{self.router_port}"

    def shard_address(self, ordinal: int) -> str:
        return f"127.0.0.1:{self.shard_ports[ordinal]}"

    def _env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.common, **extra}

    def start_shard(
        self, ordinal: int, *, wait: bool = True, tls: ChannelTls | None = None, env: dict[str, str] | None = None
    ) -> ManagedProcess:
        """Starts shard node `ordinal` (with the cluster's certificate, or `tls`'s, and `env` over
        the cluster's variables); with `wait`, returns once its health says SERVING."""
        tls = tls or self.tls
        proc = ManagedProcess(
            f"shard-{ordinal}",
            [sys.executable, "-m", "simmesh.indexer", "shard"],
            log_path=self.root / f"shard-{ordinal}.log",
            env=self._env(
                SIMMESH_PORT=str(self.shard_ports[ordinal]),
                SIMMESH_SHARD_ORDINAL=str(ordinal),
                SIMMESH_FAISS_THREADS=str(faiss_threads(len(self.shard_ports))),
                SIMMESH_DATA_DIR=str(self.root / f"shard-{ordinal}"),
                SIMMESH_LEASE_TTL="2",
                SIMMESH_SNAPSHOT_INTERVAL="3600",
                **(mutual_tls_env(tls) if tls else {}),
                **(env or {}),
            ),
        ).start(lambda: serving(self.shard_address(ordinal), timeout=0.5, tls=tls) if wait else True, timeout=60)
        self.shards[ordinal] = proc
        return proc

    def kill_shard(self, ordinal: int) -> None:
        self.shards[ordinal].kill()

    def start_router(self, *, wait: bool = True) -> ManagedProcess:
        self.router = ManagedProcess(
            "router",
            [sys.executable, "-m", "simmesh.indexer", "router"],
            log_path=self.root / "router.log",
            env=self._env(
                SIMMESH_PORT=str(self.router_port),
                SIMMESH_DATA_DIR=str(self.root / "router"),
                SIMMESH_MIN_TRAIN_VECTORS="1000",
            ),
        ).start(lambda: serving(self.router_address, timeout=0.5, tls=self.tls) if wait else True, timeout=60)
        return self.router

    def start(self) -> IndexerCluster:
        try:
            for ordinal in range(len(self.shard_ports)):
                self.start_shard(ordinal)
            self.start_router()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in [self.router, *self.shards.values()]:
            if proc is not None:
                proc.stop(grace=10)
        try:
            self.store.delete_prefix("")
        except Exception:  # best effort clean-up of a test bucket
            pass

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail(30)}" for p in [self.router, *self.shards.values()] if p)
