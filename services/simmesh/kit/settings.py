"""Frozen settings from flags and `SIMMESH_*` environment variables.

Each service declares one frozen dataclass (extending `ServerSettings`); `load_settings` builds
its command line from the fields, so every field is both a flag (`--metrics-port`) and an
environment variable (`SIMMESH_METRICS_PORT`). Precedence: flag, then environment, then the
field's default. Settings are parsed once, in `main()`, and passed down.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from simmesh.kit.blobstore_config import BlobStoreConfig
from simmesh.kit.discovery import EtcdConfig
from simmesh.kit.tls import ChannelTls, TlsSettings

ENV_PREFIX = "SIMMESH_"


class _Dataclass(Protocol):
    """A class made by `@dataclass`: what `dataclasses.fields` reads."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


T = TypeVar("T", bound=_Dataclass)


@dataclasses.dataclass(frozen=True)
class ServerSettings(TlsSettings):
    """What every simmesh server has: TLS (see `kit/tls.py`), address, auth, logs, data."""

    host: str = dataclasses.field(default="0.0.0.0", metadata={"help": "address to listen on"})
    port: int = dataclasses.field(default=0, metadata={"help": "gRPC port (0 = any free port)"})
    metrics_port: int = dataclasses.field(
        default=-1, metadata={"help": "Prometheus metrics HTTP port (0 = any free port, -1 = off)"}
    )
    metrics_host: str = dataclasses.field(
        default="",
        metadata={
            "help": "address the metrics port listens on; empty = the service's host, or 127.0.0.1 where that "
            "is every interface (0.0.0.0, ::)"
        },
    )
    metrics_token: str = dataclasses.field(
        default="", metadata={"help": "require `Authorization: Bearer TOKEN` on /metrics (401 otherwise)"}
    )
    auth_token: str = dataclasses.field(
        default="", metadata={"help": "require `authorization: Bearer TOKEN` on every call but health"}
    )
    health_port: int = dataclasses.field(
        default=-1,
        metadata={
            "help": "plaintext port serving only the gRPC health service, for probes that cannot speak TLS "
            "(Kubernetes'); 0 = any free port, -1 = off"
        },
    )
    api_keys: str = dataclasses.field(
        default="",
        metadata={
            "help": "require API keys with roles, kept in `etcd` (etcd_endpoints, etcd_prefix) or in `memory` "
            "(this process only); empty = no API keys"
        },
    )
    internal_token: str = dataclasses.field(
        default="", metadata={"help": "the mesh's internal credential: services calling services and shards"}
    )
    bootstrap_key: str = dataclasses.field(
        default="", metadata={"help": "an admin key that manages every tenant's keys"}
    )
    bootstrap_key_file: str = dataclasses.field(default="", metadata={"help": "a file holding the bootstrap key"})
    bootstrap_tenant: str = dataclasses.field(default="default", metadata={"help": "the bootstrap key's tenant"})
    key_rate_limit: float = dataclasses.field(
        default=0.0, metadata={"help": "requests/s each API key may make to this server (0 = no limit)"}
    )
    key_rate_burst: int = dataclasses.field(
        default=0, metadata={"help": "requests an API key may make at once before key_rate_limit applies"}
    )
    key_daily_quota: int = dataclasses.field(
        default=0, metadata={"help": "requests each API key may make to this server per UTC day (0 = no quota)"}
    )
    max_concurrent_calls: int = dataclasses.field(
        default=1024, metadata={"help": "calls served at once; more answer RESOURCE_EXHAUSTED SERVER_BUSY (0 = no cap)"}
    )
    log_level: str = dataclasses.field(default="INFO", metadata={"help": "DEBUG, INFO, WARNING, ERROR"})
    data_dir: str = dataclasses.field(default=".simmesh", metadata={"help": "where this service keeps its state"})
    shutdown_grace: float = dataclasses.field(
        default=10.0, metadata={"help": "seconds in-flight calls get to finish on SIGTERM"}
    )
    event_loop: str = dataclasses.field(
        default="uvloop", metadata={"help": "uvloop (when installed; else asyncio) or asyncio"}
    )
    memory_trim_interval: float = dataclasses.field(
        default=60.0, metadata={"help": "seconds between returns of freed heap memory to the system (0 = never)"}
    )


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _base_type(annotation: Any) -> Any:
    """`int | None` -> int; `tuple[str, ...]` stays as it is."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return annotation


def _parse_value(annotation: Any, raw: str, name: str) -> Any:
    kind = _base_type(annotation)
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if typing.get_origin(kind) is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError:
        raise SystemExit(f"invalid value for {name}: {raw!r} (expected {getattr(kind, '__name__', kind)})") from None


def load_settings(
    cls: type[T],
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    prog: str | None = None,
    description: str | None = None,
) -> T:
    """Parse `cls` (a frozen dataclass) from `argv` and `env` (default: the process's)."""
    env = os.environ if env is None else env
    hints = typing.get_type_hints(cls)
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for field in dataclasses.fields(cls):
        help_text = field.metadata.get("help", "")
        parser.add_argument(
            _flag(field.name),
            dest=field.name,
            default=None,
            help=f"{help_text} (env {env_name(field.name)}; default {field.default!r})",
        )
    parsed = parser.parse_args(list(argv) if argv is not None else None)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        raw = getattr(parsed, field.name)
        source = _flag(field.name)
        if raw is None:
            raw = env.get(env_name(field.name))
            source = env_name(field.name)
        if raw is not None:
            values[field.name] = _parse_value(hints[field.name], raw, source)
    return cls(**values)


def db_url_field(contents: str) -> str:
    """A service's `*_db_url` setting: the SQLAlchemy URL of its `contents` database, empty for
    SQLite in data_dir."""
    return dataclasses.field(
        default="",
        metadata={
            "help": f"SQLAlchemy URL of the {contents} database, e.g. postgresql://user:pass@host/db; "
            "empty = SQLite in data_dir"
        },
    )


@dataclasses.dataclass(frozen=True)
class BlobSettings:
    """Where artifacts live: `file:///dir` (one machine) or `s3://bucket/prefix` (MinIO, S3)."""

    blob_url: str = dataclasses.field(
        default="", metadata={"help": "object store URL; empty = file store under data_dir"}
    )
    s3_endpoint: str = dataclasses.field(default="", metadata={"help": "S3 endpoint, e.g. http://minio:9000"})
    s3_access_key: str = dataclasses.field(default="", metadata={"help": "S3 access key"})
    s3_secret_key: str = dataclasses.field(default="", metadata={"help": "S3 secret key"})
    s3_region: str = dataclasses.field(default="us-east-1", metadata={"help": "S3 region"})
    s3_ca_file: str = dataclasses.field(
        default="", metadata={"help": "PEM CA bundle that an https:// S3 endpoint's certificate must chain to"}
    )

    def blob_config(self, url: str = "", default_dir: str = "blobs") -> BlobStoreConfig:
        """`url` (or `blob_url`) with the S3 credentials; empty: a file store in the data dir."""
        url = url or self.blob_url
        if not url:
            data_dir = getattr(self, "data_dir", ".simmesh")
            url = "file://" + os.path.join(os.path.abspath(data_dir), default_dir)
        return BlobStoreConfig(
            url=url,
            s3_endpoint=self.s3_endpoint,
            access_key=self.s3_access_key,
            secret_key=self.s3_secret_key,
            region=self.s3_region,
            ca_file=self.s3_ca_file,
        )


@dataclasses.dataclass(frozen=True)
class OperationSettings:
    """What a service that runs long-running operations keeps of them."""

    operation_ttl: float = dataclasses.field(
        default=7 * 24 * 3600.0,
        metadata={"help": "seconds a done operation is kept before GetOperation answers NOT_FOUND (0 = for ever)"},
    )


@dataclasses.dataclass(frozen=True)
class EtcdSettings:
    etcd_endpoints: tuple[str, ...] = dataclasses.field(
        default=("127.0.0.1:2379",), metadata={"help": "etcd endpoints, host:port[,host:port]"}
    )
    etcd_prefix: str = dataclasses.field(default="/simmesh", metadata={"help": "root of simmesh's keys in etcd"})
    etcd_ca_file: str = dataclasses.field(
        default="", metadata={"help": "PEM CA bundle of etcd's certificate; set = TLS to etcd"}
    )
    etcd_cert_file: str = dataclasses.field(default="", metadata={"help": "PEM client certificate for etcd"})
    etcd_key_file: str = dataclasses.field(default="", metadata={"help": "PEM private key of etcd_cert_file"})

    def etcd_config(self) -> EtcdConfig:
        """The endpoints, with TLS when `etcd_ca_file` is set."""
        tls = ChannelTls(self.etcd_ca_file, self.etcd_cert_file, self.etcd_key_file) if self.etcd_ca_file else None
        return EtcdConfig(",".join(self.etcd_endpoints), tls=tls)


@dataclasses.dataclass(frozen=True)
class PeerSettings:
    """Addresses of the other services a service calls."""

    embedder_addr: str = dataclasses.field(default="127.0.0.1:50051", metadata={"help": "embedder host:port"})
    indexer_addr: str = dataclasses.field(default="127.0.0.1:50052", metadata={"help": "indexer router host:port"})
