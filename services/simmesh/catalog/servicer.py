"""gRPC surface of the catalog: proto <-> domain, no logic. Each tenant sees its own resources: names
parse to the caller's internal ids and replies show public ones (see catalog.names), listings show
the caller's only (kit.auth.tenant_edge)."""

from __future__ import annotations

import asyncio

from google.longrunning import operations_proto_pb2
from google.protobuf import empty_pb2

from simmesh.catalog import convert
from simmesh.catalog.deploy import Deployer
from simmesh.catalog.descriptors import Descriptors
from simmesh.catalog.names import GROUPS, IMAGES, TASKS, TYPES, given_id, parse_name, parse_names, parse_version_name
from simmesh.catalog.store import CatalogStore
from simmesh.catalog.trainer import Trainer
from simmesh.catalog.training_images import TrainingImages, Upload
from simmesh.catalog.versions import Versions
from simmesh.kit.auth.tenant_edge import listing_tenant, public_error
from simmesh.kit.deadlines import remaining
from simmesh.kit.errors import SimmeshError
from simmesh.kit.wire import struct_to_dict
from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2

_EMPTY = empty_pb2.Empty()
_TEST_FILTER = {
    catalog_pb2.ListGroupsRequest.TEST_FILTER_UNSPECIFIED: None,
    catalog_pb2.ListGroupsRequest.TEST_FILTER_TEST: True,
    catalog_pb2.ListGroupsRequest.TEST_FILTER_TRAIN: False,
}


