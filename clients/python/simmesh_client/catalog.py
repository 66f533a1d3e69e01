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

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from simmesh_client.base import as_struct, paginate, resource_name
from simmesh_client.catalog_training import CatalogTrainingMethods, TrainingConfigLike, as_training_config
from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc


class CatalogClient(CatalogTrainingMethods):
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
