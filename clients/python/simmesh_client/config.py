"""Where the four services are and how to call them.

Addresses resolve from the most specific setting to the least: a per-service address
(`SIMMESH_EMBEDDER_ADDR`, ...), then the shared host (`SIMMESH_MESH_HOST`, kept with each service's
default port), then `localhost`.

    config = ClientConfig.from_env()                      # environment only
    config = ClientConfig.from_env(host="mesh.internal")   # every service on that host
    config = ClientConfig(indexer_address="10.0.0.5:50052", token="s3cret")

TLS: `tls=TlsOptions(ca_file=...)`, or from the environment `SIMMESH_TLS_CA_FILE` (or `SIMMESH_TLS=1`
for the system's roots), `SIMMESH_TLS_CLIENT_CERT_FILE`/`SIMMESH_TLS_CLIENT_KEY_FILE` for mutual TLS and
`SIMMESH_TLS_SERVER_NAME` (see `simmesh_client.tls`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from simmesh_client.tls import TlsOptions

Service = Literal["embedder", "indexer", "catalog", "labeler"]

SERVICES: tuple[Service, ...] = ("embedder", "indexer", "catalog", "labeler")

DEFAULT_PORTS: Mapping[Service, int] = {"embedder": 50051, "indexer": 50052, "catalog": 50053, "labeler": 50054}

# The proto service each address serves, as the health service names it.
SERVICE_NAMES: Mapping[Service, str] = {
    "embedder": "simmesh.v1.EmbedderService",
    "indexer": "simmesh.v1.IndexerService",
    "catalog": "simmesh.v1.CatalogService",
    "labeler": "simmesh.v1.LabelerService",
}

ADDRESS_ENV: Mapping[Service, str] = {
    "embedder": "SIMMESH_EMBEDDER_ADDR",
    "indexer": "SIMMESH_INDEXER_ADDR",
    "catalog": "SIMMESH_CATALOG_ADDR",
    "labeler": "SIMMESH_LABELER_ADDR",
}
HOST_ENV = "SIMMESH_MESH_HOST"
TOKEN_ENV = "SIMMESH_TOKEN"
TIMEOUT_ENV = "SIMMESH_TIMEOUT"

DEFAULT_HOST = "localhost"
DEFAULT_TIMEOUT = 30.0
DEFAULT_HEALTH_TIMEOUT = 2.0
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def default_address(service: Service, host: str = DEFAULT_HOST) -> str:
    """`host:port` for a service on its default port (IPv6 hosts bracketed)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{DEFAULT_PORTS[service]}"


@dataclass(frozen=True)
class ClientConfig:
    """Addresses of the four services and the settings every call shares."""

    embedder_address: str = default_address("embedder")
    indexer_address: str = default_address("indexer")
    catalog_address: str = default_address("catalog")
    labeler_address: str = default_address("labeler")
    # Sent as `authorization: Bearer <token>` on every call when set.
    token: str | None = None
    # Deadline in seconds for calls that do not set their own.
    timeout: float = DEFAULT_TIMEOUT
    # Deadline in seconds for one health check.
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT
    # Largest message a channel sends or receives.
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # TLS to every service, verifying its certificate; None: plaintext.
    tls: TlsOptions | None = None

    def __post_init__(self) -> None:
        for service in SERVICES:
            if not self.address(service):
                raise ValueError(f"{service} address must not be empty")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        if not self.health_timeout > 0:
            raise ValueError(f"health_timeout must be positive, got {self.health_timeout}")
        if self.max_message_bytes <= 0:
            raise ValueError(f"max_message_bytes must be positive, got {self.max_message_bytes}")

    def address(self, service: Service) -> str:
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
        return getattr(self, f"{service}_address")

    def replace(self, **changes: Any) -> ClientConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        host: str | None = None,
        embedder: str | None = None,
        indexer: str | None = None,
        catalog: str | None = None,
        labeler: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
        tls: TlsOptions | None = None,
    ) -> ClientConfig:
        """Settings from `SIMMESH_*` variables; arguments that are not None win over them."""
        env = os.environ if environ is None else environ
        explicit: dict[Service, str | None] = {
            "embedder": embedder,
            "indexer": indexer,
            "catalog": catalog,
            "labeler": labeler,
        }
        shared_host = host or env.get(HOST_ENV) or DEFAULT_HOST

        def resolve(service: Service) -> str:
            return explicit[service] or env.get(ADDRESS_ENV[service]) or default_address(service, shared_host)

        return cls(
            embedder_address=resolve("embedder"),
            indexer_address=resolve("indexer"),
            catalog_address=resolve("catalog"),
            labeler_address=resolve("labeler"),
            token=(token if token is not None else env.get(TOKEN_ENV)) or None,
            timeout=timeout if timeout is not None else _parse_timeout(env.get(TIMEOUT_ENV)),
            tls=tls if tls is not None else TlsOptions.from_env(env),
        )


def _parse_timeout(raw: str | None) -> float:
    if raw is None or raw.strip() == "":
        return DEFAULT_TIMEOUT
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
