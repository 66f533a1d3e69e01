"""The SDK entry point: one `Client`, one channel per service, typed service wrappers.

    with Client(ClientConfig.from_env()) as client:
        response = client.indexer.search_vectors("products", query, k=5, filter={"color": "red"})
        vectors = client.embedder.embed("models/mobilenet", [Path("a.jpg"), "https://x/b.png"])
        client.indexer.rpc.DeleteCollection(indexer_pb2.DeleteCollectionRequest(name="collections/old"))

Each wrapper (`client.embedder`, `client.indexer`, `client.catalog`, `client.labeler`) offers the
generated stub twice: `stub` raises `grpc.RpcError`, `rpc` raises `SimmeshError`. Both go through
the client's interceptor, which sets the default deadline and the bearer token on every call
(streams included: a long bulk stream passes its own `timeout=`).
"""

from __future__ import annotations

import enum
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar, cast

import grpc
import numpy as np
import numpy.typing as npt
from google.longrunning import operations_pb2_grpc
from google.protobuf import struct_pb2
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simmesh_client.config import SERVICE_NAMES, SERVICES, ClientConfig, Service
from simmesh_client.errors import ErrorMappingStub, ItemFailure, PartialFailure
from simmesh_client.operations import DEFAULT_POLL_INTERVAL, wait_operation
from simmesh_client.vectors import as_float32_matrix, from_vector_batch
from simmesh_proto.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    common_pb2,
    embedder_pb2,
    embedder_pb2_grpc,
    indexer_pb2,
    indexer_pb2_grpc,
    labeler_pb2,
    labeler_pb2_grpc,
)

StubT = TypeVar("StubT")
RequestT = TypeVar("RequestT", bound=Message)

ImageSource = common_pb2.Image | bytes | bytearray | memoryview | str | os.PathLike[str]


