"""`client.catalog`: similarity types, tasks, groups, training images, training and versions.

    catalog = client.catalog
    catalog.create_similarity_type("colour")
    catalog.create_task("palette", ["colour"], training_config={"epochs": 20})
    catalog.create_group("red", "colour")
    catalog.upload_images(Path("red").glob("*.png"), groups=["red"])
    version = catalog.train("palette", on_progress=print)           # waits: the TaskVersion
    catalog.set_production("palette/versions/2")
    catalog.deploy("palette", "products")                           # re-embeds the collection
    vectors = catalog.descriptors("palette", images=[Path("q.png")], records=["collections/products/records/a"])

Names may be given whole (`tasks/palette`) or as ids (`palette`); versions as
`tasks/{t}/versions/{n}`, `{t}/versions/{n}`, or `tasks/{t}` for the production version.
"""

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
from simmesh_client.operations import DEFAULT_POLL_INTERVAL, wait_operation
from simmesh_client.vectors import from_vector_batch
from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc, indexer_pb2

BACKBONE = (catalog_pb2.Backbone, "BACKBONE_")
# Images per BatchCreateTrainingImages call.
UPLOAD_BATCH = 32

TrainingConfigLike = catalog_pb2.TrainingConfig | Mapping[str, Any]


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


class CatalogClient(ServiceClient[catalog_pb2_grpc.CatalogServiceStub]):
    service = "catalog"
    stub_class = catalog_pb2_grpc.CatalogServiceStub

    # -- similarity types

    def create_similarity_type(
        self, type_id: str, *, display_name: str = "", description: str = "", metadata: Mapping[str, Any] | None = None
    ) -> catalog_pb2.SimilarityType:
        given = catalog_pb2.SimilarityType(
            display_name=display_name, description=description, metadata=as_struct(metadata or {})
        )
        return self.rpc.CreateSimilarityType(
            catalog_pb2.CreateSimilarityTypeRequest(similarity_type_id=type_id, similarity_type=given)
        )

    def get_similarity_type(self, name: str) -> catalog_pb2.SimilarityType:
        return self.rpc.GetSimilarityType(
            catalog_pb2.GetSimilarityTypeRequest(name=resource_name("similarityTypes", name))
        )

    def list_similarity_types(self, *, page_size: int = 0) -> Iterator[catalog_pb2.SimilarityType]:
        request = catalog_pb2.ListSimilarityTypesRequest(page_size=page_size)
        return paginate(self.rpc.ListSimilarityTypes, request, "similarity_types")

    def delete_similarity_type(self, name: str) -> None:
        """Deletes the type and every group of it."""
        self.rpc.DeleteSimilarityType(
            catalog_pb2.DeleteSimilarityTypeRequest(name=resource_name("similarityTypes", name))
        )

    # -- tasks

    def create_task(
        self,
        task_id: str,
        similarity_types: Sequence[str] = (),
        *,
        display_name: str = "",
        description: str = "",
        training_config: TrainingConfigLike | None = None,
    ) -> catalog_pb2.Task:
        task = catalog_pb2.Task(
            display_name=display_name,
            description=description,
            similarity_types=[resource_name("similarityTypes", t) for t in similarity_types],
            training_config=as_training_config(training_config),
        )
        return self.rpc.CreateTask(catalog_pb2.CreateTaskRequest(task_id=task_id, task=task))

    def get_task(self, name: str) -> catalog_pb2.Task:
        return self.rpc.GetTask(catalog_pb2.GetTaskRequest(name=resource_name("tasks", name)))

    def list_tasks(self, *, page_size: int = 0) -> Iterator[catalog_pb2.Task]:
        return paginate(self.rpc.ListTasks, catalog_pb2.ListTasksRequest(page_size=page_size), "tasks")

    def delete_task(self, name: str) -> None:
        self.rpc.DeleteTask(catalog_pb2.DeleteTaskRequest(name=resource_name("tasks", name)))

    def add_task_similarity_types(self, task: str, similarity_types: Sequence[str]) -> catalog_pb2.Task:
        return self.rpc.AddTaskSimilarityTypes(
            catalog_pb2.AddTaskSimilarityTypesRequest(
                task=resource_name("tasks", task),
                similarity_types=[resource_name("similarityTypes", t) for t in similarity_types],
            )
        )

    # -- groups

    def create_group(
        self,
        group_id: str,
        similarity_type: str,
        *,
        display_name: str = "",
        test: bool = False,
        images: Sequence[str] = (),
        members: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> catalog_pb2.Group:
        """A group of `images` (`trainingImages/{id}`) or of `members` (other groups), never both."""
        group = catalog_pb2.Group(
            similarity_type=resource_name("similarityTypes", similarity_type),
            display_name=display_name,
            test=test,
            metadata=as_struct(metadata or {}),
            images=[resource_name("trainingImages", i) for i in images],
            members=[resource_name("groups", g) for g in members],
        )
        return self.rpc.CreateGroup(catalog_pb2.CreateGroupRequest(group_id=group_id, group=group))

    def get_group(self, name: str) -> catalog_pb2.Group:
        return self.rpc.GetGroup(catalog_pb2.GetGroupRequest(name=resource_name("groups", name)))

    def list_groups(
        self,
        *,
        similarity_type: str = "",
        parent: str = "",
        name_query: str = "",
        test: bool | None = None,
        page_size: int = 0,
    ) -> Iterator[catalog_pb2.Group]:
        """Groups, optionally only those of a type, the members of `parent`, those whose name
        contains `name_query`, or only test (`test=True`) or training (`test=False`) groups."""
        request = catalog_pb2.ListGroupsRequest(
            page_size=page_size,
            name_query=name_query,
            similarity_type=resource_name("similarityTypes", similarity_type) if similarity_type else "",
            parent=resource_name("groups", parent) if parent else "",
            test_filter={
                None: catalog_pb2.ListGroupsRequest.TEST_FILTER_UNSPECIFIED,
                True: catalog_pb2.ListGroupsRequest.TEST_FILTER_TEST,
                False: catalog_pb2.ListGroupsRequest.TEST_FILTER_TRAIN,
            }[test],
        )
        return paginate(self.rpc.ListGroups, request, "groups")

    def delete_group(self, name: str) -> None:
        self.rpc.DeleteGroup(catalog_pb2.DeleteGroupRequest(name=resource_name("groups", name)))

    def add_group_images(self, group: str, images: Sequence[str]) -> catalog_pb2.Group:
        return self.rpc.AddGroupImages(
            catalog_pb2.AddGroupImagesRequest(
                group=resource_name("groups", group), images=[resource_name("trainingImages", i) for i in images]
            )
        )

    def add_group_members(self, group: str, members: Sequence[str]) -> catalog_pb2.Group:
        return self.rpc.AddGroupMembers(
            catalog_pb2.AddGroupMembersRequest(
                group=resource_name("groups", group), members=[resource_name("groups", g) for g in members]
            )
        )

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
        if not wait:
            return operation
        return wait_operation(
            self.operations,
            operation,
            response_type=catalog_pb2.TaskVersion,
            metadata_type=catalog_pb2.TrainingMetadata,
            timeout=timeout,
            poll_interval=poll_interval,
            on_progress=on_progress,
        )

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
        wait: bool = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[indexer_pb2.ReembedMetadata], None] | None = None,
    ) -> indexer_pb2.ReembedResponse | operations_pb2.Operation:
        """Re-embeds `collection` with `version` (`tasks/{t}` = its production version) and binds
        it to that version. With `wait`, returns the ReembedResponse; without, the operation."""
        request = catalog_pb2.DeployVersionRequest(
            version=version_name(version), collection=resource_name("collections", collection)
        )
        operation = self.rpc.DeployVersion(request)
        if not wait:
            return operation
        return wait_operation(
            self.operations,
            operation,
            response_type=indexer_pb2.ReembedResponse,
            metadata_type=indexer_pb2.ReembedMetadata,
            timeout=timeout,
            poll_interval=poll_interval,
            on_progress=on_progress,
        )

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
