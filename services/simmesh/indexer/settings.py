"""Indexer settings (flags and SIMMESH_* variables), for the router and for shard nodes."""

from __future__ import annotations

import dataclasses
import os
import re
import socket

from simmesh.imaging.limits import ImageSettings
from simmesh.kit.settings import BlobSettings, EtcdSettings, OperationSettings, PeerSettings, ServerSettings


@dataclasses.dataclass(frozen=True)
class RouterSettings(ServerSettings, BlobSettings, EtcdSettings, PeerSettings, OperationSettings, ImageSettings):
    port: int = 50052
    min_train_vectors: int = dataclasses.field(
        default=1000, metadata={"help": "fewest vectors TrainIndex accepts unless a collection says otherwise"}
    )


@dataclasses.dataclass(frozen=True)
class ShardSettings(ServerSettings, BlobSettings, EtcdSettings):
    port: int = 50060
    shard_ordinal: int = dataclasses.field(default=-1, metadata={"help": "which shard of each collection to serve"})
    shard_ordinal_from: str = dataclasses.field(
        default="", metadata={"help": "`hostname`: take the ordinal from a trailing -N of the host/pod name"}
    )
    advertise_address: str = dataclasses.field(
        default="", metadata={"help": "host:port routers reach this node at (default: host:port)"}
    )
    lease_ttl: int = dataclasses.field(default=5, metadata={"help": "seconds the etcd registration outlives a crash"})
    snapshot_interval: float = dataclasses.field(
        default=60.0, metadata={"help": "seconds between snapshots of changed shards"}
    )
    wal_warn_bytes: int = dataclasses.field(
        default=1 << 30, metadata={"help": "log a warning when a slice's write-ahead log passes this size (0 = never)"}
    )
    faiss_threads: int = dataclasses.field(default=0, metadata={"help": "OpenMP threads for FAISS (0 = cores)"})

    def ordinal(self) -> int:
        if self.shard_ordinal >= 0:
            return self.shard_ordinal
        if self.shard_ordinal_from == "hostname":
            name = os.environ.get("POD_NAME") or socket.gethostname()
            match = re.search(r"-(\d+)$", name)
            if match:
                return int(match.group(1))
            raise SystemExit(f"cannot take a shard ordinal from host name {name!r} (expected NAME-N)")
        raise SystemExit("set --shard-ordinal (SIMMESH_SHARD_ORDINAL) or SIMMESH_SHARD_ORDINAL_FROM=hostname")
