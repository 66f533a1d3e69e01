"""The SDK entry point: one `Client`, one channel per service, typed service wrappers.

    with Client(ClientConfig.from_env()) as client:
        response = client.indexer.search_batch("products", queries, k=5, filter={"color": "red"})
        vectors = client.embedder.embed("models/mobilenet", [Path("a.jpg"), "https://x/b.png"])
        client.indexer.rpc.DeleteCollection(indexer_pb2.DeleteCollectionRequest(name="collections/old"))

Each wrapper (`client.embedder`, `client.indexer`, `client.catalog`, `client.labeler`) lives in its
own module, built on `simmesh_client.base`, and offers the generated stub twice: `stub` raises
`grpc.RpcError`, `rpc` raises `SimmeshError`. Both go through the client's interceptor, which sets
the default deadline and the bearer token on every call (streams included: a long bulk stream
passes its own `timeout=`).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

import grpc
from google.longrunning import operations_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simmesh_client.backups import MeshBackups
from simmesh_client.base import CallDefaults
from simmesh_client.catalog import CatalogClient
from simmesh_client.closing import Closing
from simmesh_client.config import SERVICE_NAMES, SERVICES, ClientConfig, Service
from simmesh_client.embedder import EmbedderClient
from simmesh_client.indexer import IndexerClient
from simmesh_client.keys import KeyClient
from simmesh_client.labeler import LabelerClient

# Services restart in seconds; gRPC's default reconnect backoff grows to two minutes, during
# which calls to a service that is back would still fail at once (UNAVAILABLE, connection refused).
RECONNECT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


class Client(Closing):
    """Channels to the four services, opened on first use and closed by `close()`."""

    def __init__(self, config: ClientConfig | None = None) -> None:
        self.config = config if config is not None else ClientConfig.from_env()
        self._interceptor = CallDefaults(self.config.token, self.config.timeout)
        self._channels: dict[Service, tuple[grpc.Channel, grpc.Channel]] = {}
        self._lock = threading.Lock()
        self.embedder = EmbedderClient(self)
        self.indexer = IndexerClient(self)
        self.catalog = CatalogClient(self)
        self.labeler = LabelerClient(self)
        self.backups = MeshBackups(self, self.indexer)
        self.keys = KeyClient(self)

    def channel(self, service: Service) -> grpc.Channel:
        """The service's channel (TLS when the config says so), with the default deadline and
        token applied to every call."""
        with self._lock:
            if service not in self._channels:
                size = self.config.max_message_bytes
                address = self.config.address(service)
                options: list[tuple[str, object]] = [
                    ("grpc.max_send_message_length", size),
                    ("grpc.max_receive_message_length", size),
                    *RECONNECT_OPTIONS,
                ]
                tls = self.config.tls
                base = grpc.insecure_channel(address, options=options) if tls is None else tls.channel(address, options)
                self._channels[service] = (base, grpc.intercept_channel(base, self._interceptor))
            return self._channels[service][1]

    def operations(self, service: Service) -> operations_pb2_grpc.OperationsStub:
        """The `google.longrunning.Operations` stub of the service that started an operation."""
        return operations_pb2_grpc.OperationsStub(self.channel(service))

    def health(
        self, services: Iterable[Service] = SERVICES, *, timeout: float | None = None
    ) -> dict[Service, ServiceHealth]:
        """Each service's serving status from the standard health service, checked in parallel."""
        wanted = list(services)
        limit = timeout if timeout is not None else self.config.health_timeout
        with ThreadPoolExecutor(max_workers=max(len(wanted), 1)) as pool:
            checks = {service: pool.submit(self._check_health, service, limit) for service in wanted}
            return {service: check.result() for service, check in checks.items()}

    def close(self) -> None:
        """Close every open channel. The client opens fresh ones if used again."""
        with self._lock:
            channels, self._channels = self._channels, {}
        for base, _ in channels.values():
            base.close()

    def _check_health(self, service: Service, timeout: float) -> ServiceHealth:
        address = self.config.address(service)
        stub = health_pb2_grpc.HealthStub(self.channel(service))
        # A server registers the status of each service it hosts, and of itself under "".
        for name in (SERVICE_NAMES[service], ""):
            started = time.perf_counter()
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=timeout)
            except grpc.RpcError as error:
                call = cast(grpc.Call, error)
                if call.code() is grpc.StatusCode.NOT_FOUND:
                    continue
                unreachable = call.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                return ServiceHealth(
                    service,
                    address,
                    ServingStatus.UNREACHABLE if unreachable else ServingStatus.NOT_SERVING,
                    None,
                    f"{call.code().name}: {call.details()}",
                )
            latency_ms = (time.perf_counter() - started) * 1000
            if response.status == health_pb2.HealthCheckResponse.SERVING:
                return ServiceHealth(service, address, ServingStatus.SERVING, latency_ms)
            reported = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            detail = None if reported == "NOT_SERVING" else f"health status {reported}"
            return ServiceHealth(service, address, ServingStatus.NOT_SERVING, latency_ms, detail)
        return ServiceHealth(
            service, address, ServingStatus.NOT_SERVING, None, f"no health status for {SERVICE_NAMES[service]}"
        )


class ServingStatus(enum.Enum):
    SERVING = "SERVING"
    NOT_SERVING = "NOT_SERVING"
    UNREACHABLE = "UNREACHABLE"


@dataclass(frozen=True)
class ServiceHealth:
    service: Service
    address: str
    status: ServingStatus
    # Round trip of the health check; None when it got no answer.
    latency_ms: float | None
    error: str | None = None

    @property
    def serving(self) -> bool:
        return self.status is ServingStatus.SERVING