class Client:
    """Channels to the four services, opened on first use and closed by `close()`."""

    def __init__(self, config: ClientConfig | None = None) -> None:
        self.config = config if config is not None else ClientConfig.from_env()
        self._interceptor = _CallDefaults(self.config.token, self.config.timeout)
        self._channels: dict[Service, tuple[grpc.Channel, grpc.Channel]] = {}
        self._lock = threading.Lock()
        self.embedder = EmbedderClient(self)
        self.indexer = IndexerClient(self)
        self.catalog = CatalogClient(self)
        self.labeler = LabelerClient(self)

    def channel(self, service: Service) -> grpc.Channel:
        """The service's channel, with the default deadline and token applied to every call."""
        with self._lock:
            if service not in self._channels:
                size = self.config.max_message_bytes
                base = grpc.insecure_channel(
                    self.config.address(service),
                    options=[("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)],
                )
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

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

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
            error = None if reported == "NOT_SERVING" else f"health status {reported}"
            return ServiceHealth(service, address, ServingStatus.NOT_SERVING, latency_ms, error)
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


class ServiceClient(Generic[StubT]):
    """One service's generated stub on the client's channel, plus convenience methods."""

    service: ClassVar[Service]
    stub_class: ClassVar[Callable[[grpc.Channel], Any]]

    def __init__(self, client: Client) -> None:
        self._client = client
        self._channel: grpc.Channel | None = None
        self._stub: StubT | None = None

    @property
    def stub(self) -> StubT:
        """The generated stub: calls raise `grpc.RpcError`."""
        channel = self._client.channel(self.service)
        if self._stub is None or self._channel is not channel:
            self._channel, self._stub = channel, cast(StubT, self.stub_class(channel))
        return self._stub

    @property
    def rpc(self) -> StubT:
        """The generated stub's methods, raising `SimmeshError`."""
        return cast(StubT, ErrorMappingStub(self.stub))

    @property
    def operations(self) -> operations_pb2_grpc.OperationsStub:
        return self._client.operations(self.service)


class EmbedderClient(ServiceClient[embedder_pb2_grpc.EmbedderServiceStub]):
    service = "embedder"
    stub_class = embedder_pb2_grpc.EmbedderServiceStub

    def embed(
        self,
        model: str,
        images: Sequence[ImageSource],
        *,
        ids: Sequence[str] = (),
        timeout: float | None = None,
    ) -> np.ndarray:
        """A (len(images), dimension) float32 array, one row per image in order.

        Raises `PartialFailure` when some images fail; its `result` holds the array with zero rows
        for them and `failures` says which and why.
        """
        request = embedder_pb2.EmbedRequest(
            model=resource_name("models", model), images=[as_image(image) for image in images], ids=ids
        )
        response = self.rpc.Embed(request, timeout=timeout)
        vectors = from_vector_batch(response.vectors)
        if response.errors:
            failures = [ItemFailure.from_proto(item) for item in response.errors]
            raise PartialFailure(failures, vectors, total=len(images))
        return vectors

    def list_models(self, *, page_size: int = 0) -> Iterator[embedder_pb2.Model]:
        return paginate(self.rpc.ListModels, embedder_pb2.ListModelsRequest(page_size=page_size), "models")


class IndexerClient(ServiceClient[indexer_pb2_grpc.IndexerServiceStub]):
    service = "indexer"
    stub_class = indexer_pb2_grpc.IndexerServiceStub

    def search_vectors(
        self,
        collection: str,
        vectors: npt.ArrayLike,
        k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        timeout: float | None = None,
        **options: Any,
    ) -> indexer_pb2.SearchResponse:
        """k nearest records for one vector (1-D) or a batch (2-D), one result per query.

        `filter` is the MongoDB-like filter as a dict; `options` are further SearchRequest fields
        (`nprobe`, `group_by_product`, `min_score`, ...).
        """
        matrix = np.asarray(vectors)
        matrix = as_float32_matrix(matrix[np.newaxis, :] if matrix.ndim == 1 else matrix)
        dimension = matrix.shape[1]
        queries = [
            indexer_pb2.Query(vector=common_pb2.Vector(dimension=dimension, data=row.tobytes())) for row in matrix
        ]
        request = indexer_pb2.SearchRequest(
            collection=resource_name("collections", collection),
            queries=queries,
            k=k,
            filter=as_struct(filter) if filter is not None else None,
            include_metadata=include_metadata,
            **options,
        )
        return self.rpc.Search(request, timeout=timeout)

    def list_collections(self, *, page_size: int = 0) -> Iterator[indexer_pb2.Collection]:
        request = indexer_pb2.ListCollectionsRequest(page_size=page_size)
        return paginate(self.rpc.ListCollections, request, "collections")

    def train_index(
        self,
        collection: str,
        index: indexer_pb2.IndexSpec | None = None,
        *,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[indexer_pb2.TrainIndexMetadata], None] | None = None,
    ) -> indexer_pb2.Collection:
        """Train the collection's approximate index and wait for it; returns the collection."""
        request = indexer_pb2.TrainIndexRequest(collection=resource_name("collections", collection), index=index)
        operation = self.rpc.TrainIndex(request)
        return wait_operation(
            self.operations,
            operation,
            response_type=indexer_pb2.Collection,
            metadata_type=indexer_pb2.TrainIndexMetadata,
            timeout=timeout,
            poll_interval=poll_interval,
            on_progress=on_progress,
        )


class CatalogClient(ServiceClient[catalog_pb2_grpc.CatalogServiceStub]):
    service = "catalog"
    stub_class = catalog_pb2_grpc.CatalogServiceStub

    def list_tasks(self, *, page_size: int = 0) -> Iterator[catalog_pb2.Task]:
        return paginate(self.rpc.ListTasks, catalog_pb2.ListTasksRequest(page_size=page_size), "tasks")


class LabelerClient(ServiceClient[labeler_pb2_grpc.LabelerServiceStub]):
    service = "labeler"
    stub_class = labeler_pb2_grpc.LabelerServiceStub

    def list_projects(self, *, page_size: int = 0) -> Iterator[labeler_pb2.Project]:
        request = labeler_pb2.ListProjectsRequest(page_size=page_size)
        return paginate(self.rpc.ListProjects, request, "projects")


def paginate(method: Callable[[RequestT], Any], request: RequestT, items: str) -> Iterator[Any]:
    """Every item of a List method across its pages, following `next_page_token`."""
    page = type(request)()
    page.CopyFrom(request)
    while True:
        response = method(page)
        yield from getattr(response, items)
        if not response.next_page_token:
            return
        page.page_token = response.next_page_token  # type: ignore[attr-defined]


def resource_name(collection_id: str, name: str) -> str:
    """`products` -> `collections/products`; a full name is returned unchanged."""
    prefix = f"{collection_id}/"
    return name if name.startswith(prefix) else prefix + name


def as_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def as_image(source: ImageSource) -> common_pb2.Image:
    """An Image from bytes, a local file path, an http(s) URL, or a URI in the server's object store
    (`s3://`, `file://`)."""
    if isinstance(source, common_pb2.Image):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return common_pb2.Image(content=bytes(source))
    if isinstance(source, str):
        scheme = source.split("://", 1)[0].lower() if "://" in source else ""
        if scheme in ("http", "https"):
            return common_pb2.Image(url=source)
        if scheme in ("s3", "file"):
            return common_pb2.Image(uri=source)
        if scheme:
            raise ValueError(f"unsupported image URI scheme {scheme!r} in {source!r}")
    elif not isinstance(source, os.PathLike):
        raise TypeError(f"cannot make an image from {type(source).__name__}")
    with open(source, "rb") as file:
        return common_pb2.Image(content=file.read())


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str | bytes]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _CallDefaults(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Gives every call the default deadline and the bearer token unless it sets its own."""

    def __init__(self, token: str | None, timeout: float) -> None:
        self._authorization = f"Bearer {token}" if token else None
        self._timeout = timeout

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata = list(details.metadata or ())
        if self._authorization and not any(key == "authorization" for key, _ in metadata):
            metadata.append(("authorization", self._authorization))
        return _CallDetails(
            method=details.method,
            timeout=details.timeout if details.timeout is not None else self._timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
            compression=getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)