def _optional(value: str, collection: str, field: str) -> str:
    return parse_name(value, collection, field) if value else ""


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    """`simmesh.v1.CatalogService`."""

    def __init__(
        self,
        store: CatalogStore,
        images: TrainingImages,
        *,
        trainer: Trainer,
        versions: Versions,
        deployer: Deployer,
        descriptors: Descriptors,
    ) -> None:
        self.store = store
        self.images = images
        self.trainer = trainer
        self.versions = versions
        self.deployer = deployer
        self.descriptors = descriptors

    # -- similarity types

    async def CreateSimilarityType(self, request, context) -> catalog_pb2.SimilarityType:
        given = request.similarity_type
        record = await asyncio.to_thread(
            self.store.create_similarity_type,
            given_id(request.similarity_type_id, "similarity_type_id"),
            display_name=given.display_name,
            description=given.description,
            metadata=struct_to_dict(given.metadata),
        )
        return convert.similarity_type_pb(record)

    async def GetSimilarityType(self, request, context) -> catalog_pb2.SimilarityType:
        type_id = parse_name(request.name, TYPES, "name")
        return convert.similarity_type_pb(await asyncio.to_thread(self.store.get_similarity_type, type_id))

    async def ListSimilarityTypes(self, request, context) -> catalog_pb2.ListSimilarityTypesResponse:
        page = await asyncio.to_thread(
            self.store.list_similarity_types, request.page_size, request.page_token, tenant=listing_tenant()
        )
        return catalog_pb2.ListSimilarityTypesResponse(
            similarity_types=[convert.similarity_type_pb(r) for r in page.items], next_page_token=page.next_page_token
        )

    async def UpdateSimilarityType(self, request, context) -> catalog_pb2.SimilarityType:
        type_id = parse_name(request.similarity_type.name, TYPES, "similarity_type.name")
        changes = convert.type_changes(request.similarity_type, request.update_mask)
        return convert.similarity_type_pb(await asyncio.to_thread(self.store.update_similarity_type, type_id, changes))

    async def DeleteSimilarityType(self, request, context) -> empty_pb2.Empty:
        await asyncio.to_thread(self.store.delete_similarity_type, parse_name(request.name, TYPES, "name"))
        return _EMPTY

    # -- tasks

    async def CreateTask(self, request, context) -> catalog_pb2.Task:
        given = request.task
        type_ids = parse_names(list(given.similarity_types), TYPES, "task.similarity_types")
        record = await asyncio.to_thread(
            self.store.create_task,
            given_id(request.task_id, "task_id"),
            display_name=given.display_name,
            description=given.description,
            similarity_types=type_ids,
            training_config=convert.config_to_dict(given.training_config),
        )
        return convert.task_pb(record)

    async def GetTask(self, request, context) -> catalog_pb2.Task:
        return convert.task_pb(await asyncio.to_thread(self.store.get_task, parse_name(request.name, TASKS, "name")))

    async def ListTasks(self, request, context) -> catalog_pb2.ListTasksResponse:
        page = await asyncio.to_thread(
            self.store.list_tasks, request.page_size, request.page_token, tenant=listing_tenant()
        )
        return catalog_pb2.ListTasksResponse(
            tasks=[convert.task_pb(r) for r in page.items], next_page_token=page.next_page_token
        )

    async def UpdateTask(self, request, context) -> catalog_pb2.Task:
        task_id = parse_name(request.task.name, TASKS, "task.name")
        type_ids = parse_names(list(request.task.similarity_types), TYPES, "task.similarity_types")
        changes = convert.task_changes(request.task, request.update_mask, type_ids)
        return convert.task_pb(await asyncio.to_thread(self.store.update_task, task_id, changes))

    async def DeleteTask(self, request, context) -> empty_pb2.Empty:
        await asyncio.to_thread(self.store.delete_task, parse_name(request.name, TASKS, "name"))
        return _EMPTY

    async def AddTaskSimilarityTypes(self, request, context) -> catalog_pb2.Task:
        task_id = parse_name(request.task, TASKS, "task")
        type_ids = parse_names(list(request.similarity_types), TYPES, "similarity_types")
        return convert.task_pb(await asyncio.to_thread(self.store.add_task_similarity_types, task_id, type_ids))

    async def RemoveTaskSimilarityTypes(self, request, context) -> catalog_pb2.Task:
        task_id = parse_name(request.task, TASKS, "task")
        type_ids = parse_names(list(request.similarity_types), TYPES, "similarity_types")
        return convert.task_pb(await asyncio.to_thread(self.store.remove_task_similarity_types, task_id, type_ids))

    # -- groups

    async def CreateGroup(self, request, context) -> catalog_pb2.Group:
        given = request.group
        type_id = parse_name(given.similarity_type, TYPES, "group.similarity_type")
        images = parse_names(list(given.images), IMAGES, "group.images")
        members = parse_names(list(given.members), GROUPS, "group.members")
        record = await asyncio.to_thread(
            self.store.create_group,
            given_id(request.group_id, "group_id"),
            type_id,
            display_name=given.display_name,
            metadata=struct_to_dict(given.metadata),
            test=given.test,
            images=images,
            members=members,
        )
        return convert.group_pb(record)

    async def GetGroup(self, request, context) -> catalog_pb2.Group:
        group_id = parse_name(request.name, GROUPS, "name")
        return convert.group_pb(await asyncio.to_thread(self.store.get_group, group_id))

    async def ListGroups(self, request, context) -> catalog_pb2.ListGroupsResponse:
        page = await asyncio.to_thread(
            self.store.list_groups,
            request.page_size,
            request.page_token,
            similarity_type=_optional(request.similarity_type, TYPES, "similarity_type"),
            name_query=request.name_query,
            test=_TEST_FILTER.get(request.test_filter),
            parent=_optional(request.parent, GROUPS, "parent"),
            tenant=listing_tenant(),
        )
        return catalog_pb2.ListGroupsResponse(
            groups=[convert.group_pb(r) for r in page.items], next_page_token=page.next_page_token
        )

    async def UpdateGroup(self, request, context) -> catalog_pb2.Group:
        group_id = parse_name(request.group.name, GROUPS, "group.name")
        changes = convert.group_changes(request.group, request.update_mask)
        return convert.group_pb(await asyncio.to_thread(self.store.update_group, group_id, changes))

    async def DeleteGroup(self, request, context) -> empty_pb2.Empty:
        await asyncio.to_thread(self.store.delete_group, parse_name(request.name, GROUPS, "name"))
        return _EMPTY

    async def AddGroupImages(self, request, context) -> catalog_pb2.Group:
        group_id = parse_name(request.group, GROUPS, "group")
        images = parse_names(list(request.images), IMAGES, "images")
        return convert.group_pb(await asyncio.to_thread(self.store.add_group_images, group_id, images))

    async def RemoveGroupImages(self, request, context) -> catalog_pb2.Group:
        group_id = parse_name(request.group, GROUPS, "group")
        images = parse_names(list(request.images), IMAGES, "images")
        return convert.group_pb(await asyncio.to_thread(self.store.remove_group_images, group_id, images))

    async def AddGroupMembers(self, request, context) -> catalog_pb2.Group:
        group_id = parse_name(request.group, GROUPS, "group")
        members = parse_names(list(request.members), GROUPS, "members")
        return convert.group_pb(await asyncio.to_thread(self.store.add_group_members, group_id, members))

    async def RemoveGroupMembers(self, request, context) -> catalog_pb2.Group:
        group_id = parse_name(request.group, GROUPS, "group")
        members = parse_names(list(request.members), GROUPS, "members")
        return convert.group_pb(await asyncio.to_thread(self.store.remove_group_members, group_id, members))

    # -- training images

    async def CreateTrainingImage(self, request, context) -> catalog_pb2.TrainingImage:
        upload = Upload(request.image, struct_to_dict(request.metadata), list(request.groups))
        return convert.training_image_pb(await self.images.create(upload))

    async def BatchCreateTrainingImages(self, request, context) -> catalog_pb2.BatchCreateTrainingImagesResponse:
        uploads = [
            Upload(item.image, struct_to_dict(item.metadata), list(item.groups), f"requests[{i}]")
            for i, item in enumerate(request.requests)
        ]
        results = await self.images.create_batch(uploads)
        response = catalog_pb2.BatchCreateTrainingImagesResponse()
        for index, result in enumerate(results):
            if isinstance(result, SimmeshError):
                response.images.add()
                response.errors.append(common_pb2.ItemError(index=index, status=public_error(result).to_status()))
            else:
                response.images.append(convert.training_image_pb(result))
        return response

    async def GetTrainingImage(self, request, context) -> catalog_pb2.TrainingImage:
        image_id = parse_name(request.name, IMAGES, "name")
        return convert.training_image_pb(await asyncio.to_thread(self.store.get_training_image, image_id))

    async def ListTrainingImages(self, request, context) -> catalog_pb2.ListTrainingImagesResponse:
        page = await asyncio.to_thread(
            self.store.list_training_images,
            request.page_size,
            request.page_token,
            group=_optional(request.group, GROUPS, "group"),
            tenant=listing_tenant(),
        )
        return catalog_pb2.ListTrainingImagesResponse(
            images=[convert.training_image_pb(r) for r in page.items], next_page_token=page.next_page_token
        )

    async def UpdateTrainingImage(self, request, context) -> catalog_pb2.TrainingImage:
        image_id = parse_name(request.image.name, IMAGES, "image.name")
        changes = convert.image_changes(request.image, request.update_mask)
        return convert.training_image_pb(await asyncio.to_thread(self.store.update_training_image, image_id, changes))

    async def DeleteTrainingImage(self, request, context) -> empty_pb2.Empty:
        await self.images.delete(parse_name(request.name, IMAGES, "name"))
        return _EMPTY

    # -- training and versions

    async def TrainTask(self, request, context) -> operations_proto_pb2.Operation:
        task_id = parse_name(request.task, TASKS, "task")
        return await self.trainer.start(task_id, request.training_config)

    async def GetTaskVersion(self, request, context) -> catalog_pb2.TaskVersion:
        task_id, number = parse_version_name(request.name, "name")
        return convert.task_version_pb(await asyncio.to_thread(self.store.get_task_version, task_id, number))

    async def ListTaskVersions(self, request, context) -> catalog_pb2.ListTaskVersionsResponse:
        task_id = parse_name(request.parent, TASKS, "parent")
        page = await asyncio.to_thread(self.store.list_task_versions, task_id, request.page_size, request.page_token)
        return catalog_pb2.ListTaskVersionsResponse(
            versions=[convert.task_version_pb(r) for r in page.items], next_page_token=page.next_page_token
        )

    async def SetProductionVersion(self, request, context) -> catalog_pb2.Task:
        task_id, number = parse_version_name(request.version, "version")
        return convert.task_pb(await self.versions.set_production(task_id, number))

    async def DeployVersion(self, request, context) -> operations_proto_pb2.Operation:
        return await self.deployer.start(request.version, request.collection, remaining(context), request.allow_drop)

    async def GetDescriptors(self, request, context) -> catalog_pb2.GetDescriptorsResponse:
        return await self.descriptors.get(
            request.version, list(request.images), list(request.records), remaining(context)
        )
