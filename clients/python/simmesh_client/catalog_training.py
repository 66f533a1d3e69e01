"""`client.catalog`'s training side: training images, training, versions, deployment and descriptors."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
from google.longrunning import operations_pb2
from google.protobuf import json_format

from simmesh_client.base import ImageSource, ServiceClient, as_image, as_struct, paginate, resource_name
from simmesh_client.enums import enum_value
from simmesh_client.errors import ItemFailure, PartialFailure
from simmesh_client.operations import DEFAULT_POLL_INTERVAL, OperationTypes
from simmesh_client.vectors import from_vector_batch
from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc, indexer_pb2

BACKBONE = (catalog_pb2.Backbone, "BACKBONE_")
# Images per BatchCreateTrainingImages call.
UPLOAD_BATCH = 32

TrainingConfigLike = catalog_pb2.TrainingConfig | Mapping[str, Any]

TRAIN_TASK = OperationTypes(catalog_pb2.TaskVersion, catalog_pb2.TrainingMetadata)
DEPLOY_VERSION = OperationTypes(indexer_pb2.ReembedResponse, indexer_pb2.ReembedMetadata)


def as_training_config(config: TrainingConfigLike | None) -> catalog_pb2.TrainingConfig:
    """A TrainingConfig from itself or a dict of its fields (`backbone` by short name: `compact_cnn`,
    `imported`)."""
    if config is None:
        return catalog_pb2.TrainingConfig()
    if isinstance(config, catalog_pb2.TrainingConfig):
        return config
    values = dict(config)
    if "backbone" in values:
        values["backbone"] = enum_value(*BACKBONE, values["backbone"])
    return json_format.ParseDict(values, catalog_pb2.TrainingConfig())


def version_name(version: str) -> str:
    """`palette`, `tasks/palette`, `palette/versions/2` or `tasks/palette/versions/2`, whole."""
    return resource_name("tasks", version)


class CatalogTrainingMethods(ServiceClient[catalog_pb2_grpc.CatalogServiceStub]):
    """The CatalogClient methods for training images, training, versions, deployment and descriptors."""

    # -- training images

    def upload_images(
        self,
        images: Iterable[ImageSource],
        *,
        groups: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        batch_size: int = UPLOAD_BATCH,
        on_uploaded: Callable[[int], None] | None = None,
    ) -> list[catalog_pb2.TrainingImage]:
        """Uploads images (file paths, bytes, URLs, object URIs) into `groups`, `batch_size` per
        call; returns them in order. Known bytes return the stored image. `on_uploaded(n)` is
        called after each batch with its size. Raises `PartialFailure` when some fail: its
        `result` holds the list, with None where an image failed."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        group_names = [resource_name("groups", g) for g in groups]
        results: list[catalog_pb2.TrainingImage | None] = []
        failures: list[ItemFailure] = []
        pending: list[ImageSource] = []

        def send() -> None:
            request = catalog_pb2.BatchCreateTrainingImagesRequest(
                requests=[
                    catalog_pb2.CreateTrainingImageRequest(
                        image=as_image(source), groups=group_names, metadata=as_struct(metadata or {})
                    )
                    for source in pending
                ]
            )
            response = self.rpc.BatchCreateTrainingImages(request)
            failed = {item.index: item for item in response.errors}
            for i, image in enumerate(response.images):
                if i in failed:
                    item = ItemFailure.from_proto(failed[i])
                    failures.append(ItemFailure(len(results), _label(pending[i]), item.error))
                    results.append(None)
                else:
                    results.append(image)
            if on_uploaded is not None:
                on_uploaded(len(pending))
            pending.clear()

        for source in images:
            pending.append(source)
            if len(pending) == batch_size:
                send()
        if pending:
            send()
        if failures:
            raise PartialFailure(failures, results, total=len(results))
        return [image for image in results if image is not None]

    def list_images(self, *, group: str = "", page_size: int = 0) -> Iterator[catalog_pb2.TrainingImage]:
        request = catalog_pb2.ListTrainingImagesRequest(
            page_size=page_size, group=resource_name("groups", group) if group else ""
        )
        return paginate(self.rpc.ListTrainingImages, request, "images")

    # -- training and versions

    @overload
    def train(
        self,
        task: str,
        training_config: TrainingConfigLike | None = None,
        *,
        wait: Literal[True] = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[catalog_pb2.TrainingMetadata], None] | None = None,
    ) -> catalog_pb2.TaskVersion: ...

    @overload
    def train(
        self,
        task: str,
        training_config: TrainingConfigLike | None = None,
        *,
        wait: Literal[False],
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[catalog_pb2.TrainingMetadata], None] | None = None,
    ) -> operations_pb2.Operation: ...

    def train(
        self,
        task: str,
        training_config: TrainingConfigLike | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[catalog_pb2.TrainingMetadata], None] | None = None,
    ) -> catalog_pb2.TaskVersion | operations_pb2.Operation:
        """Trains the task's next version; `training_config`'s set fields override the task's.

        With `wait`, polls the operation (calling `on_progress` with its TrainingMetadata: stage,
        epoch, loss, metric) and returns the new TaskVersion; without, returns the operation.
        Refused at once with FAILED_PRECONDITION for a task without similarity types
        (NO_SIMILARITY_TYPES) or with fewer than two training groups holding images
        (NEED_MORE_GROUPS).
        """
        request = catalog_pb2.TrainTaskRequest(
            task=resource_name("tasks", task), training_config=as_training_config(training_config)
        )
        operation = self.rpc.TrainTask(request)
        return self._operation_result(operation, TRAIN_TASK, wait, timeout, poll_interval, on_progress)

    def get_version(self, version: str) -> catalog_pb2.TaskVersion:
        """One version, `tasks/{t}/versions/{n}`."""
        return self.rpc.GetTaskVersion(catalog_pb2.GetTaskVersionRequest(name=version_name(version)))

    def list_versions(self, task: str, *, page_size: int = 0) -> Iterator[catalog_pb2.TaskVersion]:
        request = catalog_pb2.ListTaskVersionsRequest(parent=resource_name("tasks", task), page_size=page_size)
        return paginate(self.rpc.ListTaskVersions, request, "versions")

    def set_production(self, version: str) -> catalog_pb2.Task:
        """Makes `tasks/{t}/versions/{n}` the version `tasks/{t}` means (and the default of the
        task's registry model)."""
        return self.rpc.SetProductionVersion(catalog_pb2.SetProductionVersionRequest(version=version_name(version)))

    @overload
    def deploy(
        self,
        version: str,
        collection: str,
        *,
        allow_drop: bool = False,
        wait: Literal[True] = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[indexer_pb2.ReembedMetadata], None] | None = None,
    ) -> indexer_pb2.ReembedResponse: ...

    @overload
    def deploy(
        self,
        version: str,
        collection: str,
        *,
        allow_drop: bool = False,
        wait: Literal[False],
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[indexer_pb2.ReembedMetadata], None] | None = None,
    ) -> operations_pb2.Operation: ...

    def deploy(
        self,
        version: str,
        collection: str,
        *,
        allow_drop: bool = False,
        wait: bool = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[indexer_pb2.ReembedMetadata], None] | None = None,
    ) -> indexer_pb2.ReembedResponse | operations_pb2.Operation:
        """Re-embeds `collection` with `version` (`tasks/{t}` = its production version) and binds
        it to that version. With `wait`, returns the ReembedResponse; without, the operation.
        Records with neither a kept image nor a reachable URL fail the deployment
        (UNRECOVERABLE_RECORDS), unless `allow_drop`: then they are dropped and listed."""
        request = catalog_pb2.DeployVersionRequest(
            version=version_name(version), collection=resource_name("collections", collection), allow_drop=allow_drop
        )
        operation = self.rpc.DeployVersion(request)
        return self._operation_result(operation, DEPLOY_VERSION, wait, timeout, poll_interval, on_progress)

    def descriptors(
        self,
        version: str,
        *,
        images: Sequence[ImageSource] = (),
        records: Sequence[str] = (),
        timeout: float | None = None,
    ) -> np.ndarray:
        """A (len(images) + len(records), dimension) float32 array: the images, then the records
        (`collections/{c}/records/{id}`, embedded from their `_url`), with `version`.

        Raises `PartialFailure` when some items fail; its `result` holds the array with zero rows
        for them."""
        request = catalog_pb2.GetDescriptorsRequest(
            version=version_name(version), images=[as_image(image) for image in images], records=records
        )
        response = self.rpc.GetDescriptors(request, timeout=timeout)
        vectors = from_vector_batch(response.vectors)
        if response.errors:
            raise PartialFailure(
                [ItemFailure.from_proto(item) for item in response.errors], vectors, total=len(images) + len(records)
            )
        return vectors


def _label(source: ImageSource) -> str:
    """How an upload is named in errors: its path or URL (bytes have no name)."""
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else ""
