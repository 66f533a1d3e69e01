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
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast, overload

import grpc
import numpy as np
import numpy.typing as npt
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import field_mask_pb2, struct_pb2
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simmesh_client.config import SERVICE_NAMES, SERVICES, ClientConfig, Service
from simmesh_client.enums import INDEX_KIND, METRIC, enum_value
from simmesh_client.errors import ErrorMappingStub, ItemFailure, PartialFailure
from simmesh_client.labeling import (DEFAULT_BATCH, EXPORT_FORMATS, AddSummary, LabeledItem, batched, review_list,
                                    suggest_params)
from simmesh_client.models import DEFAULT_CHUNK_SIZE, OnnxFile, OnnxSource, as_manifest, import_requests
from simmesh_client.operations import DEFAULT_POLL_INTERVAL, wait_operation
from simmesh_client.records import InsertBatch, InsertSummary, RecordLike, stream_insert
from simmesh_client.vectors import as_float32_matrix, from_vector_batch, to_vector
from simmesh_proto.v1 import (
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

    def import_model(
        self,
        model_id: str,
        onnx: OnnxSource,
        manifest: embedder_pb2.ModelManifest | Mapping[str, Any],
        *,
        description: str = "",
        set_default: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        metrics: Mapping[str, float] | None = None,
        timeout: float | None = None,
    ) -> embedder_pb2.ModelVersion:
        """Upload an ONNX model (bytes or a file path) as the next version of `model_id`.

        The file is streamed in `chunk_size` pieces. `manifest` is a `ModelManifest` or a dict
        (see `simmesh_client.models.as_manifest`); the server fills in `dimension` from a trial run.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        model_id = model_id.removeprefix("models/")
        with OnnxFile(onnx) as file:
            header = embedder_pb2.ImportModelRequest.Header(
                model_id=model_id,
                description=description,
                manifest=as_manifest(manifest),
                set_default=set_default,
                size_bytes=file.size,
                source=embedder_pb2.MODEL_SOURCE_IMPORTED,
                metrics=dict(metrics or {}),
            )
            return self.rpc.ImportModel(import_requests(header, file, chunk_size), timeout=timeout)

    def get_model(self, model: str) -> embedder_pb2.Model:
        return self.rpc.GetModel(embedder_pb2.GetModelRequest(name=resource_name("models", model)))

    def list_models(self, *, page_size: int = 0) -> Iterator[embedder_pb2.Model]:
        """Every model, across all pages."""
        return paginate(self.rpc.ListModels, embedder_pb2.ListModelsRequest(page_size=page_size), "models")

    def get_version(self, name: str) -> embedder_pb2.ModelVersion:
        """One version by its name, `models/{model}/versions/{n}`."""
        return self.rpc.GetModelVersion(embedder_pb2.GetModelVersionRequest(name=resource_name("models", name)))

    def list_versions(self, model: str, *, page_size: int = 0) -> Iterator[embedder_pb2.ModelVersion]:
        """Every version of a model, across all pages."""
        request = embedder_pb2.ListModelVersionsRequest(parent=resource_name("models", model), page_size=page_size)
        return paginate(self.rpc.ListModelVersions, request, "versions")

    def delete_model(self, model: str) -> None:
        """Delete a model with all its versions."""
        self.rpc.DeleteModel(embedder_pb2.DeleteModelRequest(name=resource_name("models", model)))

    def set_default_version(self, model: str, version: int) -> embedder_pb2.Model:
        """Make `version` the one used when callers name the model without a version."""
        request = embedder_pb2.UpdateModelRequest(
            model=embedder_pb2.Model(name=resource_name("models", model), default_version=version),
            update_mask=field_mask_pb2.FieldMask(paths=["default_version"]),
        )
        return self.rpc.UpdateModel(request)


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

    def search(
        self,
        collection: str,
        *,
        vector: npt.ArrayLike | None = None,
        record_id: str | None = None,
        image: ImageSource | None = None,
        k: int = 10,
        filter: Mapping[str, Any] | None = None,
        group_by_product: bool = False,
        group_size: int = 0,
        tags: Sequence[str] | None = None,
        tag_weight: float = 0.0,
        nprobe: int = 0,
        ef_search: int = 0,
        min_score: float | None = None,
        include_metadata: bool = True,
        include_vectors: bool = False,
        allow_partial: bool = False,
        timeout: float | None = None,
    ) -> indexer_pb2.QueryResult:
        """k nearest records for one query: a vector, the `_id` of a stored record (left out of
        its own hits), or an image (bytes, a local path, or an http(s) / `s3://` URL) that the
        collection's model embeds.

        With `group_by_product`, `groups` holds the best `group_size` hits per product instead of
        `hits`. `filter` is the MongoDB-like metadata filter as a dict.
        """
        given = [name for name, value in (("vector", vector), ("record_id", record_id), ("image", image))
                 if value is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of vector, record_id or image (got {', '.join(given) or 'none'})")
        query = indexer_pb2.Query(tags=list(tags or ()))
        if vector is not None:
            query.vector.CopyFrom(to_vector(vector))
        elif record_id is not None:
            query.record_id = record_id
        else:
            assert image is not None
            query.image.CopyFrom(as_image(image))
        request = indexer_pb2.SearchRequest(
            collection=resource_name("collections", collection),
            queries=[query],
            k=k,
            filter=as_struct(filter) if filter is not None else None,
            group_by_product=group_by_product,
            group_size=group_size,
            tag_weight=tag_weight,
            nprobe=nprobe,
            ef_search=ef_search,
            min_score=min_score,
            include_metadata=include_metadata,
            include_vectors=include_vectors,
            allow_partial=allow_partial,
        )
        return self.rpc.Search(request, timeout=timeout).results[0]

    def create_collection(
        self,
        collection_id: str,
        dimension: int = 0,
        *,
        metric: str | int = "cosine",
        model: str = "",
        shard_count: int = 1,
        product_id_field: str = "",
        tags_field: str = "",
        indexed_fields: Sequence[str] = (),
        index_kind: str | int = "ivf_flat",
        description: str = "",
    ) -> indexer_pb2.Collection:
        """Create a collection of `dimension`-d vectors, or one bound to an embedder model
        (`models/{m}`), whose dimension it takes. `metric` is `cosine`, `l2` or `inner_product`;
        `index_kind` the approximate index TrainIndex builds (`ivf_flat`, `ivf_sq8`, `ivf_pq`, `hnsw`).
        """
        collection = indexer_pb2.Collection(
            description=description,
            dimension=dimension,
            metric=enum_value(*METRIC, metric),
            model=resource_name("models", model) if model else "",
            shard_count=shard_count,
            product_id_field=product_id_field,
            tags_field=tags_field,
            indexed_fields=list(indexed_fields),
            index=indexer_pb2.IndexSpec(kind=enum_value(*INDEX_KIND, index_kind)),
        )
        request = indexer_pb2.CreateCollectionRequest(collection_id=collection_id, collection=collection)
        return self.rpc.CreateCollection(request)

    def get_collection(self, collection: str) -> indexer_pb2.Collection:
        request = indexer_pb2.GetCollectionRequest(name=resource_name("collections", collection))
        return self.rpc.GetCollection(request)

    def list_collections(self, *, page_size: int = 0) -> Iterator[indexer_pb2.Collection]:
        """Every collection, across all pages."""
        request = indexer_pb2.ListCollectionsRequest(page_size=page_size)
        return paginate(self.rpc.ListCollections, request, "collections")

    def delete_collection(self, collection: str) -> None:
        """Delete a collection with all its records."""
        request = indexer_pb2.DeleteCollectionRequest(name=resource_name("collections", collection))
        self.rpc.DeleteCollection(request)

    def stats(self, collection: str) -> indexer_pb2.CollectionStats:
        """Records per shard, index state and memory."""
        request = indexer_pb2.GetCollectionStatsRequest(name=resource_name("collections", collection))
        return self.rpc.GetCollectionStats(request)

    def insert(
        self,
        collection: str,
        records: Iterable[RecordLike],
        *,
        batch_size: int = 256,
        upsert: bool = False,
        on_batch: Callable[[InsertBatch], None] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
    ) -> InsertSummary:
        """Stream records into a collection in batches of `batch_size` on one `StreamInsertRecords`
        call, and return the totals.

        `records` are JSON records (`_id`, `_url` / `_base64` / `_file` / `_vector`, other fields
        as metadata; see `simmesh_client.records`) or `RecordInput`s, consumed lazily. A record
        that fails (unreadable `_file`, wrong dimension, existing id without `upsert`, an id
        repeated within its batch...) is listed in the summary's `failures` with its position in
        `records`; the others are stored. `on_batch` gets each batch's outcome as it is answered.
        `timeout` bounds the whole stream (no deadline without one).
        """
        return stream_insert(
            self.rpc,
            resource_name("collections", collection),
            records,
            batch_size=batch_size,
            upsert=upsert,
            on_batch=on_batch,
            base_dir=base_dir,
            timeout=timeout,
        )

    def get_records(
        self, collection: str, ids: Sequence[str], *, include_vectors: bool = False
    ) -> indexer_pb2.BatchGetRecordsResponse:
        """The records with these ids, in order; unknown ids are listed in `missing_ids`."""
        request = indexer_pb2.BatchGetRecordsRequest(
            collection=resource_name("collections", collection), ids=list(ids), include_vectors=include_vectors
        )
        return self.rpc.BatchGetRecords(request)

    def delete_records(
        self, collection: str, ids: Sequence[str] = (), *, filter: Mapping[str, Any] | None = None
    ) -> indexer_pb2.DeleteRecordsResponse:
        """Delete records by id, or every record matching `filter`."""
        if not ids and filter is None:
            raise ValueError("give ids or a filter")
        request = indexer_pb2.DeleteRecordsRequest(
            collection=resource_name("collections", collection),
            ids=list(ids),
            filter=as_struct(filter) if filter is not None else None,
        )
        return self.rpc.DeleteRecords(request)

    def list_records(
        self,
        collection: str,
        *,
        filter: Mapping[str, Any] | None = None,
        include_vectors: bool = False,
        page_size: int = 0,
    ) -> Iterator[indexer_pb2.Record]:
        """Every record (matching `filter`), across all pages, fetched as iterated."""
        request = indexer_pb2.ListRecordsRequest(
            collection=resource_name("collections", collection),
            page_size=page_size,
            filter=as_struct(filter) if filter is not None else None,
            include_vectors=include_vectors,
        )
        return paginate(self.rpc.ListRecords, request, "records")

    @overload
    def train_index(
        self,
        collection: str,
        index: indexer_pb2.IndexSpec | None = None,
        *,
        kind: str | int | None = None,
        nlist: int = 0,
        wait: Literal[True] = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[indexer_pb2.TrainIndexMetadata], None] | None = None,
    ) -> indexer_pb2.Collection: ...

    @overload
    def train_index(
        self,
        collection: str,
        index: indexer_pb2.IndexSpec | None = None,
        *,
        kind: str | int | None = None,
        nlist: int = 0,
        wait: Literal[False],
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[indexer_pb2.TrainIndexMetadata], None] | None = None,
    ) -> operations_pb2.Operation: ...

    def train_index(
        self,
        collection: str,
        index: indexer_pb2.IndexSpec | None = None,
        *,
        kind: str | int | None = None,
        nlist: int = 0,
        wait: bool = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[indexer_pb2.TrainIndexMetadata], None] | None = None,
    ) -> indexer_pb2.Collection | operations_pb2.Operation:
        """Train the collection's approximate index.

        `kind` (`ivf_flat`, `ivf_sq8`, `ivf_pq`, `hnsw`) and `nlist` override the collection's
        settings, as do the set fields of `index`. With `wait`, polls the operation (calling
        `on_progress` with its metadata) and returns the trained collection; without, returns the
        operation at once. A collection with too few vectors is refused with FAILED_PRECONDITION
        (reason NEED_MORE_SAMPLES).
        """
        spec = indexer_pb2.IndexSpec()
        if index is not None:
            spec.CopyFrom(index)
        if kind is not None:
            spec.kind = enum_value(*INDEX_KIND, kind)
        if nlist:
            spec.nlist = nlist
        request = indexer_pb2.TrainIndexRequest(collection=resource_name("collections", collection), index=spec)
        operation = self.rpc.TrainIndex(request)
        if not wait:
            return operation
        return wait_operation(
            self.operations,
            operation,
            response_type=indexer_pb2.Collection,
            metadata_type=indexer_pb2.TrainIndexMetadata,
            timeout=timeout,
            poll_interval=poll_interval,
            on_progress=on_progress,
        )


class LabelerClient(ServiceClient[labeler_pb2_grpc.LabelerServiceStub]):
    """Label by similarity. `project` arguments take `birds` or `projects/birds`."""

    service = "labeler"
    stub_class = labeler_pb2_grpc.LabelerServiceStub

    def create_project(
        self,
        project_id: str,
        model: str,
        *,
        display_name: str = "",
        description: str = "",
        k: int | None = None,
        threshold: float | None = None,
        use_first: bool = False,
    ) -> labeler_pb2.Project:
        """A project embedding with `model` (`models/{m}[/versions/{v}]` or `tasks/{t}[/versions/{v}]`);
        k, threshold and use_first become its SuggestLabels defaults."""
        project = labeler_pb2.Project(model=model, display_name=display_name, description=description,
                                      default_params=suggest_params(k, threshold, use_first))
        return self.rpc.CreateProject(labeler_pb2.CreateProjectRequest(project_id=project_id, project=project))

    def get_project(self, project: str) -> labeler_pb2.Project:
        return self.rpc.GetProject(labeler_pb2.GetProjectRequest(name=resource_name("projects", project)))

    def list_projects(self, *, page_size: int = 0) -> Iterator[labeler_pb2.Project]:
        request = labeler_pb2.ListProjectsRequest(page_size=page_size)
        return paginate(self.rpc.ListProjects, request, "projects")

    def delete_project(self, project: str) -> None:
        """Delete a project with its images and its collection."""
        self.rpc.DeleteProject(labeler_pb2.DeleteProjectRequest(name=resource_name("projects", project)))

    def add_images(
        self,
        project: str,
        items: Iterable[LabeledItem],
        *,
        upsert: bool = False,
        batch_size: int = DEFAULT_BATCH,
        on_batch: Callable[[int, labeler_pb2.AddImagesResponse], None] | None = None,
    ) -> AddSummary:
        """Add images in batches of `batch_size` (labeled, or to the pool without labels).

        Failed items (undecodable image, existing id without `upsert`, ...) are listed in the
        summary with their position in `items`; the others are stored. `on_batch` gets the number
        of items sent so far and each batch's response.
        """
        summary, sent = AddSummary(), 0
        for batch in batched(items, batch_size):
            request = labeler_pb2.AddImagesRequest(project=resource_name("projects", project), upsert=upsert, images=[
                labeler_pb2.ImageInput(id=item.id, image=as_image(item.image), labels=list(item.labels))  # type: ignore[arg-type]
                for item in batch])
            response = self.rpc.AddImages(request)
            summary.ids += [i for i in response.ids if i]
            summary.failures += [ItemFailure(sent + e.index, e.id, ItemFailure.from_proto(e).error)
                                 for e in response.errors]
            sent += len(batch)
            if on_batch is not None:
                on_batch(sent, response)
        return summary

    def suggest(
        self,
        project: str,
        images: Sequence[ImageSource] = (),
        *,
        image_ids: Sequence[str] = (),
        k: int | None = None,
        threshold: float | None = None,
        use_first: bool = False,
        save: bool = False,
        ids: Sequence[str] = (),
        timeout: float | None = None,
    ) -> labeler_pb2.SuggestLabelsResponse:
        """Label suggestions for one batch: new `images` (saved under `ids` with `save`), then
        images already in the project by `image_ids`. Unset k / threshold take the project's
        defaults. Items that failed are in the response's `errors`."""
        if ids and len(ids) != len(images):
            raise ValueError(f"ids has {len(ids)} entries for {len(images)} images")
        items = [labeler_pb2.SuggestItem(image=as_image(image), id=ids[i] if ids else "")
                 for i, image in enumerate(images)]
        items += [labeler_pb2.SuggestItem(image_id=image_id) for image_id in image_ids]
        request = labeler_pb2.SuggestLabelsRequest(project=resource_name("projects", project), items=items, save=save,
                                                   params=suggest_params(k, threshold, use_first))
        return self.rpc.SuggestLabels(request, timeout=timeout)

    def review(
        self,
        project: str,
        *,
        accept: Sequence[str] = (),
        change: Mapping[str, Sequence[str]] | None = None,
        reject: Sequence[str] = (),
    ) -> labeler_pb2.ReviewSuggestionsResponse:
        """Accept, change (image id -> labels) or reject saved suggestions, in one call."""
        request = labeler_pb2.ReviewSuggestionsRequest(project=resource_name("projects", project),
                                                       reviews=review_list(accept, dict(change or {}), reject))
        return self.rpc.ReviewSuggestions(request)

    def evaluate(
        self,
        project: str,
        *,
        k: int | None = None,
        threshold: float | None = None,
        use_first: bool = False,
        k_values: Sequence[int] = (),
        threshold_values: Sequence[float] = (),
        timeout: float | None = None,
    ) -> labeler_pb2.EvaluateResponse:
        """Leave-one-out accuracy over the labeled images: one setting, or with `k_values` and/or
        `threshold_values` a sweep over every pair, best first."""
        request = labeler_pb2.EvaluateRequest(project=resource_name("projects", project), use_first=use_first,
                                              k_values=list(k_values), threshold_values=list(threshold_values))
        if not k_values and not threshold_values:
            request.params.CopyFrom(suggest_params(k, threshold, use_first))
        return self.rpc.Evaluate(request, timeout=timeout)

    def mine(
        self,
        project: str,
        *,
        examples: Sequence[ImageSource] = (),
        example_ids: Sequence[str] = (),
        label: str = "",
        duplicate_similarity: float = 0.0,
        page_size: int = 0,
    ) -> Iterator[labeler_pb2.PoolHit]:
        """Pool images most like the examples, near-duplicates removed, best first, across pages."""
        request = labeler_pb2.MinePoolRequest(
            project=resource_name("projects", project), examples=[as_image(e) for e in examples],
            example_ids=list(example_ids), label=label, duplicate_similarity=duplicate_similarity, page_size=page_size)
        return paginate(self.rpc.MinePool, request, "hits")

    def uncertain(self, project: str, *, k: int | None = None, page_size: int = 0) -> Iterator[labeler_pb2.UncertainImage]:
        """Pool images by increasing margin between their two best labels, across pages."""
        request = labeler_pb2.ListUncertainRequest(project=resource_name("projects", project), page_size=page_size,
                                                   params=suggest_params(k))
        return paginate(self.rpc.ListUncertain, request, "images")

    def labels(self, project: str, *, page_size: int = 0) -> Iterator[labeler_pb2.LabelCount]:
        request = labeler_pb2.ListLabelsRequest(project=resource_name("projects", project), page_size=page_size)
        return paginate(self.rpc.ListLabels, request, "labels")

    def images(self, project: str, *, label: str = "", state: int = 0,
               page_size: int = 0) -> Iterator[labeler_pb2.LabeledImage]:
        request = labeler_pb2.ListImagesRequest(project=resource_name("projects", project), label=label, state=state,
                                                page_size=page_size)
        return paginate(self.rpc.ListImages, request, "images")

    def export(self, project: str, *, format: str = "csv", include_suggested: bool = False) -> Iterator[bytes]:
        """The labels as CSV or JSON, chunk by chunk as the server streams them."""
        if format not in EXPORT_FORMATS:
            raise ValueError(f"format must be one of {sorted(EXPORT_FORMATS)}, got {format!r}")
        request = labeler_pb2.ExportLabelsRequest(project=resource_name("projects", project),
                                                  format=EXPORT_FORMATS[format], include_suggested=include_suggested)
        for chunk in self.rpc.ExportLabels(request):
            yield chunk.data


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


# The catalog's wrapper builds on ServiceClient and the helpers above.
from simmesh_client.catalog import CatalogClient  # noqa: E402
