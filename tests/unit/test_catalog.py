"""The catalog through gRPC: an in-process server over SQLite and a file blob store.

The tests take a `catalog` fixture (a stub plus a second store over the same database, as a
training job would open). tests/integration/test_catalog_s3.py runs them again on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2
from support.models import png_bytes

from simmesh.catalog.app import build_app
from simmesh.catalog.records import TaskVersion
from simmesh.catalog.settings import CatalogSettings
from simmesh.catalog.store import CatalogStore, default_db_url, open_catalog_store
from simmesh.kit.blobstore import FileBlobStore

from fixtures.status import error_info, fails, reason_of

C = catalog_pb2
Code = grpc.StatusCode


@dataclass
class Catalog:
    stub: catalog_pb2_grpc.CatalogServiceStub
    store: CatalogStore  # a second store over the server's database
    blobs: FileBlobStore | None  # the server's blob store, where it is a file store


async def open_catalog(settings: CatalogSettings, db_url: str, blobs: FileBlobStore | None) -> AsyncIterator[Catalog]:
    app = await build_app(settings)
    await app.start()
    store = open_catalog_store(db_url)
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            yield Catalog(catalog_pb2_grpc.CatalogServiceStub(channel), store, blobs)
    finally:
        store.close()
        await app.stop(grace=0)


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Catalog]:
    settings = CatalogSettings(host="127.0.0.1", port=0, data_dir=str(tmp_path))
    async for opened in open_catalog(settings, default_db_url(tmp_path), FileBlobStore(tmp_path / "blobs")):
        yield opened


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def _struct(**values) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


async def _type(stub, type_id: str, **fields) -> C.SimilarityType:
    return await stub.CreateSimilarityType(C.CreateSimilarityTypeRequest(
        similarity_type_id=type_id, similarity_type=C.SimilarityType(**fields)))


async def _group(stub, group_id: str, type_id: str, **fields) -> C.Group:
    return await stub.CreateGroup(C.CreateGroupRequest(
        group_id=group_id, group=C.Group(similarity_type=f"similarityTypes/{type_id}", **fields)))


async def _image(stub, data: bytes, *groups: str, **metadata) -> C.TrainingImage:
    return await stub.CreateTrainingImage(C.CreateTrainingImageRequest(
        image=common_pb2.Image(content=data), groups=[f"groups/{g}" for g in groups], metadata=_struct(**metadata)))


async def _all_pages(list_call, request, field: str, page_size: int) -> tuple[list, int]:
    """Every item over every page, and how many pages it took."""
    items, pages = [], 0
    request.page_size = page_size
    while True:
        reply = await list_call(request)
        items.extend(getattr(reply, field))
        pages += 1
        if not reply.next_page_token:
            return items, pages
        request.page_token = reply.next_page_token


# ---------------------------------------------------------------------------------------------
# Similarity types


async def test_similarity_type_crud(catalog):
    stub = catalog.stub
    created = await _type(stub, "shoes", display_name="Same shoe", description="pairs", metadata=_struct(owner="x"))
    assert created.name == "similarityTypes/shoes" and created.group_count == 0
    assert created.create_time.seconds > 0 and created.metadata["owner"] == "x"
    assert await stub.GetSimilarityType(C.GetSimilarityTypeRequest(name="similarityTypes/shoes")) == created

    await fails(_type(stub, "shoes"), Code.ALREADY_EXISTS, "SIMILARITY_TYPE_ALREADY_EXISTS")
    await fails(_type(stub, "Bad_Id"), Code.INVALID_ARGUMENT, "INVALID_ID")
    generated = await _type(stub, "", display_name="unnamed")
    assert generated.name.startswith("similarityTypes/") and len(generated.name) > len("similarityTypes/")

    updated = await stub.UpdateSimilarityType(C.UpdateSimilarityTypeRequest(
        similarity_type=C.SimilarityType(name="similarityTypes/shoes", display_name="Same model",
                                         description="ignored"),
        update_mask=_mask("display_name")))
    assert (updated.display_name, updated.description) == ("Same model", "pairs")
    assert updated.update_time.ToNanoseconds() >= created.update_time.ToNanoseconds()
    await fails(stub.UpdateSimilarityType(C.UpdateSimilarityTypeRequest(
        similarity_type=C.SimilarityType(name="similarityTypes/shoes"), update_mask=_mask("group_count"))),
        Code.INVALID_ARGUMENT, "INVALID_UPDATE_MASK")

    await _group(stub, "g1", "shoes")
    shoes = await stub.GetSimilarityType(C.GetSimilarityTypeRequest(name="similarityTypes/shoes"))
    assert shoes.group_count == 1

    await stub.DeleteSimilarityType(C.DeleteSimilarityTypeRequest(name="similarityTypes/shoes"))
    await fails(stub.GetSimilarityType(C.GetSimilarityTypeRequest(name="similarityTypes/shoes")),
                Code.NOT_FOUND, "SIMILARITY_TYPE_NOT_FOUND")
    await fails(stub.DeleteSimilarityType(C.DeleteSimilarityTypeRequest(name="similarityTypes/shoes")),
                Code.NOT_FOUND, "SIMILARITY_TYPE_NOT_FOUND")
    await fails(stub.GetSimilarityType(C.GetSimilarityTypeRequest(name="groups/shoes")),
                Code.INVALID_ARGUMENT, "INVALID_NAME")


async def test_similarity_types_page_through_every_item_once(catalog):
    ids = [f"type-{i:02d}" for i in range(7)]
    for type_id in reversed(ids):
        await _type(catalog.stub, type_id)
    items, pages = await _all_pages(catalog.stub.ListSimilarityTypes, C.ListSimilarityTypesRequest(),
                                    "similarity_types", 3)
    assert [t.name for t in items] == [f"similarityTypes/{i}" for i in ids] and pages == 3
    await fails(catalog.stub.ListSimilarityTypes(C.ListSimilarityTypesRequest(page_token="garbage!")),
                Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


# ---------------------------------------------------------------------------------------------
# Tasks


async def test_task_crud_and_types(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    await _type(stub, "bags")
    task = await stub.CreateTask(C.CreateTaskRequest(task_id="fashion", task=C.Task(
        display_name="Fashion", similarity_types=["similarityTypes/shoes"],
        training_config=C.TrainingConfig(backbone=C.BACKBONE_COMPACT_CNN, epochs=5, embedding_dimension=64))))
    assert task.name == "tasks/fashion" and task.model == "models/task-fashion"
    assert (task.production_version, task.latest_version) == (0, 0)
    assert list(task.similarity_types) == ["similarityTypes/shoes"] and task.training_config.epochs == 5

    updated = await stub.UpdateTask(C.UpdateTaskRequest(
        task=C.Task(name="tasks/fashion", description="new", training_config=C.TrainingConfig(epochs=9)),
        update_mask=_mask("description", "training_config.epochs")))
    assert updated.description == "new" and updated.training_config.epochs == 9
    assert updated.training_config.embedding_dimension == 64 and updated.display_name == "Fashion"
    await fails(stub.UpdateTask(C.UpdateTaskRequest(task=C.Task(name="tasks/fashion", model="models/x"),
                                                    update_mask=_mask("model"))),
                Code.INVALID_ARGUMENT, "INVALID_UPDATE_MASK")

    both = await stub.AddTaskSimilarityTypes(C.AddTaskSimilarityTypesRequest(
        task="tasks/fashion", similarity_types=["similarityTypes/bags", "similarityTypes/shoes"]))
    assert list(both.similarity_types) == ["similarityTypes/bags", "similarityTypes/shoes"]
    await fails(stub.AddTaskSimilarityTypes(C.AddTaskSimilarityTypesRequest(
        task="tasks/fashion", similarity_types=["similarityTypes/hats"])), Code.NOT_FOUND, "SIMILARITY_TYPE_NOT_FOUND")
    fewer = await stub.RemoveTaskSimilarityTypes(C.RemoveTaskSimilarityTypesRequest(
        task="tasks/fashion", similarity_types=["similarityTypes/shoes"]))
    assert list(fewer.similarity_types) == ["similarityTypes/bags"]

    await stub.CreateTask(C.CreateTaskRequest(task_id="other"))
    listed, pages = await _all_pages(stub.ListTasks, C.ListTasksRequest(), "tasks", 1)
    assert [t.name for t in listed] == ["tasks/fashion", "tasks/other"] and pages == 2

    await stub.DeleteTask(C.DeleteTaskRequest(name="tasks/fashion"))
    await fails(stub.GetTask(C.GetTaskRequest(name="tasks/fashion")), Code.NOT_FOUND, "TASK_NOT_FOUND")
    await fails(stub.CreateTask(C.CreateTaskRequest(task_id="other")), Code.ALREADY_EXISTS, "TASK_ALREADY_EXISTS")


async def test_a_task_with_unknown_types_is_refused_and_not_stored(catalog):
    await _type(catalog.stub, "shoes")
    error = await fails(catalog.stub.CreateTask(C.CreateTaskRequest(task_id="t", task=C.Task(
        similarity_types=["similarityTypes/shoes", "similarityTypes/hats", "similarityTypes/caps"]))),
        Code.NOT_FOUND, "SIMILARITY_TYPE_NOT_FOUND")
    assert "similarityTypes/hats" in error.details() and error_info(error).metadata["missing"] == "hats,caps"
    await fails(catalog.stub.GetTask(C.GetTaskRequest(name="tasks/t")), Code.NOT_FOUND, "TASK_NOT_FOUND")


# ---------------------------------------------------------------------------------------------
# Groups


async def test_group_crud_search_and_test_marking(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    await _type(stub, "bags")
    await _group(stub, "red-sneaker", "shoes", display_name="Red Sneaker")
    await _group(stub, "blue-boot", "shoes", display_name="Blue BOOT", metadata=_struct(size=42))
    await _group(stub, "sneaker-box", "bags", display_name="Box")
    await _group(stub, "green-sandal", "shoes", display_name="Green sandal")

    got = await stub.GetGroup(C.GetGroupRequest(name="groups/blue-boot"))
    assert got.similarity_type == "similarityTypes/shoes" and got.metadata["size"] == 42 and not got.test

    marked = await stub.UpdateGroup(C.UpdateGroupRequest(group=C.Group(name="groups/blue-boot", test=True,
                                                                       display_name="ignored"),
                                                         update_mask=_mask("test")))
    assert marked.test and marked.display_name == "Blue BOOT"
    await fails(stub.UpdateGroup(C.UpdateGroupRequest(
        group=C.Group(name="groups/blue-boot", similarity_type="similarityTypes/bags"),
        update_mask=_mask("similarity_type"))), Code.INVALID_ARGUMENT, "INVALID_UPDATE_MASK")

    async def names(**request) -> list[str]:
        items, _ = await _all_pages(stub.ListGroups, C.ListGroupsRequest(**request), "groups", 2)
        return [g.name for g in items]

    assert await names(name_query="SNEAKER") == ["groups/red-sneaker", "groups/sneaker-box"]
    assert await names(name_query="boot") == ["groups/blue-boot"]  # display name, any case
    assert await names(name_query="sneaker", similarity_type="similarityTypes/shoes") == ["groups/red-sneaker"]
    assert await names(name_query="%") == []
    assert await names(test_filter=C.ListGroupsRequest.TEST_FILTER_TEST) == ["groups/blue-boot"]
    assert await names(test_filter=C.ListGroupsRequest.TEST_FILTER_TRAIN, similarity_type="similarityTypes/shoes") \
        == ["groups/green-sandal", "groups/red-sneaker"]
    assert len(await names()) == 4
    await fails(stub.ListGroups(C.ListGroupsRequest(similarity_type="similarityTypes/hats")),
                Code.NOT_FOUND, "SIMILARITY_TYPE_NOT_FOUND")

    first = await stub.ListGroups(C.ListGroupsRequest(page_size=1, similarity_type="similarityTypes/shoes"))
    await fails(stub.ListGroups(C.ListGroupsRequest(page_size=1, page_token=first.next_page_token)),
                Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")

    await stub.DeleteGroup(C.DeleteGroupRequest(name="groups/blue-boot"))
    await fails(stub.GetGroup(C.GetGroupRequest(name="groups/blue-boot")), Code.NOT_FOUND, "GROUP_NOT_FOUND")
    await fails(_group(stub, "red-sneaker", "shoes"), Code.ALREADY_EXISTS, "GROUP_ALREADY_EXISTS")
    await fails(_group(stub, "x", "hats"), Code.NOT_FOUND, "SIMILARITY_TYPE_NOT_FOUND")


async def test_groups_of_groups_members_and_parents(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    for group_id in ("sneakers", "boots", "red-sneaker", "white-sneaker"):
        await _group(stub, group_id, "shoes")
    family = await stub.AddGroupMembers(C.AddGroupMembersRequest(
        group="groups/sneakers", members=["groups/white-sneaker", "groups/red-sneaker", "groups/red-sneaker"]))
    assert list(family.members) == ["groups/red-sneaker", "groups/white-sneaker"]
    await stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/boots", members=["groups/red-sneaker"]))
    red = await stub.GetGroup(C.GetGroupRequest(name="groups/red-sneaker"))
    assert list(red.parents) == ["groups/boots", "groups/sneakers"]

    listed = await stub.ListGroups(C.ListGroupsRequest(parent="groups/sneakers"))
    assert [g.name for g in listed.groups] == ["groups/red-sneaker", "groups/white-sneaker"]

    fewer = await stub.RemoveGroupMembers(C.RemoveGroupMembersRequest(group="groups/sneakers",
                                                                      members=["groups/white-sneaker"]))
    assert list(fewer.members) == ["groups/red-sneaker"]
    await fails(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/sneakers", members=["groups/nope"])),
                Code.NOT_FOUND, "GROUP_NOT_FOUND")

    await _type(stub, "bags")
    await _group(stub, "tote", "bags")
    await fails(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/sneakers", members=["groups/tote"])),
                Code.FAILED_PRECONDITION, "GROUP_TYPE_MISMATCH")


async def test_a_group_never_mixes_images_and_groups(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    image = await _image(stub, png_bytes((10, 20, 30)))
    await _group(stub, "with-images", "shoes", images=[image.name])
    await _group(stub, "with-groups", "shoes")
    await _group(stub, "leaf", "shoes")
    await stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/with-groups", members=["groups/leaf"]))

    error = await fails(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/with-images",
                                                                      members=["groups/leaf"])),
                        Code.FAILED_PRECONDITION, "GROUP_KIND_MISMATCH")
    assert "groups/with-images holds images" in error.details()
    await fails(stub.AddGroupImages(C.AddGroupImagesRequest(group="groups/with-groups", images=[image.name])),
                Code.FAILED_PRECONDITION, "GROUP_KIND_MISMATCH")
    await fails(_group(stub, "both", "shoes", images=[image.name], members=["groups/leaf"]),
                Code.FAILED_PRECONDITION, "GROUP_KIND_MISMATCH")
    await fails(_image(stub, png_bytes((99, 20, 30)), "with-groups"), Code.FAILED_PRECONDITION, "GROUP_KIND_MISMATCH")

    # Nothing of the refused calls was stored.
    with_images = await stub.GetGroup(C.GetGroupRequest(name="groups/with-images"))
    assert list(with_images.images) == [image.name] and not with_images.members
    with_groups = await stub.GetGroup(C.GetGroupRequest(name="groups/with-groups"))
    assert list(with_groups.members) == ["groups/leaf"] and not with_groups.images
    assert list((await stub.GetGroup(C.GetGroupRequest(name="groups/leaf"))).parents) == ["groups/with-groups"]
    await fails(stub.GetGroup(C.GetGroupRequest(name="groups/both")), Code.NOT_FOUND, "GROUP_NOT_FOUND")
    images = await stub.ListTrainingImages(C.ListTrainingImagesRequest())
    assert [i.name for i in images.images] == [image.name]


async def test_cycles_are_refused_with_their_path(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    for group_id in ("a", "b", "c"):
        await _group(stub, group_id, "shoes")
    await stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/a", members=["groups/b"]))

    error = await fails(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/b", members=["groups/a"])),
                        Code.FAILED_PRECONDITION, "GROUP_CYCLE")
    assert error_info(error).metadata["path"] == "groups/b -> groups/a -> groups/b"
    error = await fails(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/a", members=["groups/a"])),
                        Code.FAILED_PRECONDITION, "GROUP_CYCLE")
    assert error_info(error).metadata["path"] == "groups/a -> groups/a"

    await stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/b", members=["groups/c"]))
    error = await fails(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/c", members=["groups/a"])),
                        Code.FAILED_PRECONDITION, "GROUP_CYCLE")
    assert "groups/c -> groups/a -> groups/b -> groups/c" in error.details()

    for group_id, members, parents in (("a", ["groups/b"], []), ("b", ["groups/c"], ["groups/a"]),
                                       ("c", [], ["groups/b"])):
        group = await stub.GetGroup(C.GetGroupRequest(name=f"groups/{group_id}"))
        assert (list(group.members), list(group.parents)) == (members, parents), group_id


async def test_racing_changes_keep_the_rules(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    for group_id in ("a", "b", "empty", "leaf"):
        await _group(stub, group_id, "shoes")
    image = await _image(stub, png_bytes((3, 3, 3)))

    async def outcome(call) -> str:
        try:
            await call
            return "ok"
        except grpc.aio.AioRpcError as error:
            return error_info(error).reason

    crossing = await asyncio.gather(
        outcome(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/a", members=["groups/b"]))),
        outcome(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/b", members=["groups/a"]))))
    assert sorted(crossing) == ["GROUP_CYCLE", "ok"]

    mixing = await asyncio.gather(
        outcome(stub.AddGroupImages(C.AddGroupImagesRequest(group="groups/empty", images=[image.name]))),
        outcome(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/empty", members=["groups/leaf"]))))
    assert sorted(mixing) == ["GROUP_KIND_MISMATCH", "ok"]
    empty = await stub.GetGroup(C.GetGroupRequest(name="groups/empty"))
    assert bool(empty.images) != bool(empty.members)

    data = png_bytes((77, 77, 77))
    uploads = await asyncio.gather(_image(stub, data, "leaf"), _image(stub, data), _image(stub, data, "leaf"),
                                   _image(stub, data))
    assert len({u.name for u in uploads}) == 1
    assert list((await stub.GetTrainingImage(C.GetTrainingImageRequest(name=uploads[0].name))).groups) == \
        ["groups/leaf"]
    listed = await stub.ListTrainingImages(C.ListTrainingImagesRequest())
    assert len(listed.images) == 2


# ---------------------------------------------------------------------------------------------
# Training images


async def test_images_are_stored_once_per_content_and_join_groups(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    await _group(stub, "red", "shoes")
    await _group(stub, "warm", "shoes")
    data = png_bytes((200, 10, 10), size=(48, 32))
    sha = hashlib.sha256(data).hexdigest()

    first = await _image(stub, data, "red", source="camera")
    assert (first.sha256, first.width, first.height, first.size_bytes) == (sha, 48, 32, len(data))
    assert first.content_type == "image/png" and first.metadata["source"] == "camera"
    assert list(first.groups) == ["groups/red"]
    key = f"images/{sha[:2]}/{sha}"
    assert first.uri == catalog.blobs.uri(key) and catalog.blobs.get_bytes(key) == data

    again = await stub.CreateTrainingImage(C.CreateTrainingImageRequest(
        image=common_pb2.Image(base64=base64.b64encode(data).decode()), groups=["groups/warm"]))
    assert again.name == first.name and list(again.groups) == ["groups/red", "groups/warm"]
    assert again.metadata["source"] == "camera"
    listed = await stub.ListTrainingImages(C.ListTrainingImagesRequest())
    assert [i.name for i in listed.images] == [first.name]

    from_store = await stub.CreateTrainingImage(C.CreateTrainingImageRequest(image=common_pb2.Image(uri=first.uri)))
    assert from_store.name == first.name

    other = await _image(stub, png_bytes((10, 10, 200), fmt="JPEG"), "warm")
    assert other.content_type == "image/jpeg" and other.name != first.name
    warm, pages = await _all_pages(stub.ListTrainingImages, C.ListTrainingImagesRequest(group="groups/warm"),
                                   "images", 1)
    assert sorted(i.name for i in warm) == sorted([first.name, other.name]) and pages == 2
    red = await stub.ListTrainingImages(C.ListTrainingImagesRequest(group="groups/red"))
    assert [i.name for i in red.images] == [first.name]

    updated = await stub.UpdateTrainingImage(C.UpdateTrainingImageRequest(
        image=C.TrainingImage(name=first.name, metadata=_struct(source="scanner"), width=1),
        update_mask=_mask("metadata")))
    assert updated.metadata["source"] == "scanner" and updated.width == 48
    removed = await stub.RemoveGroupImages(C.RemoveGroupImagesRequest(group="groups/warm", images=[first.name]))
    assert list(removed.images) == [other.name]
    added = await stub.AddGroupImages(C.AddGroupImagesRequest(group="groups/warm", images=[first.name]))
    assert sorted(added.images) == sorted([first.name, other.name])
    await fails(stub.AddGroupImages(C.AddGroupImagesRequest(group="groups/warm", images=["trainingImages/nope"])),
                Code.NOT_FOUND, "TRAINING_IMAGE_NOT_FOUND")
    await fails(_image(stub, data, "nope"), Code.NOT_FOUND, "GROUP_NOT_FOUND")


async def test_an_image_from_a_url_keeps_its_source(catalog):
    data = png_bytes((1, 2, 3))
    with _serving(data) as url:
        image = await catalog.stub.CreateTrainingImage(C.CreateTrainingImageRequest(image=common_pb2.Image(url=url)))
    assert image.source_url == url and image.sha256 == hashlib.sha256(data).hexdigest()


async def test_deleting_an_image_removes_it_from_groups_and_the_store(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    await _group(stub, "red", "shoes")
    kept = await _image(stub, png_bytes((1, 200, 1)), "red")
    gone = await _image(stub, png_bytes((200, 1, 1)), "red")
    await stub.DeleteTrainingImage(C.DeleteTrainingImageRequest(name=gone.name))

    red = await stub.GetGroup(C.GetGroupRequest(name="groups/red"))
    assert list(red.images) == [kept.name]
    await fails(stub.GetTrainingImage(C.GetTrainingImageRequest(name=gone.name)),
                Code.NOT_FOUND, "TRAINING_IMAGE_NOT_FOUND")
    assert not catalog.blobs.exists(f"images/{gone.sha256[:2]}/{gone.sha256}")
    await fails(stub.DeleteTrainingImage(C.DeleteTrainingImageRequest(name=gone.name)),
                Code.NOT_FOUND, "TRAINING_IMAGE_NOT_FOUND")


async def test_a_bad_item_of_a_batch_fails_alone(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    await _group(stub, "red", "shoes")
    good = [png_bytes((250, 0, 0)), png_bytes((0, 250, 0)), png_bytes((0, 0, 250))]
    bad = b"\x89PNG\r\n\x1a\n but not really"
    reply = await stub.BatchCreateTrainingImages(C.BatchCreateTrainingImagesRequest(requests=[
        C.CreateTrainingImageRequest(image=common_pb2.Image(content=good[0]), groups=["groups/red"]),
        C.CreateTrainingImageRequest(image=common_pb2.Image(content=bad), groups=["groups/red"]),
        C.CreateTrainingImageRequest(image=common_pb2.Image(content=good[1])),
        C.CreateTrainingImageRequest(image=common_pb2.Image(content=good[2]), groups=["groups/missing"]),
    ]))
    failed = {e.index: (e.status.code, reason_of(e.status)) for e in reply.errors}
    assert failed == {1: (Code.INVALID_ARGUMENT.value[0], "IMAGE_UNDECODABLE"),
                      3: (Code.NOT_FOUND.value[0], "GROUP_NOT_FOUND")}
    assert "requests[1].image" in reply.errors[0].status.message
    assert len(reply.images) == 4 and not reply.images[1].name and not reply.images[3].name
    assert [reply.images[i].sha256 for i in (0, 2)] == [hashlib.sha256(good[i]).hexdigest() for i in (0, 1)]

    stored = await stub.ListTrainingImages(C.ListTrainingImagesRequest())
    assert sorted(i.name for i in stored.images) == sorted([reply.images[0].name, reply.images[2].name])
    red = await stub.GetGroup(C.GetGroupRequest(name="groups/red"))
    assert list(red.images) == [reply.images[0].name]
    bad_sha = hashlib.sha256(bad).hexdigest()
    assert not catalog.blobs.exists(f"images/{bad_sha[:2]}/{bad_sha}")


# ---------------------------------------------------------------------------------------------
# Cascades


async def test_deleting_a_type_deletes_its_groups(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    await _type(stub, "bags")
    await _group(stub, "red", "shoes")
    await _group(stub, "family", "shoes")
    await stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/family", members=["groups/red"]))
    await _group(stub, "tote", "bags")
    image = await _image(stub, png_bytes((5, 5, 5)), "red", "tote")
    await stub.CreateTask(C.CreateTaskRequest(task_id="t", task=C.Task(
        similarity_types=["similarityTypes/shoes", "similarityTypes/bags"])))

    await stub.DeleteSimilarityType(C.DeleteSimilarityTypeRequest(name="similarityTypes/shoes"))
    for group_id in ("red", "family"):
        await fails(stub.GetGroup(C.GetGroupRequest(name=f"groups/{group_id}")), Code.NOT_FOUND, "GROUP_NOT_FOUND")
    left = await stub.ListGroups(C.ListGroupsRequest())
    assert [g.name for g in left.groups] == ["groups/tote"]
    kept = await stub.GetTrainingImage(C.GetTrainingImageRequest(name=image.name))
    assert list(kept.groups) == ["groups/tote"]
    task = await stub.GetTask(C.GetTaskRequest(name="tasks/t"))
    assert list(task.similarity_types) == ["similarityTypes/bags"]


# ---------------------------------------------------------------------------------------------
# Task versions and the training graph


async def test_versions_added_by_training_are_listed_and_chosen(catalog):
    stub = catalog.stub
    await stub.CreateTask(C.CreateTaskRequest(task_id="t"))
    await fails(stub.SetProductionVersion(C.SetProductionVersionRequest(version="tasks/t/versions/1")),
                Code.NOT_FOUND, "TASK_VERSION_NOT_FOUND")
    await fails(stub.SetProductionVersion(C.SetProductionVersionRequest(version="tasks/nope/versions/1")),
                Code.NOT_FOUND, "TASK_NOT_FOUND")
    await fails(stub.GetTaskVersion(C.GetTaskVersionRequest(name="tasks/t/versions/0")),
                Code.INVALID_ARGUMENT, "INVALID_NAME")

    first = catalog.store.add_task_version("t", TaskVersion(
        number=0, model_version="models/task-t/versions/1", training_config={"epochs": 3},
        metrics={"recall@1": 0.75, "map@r": 0.5}, training_image_count=40, training_group_count=8,
        test_group_count=2, training_seconds=12.5))
    second = catalog.store.add_task_version("t", TaskVersion(number=0, model_version="models/task-t/versions/2",
                                                             metrics={"recall@1": 0.9}))
    assert (first.number, second.number) == (1, 2)

    task = await stub.GetTask(C.GetTaskRequest(name="tasks/t"))
    assert (task.production_version, task.latest_version) == (1, 2)
    versions, pages = await _all_pages(stub.ListTaskVersions, C.ListTaskVersionsRequest(parent="tasks/t"),
                                       "versions", 1)
    assert [v.name for v in versions] == ["tasks/t/versions/1", "tasks/t/versions/2"] and pages == 2
    assert dict(versions[0].metrics) == {"recall@1": 0.75, "map@r": 0.5}
    assert (versions[0].training_image_count, versions[0].training_seconds) == (40, 12.5)
    assert versions[0].training_config.epochs == 3 and versions[1].model_version == "models/task-t/versions/2"

    # Choosing version 2 also moves the embedder's default: tests/unit/test_catalog_training.py.
    got = await stub.GetTaskVersion(C.GetTaskVersionRequest(name="tasks/t/versions/2"))
    assert got.metrics["recall@1"] == pytest.approx(0.9)


async def test_the_training_graph_and_versions_outliving_groups(catalog):
    stub = catalog.stub
    await _type(stub, "shoes")
    await _type(stub, "unused")
    images = [await _image(stub, png_bytes((i * 40, 9, 9))) for i in range(4)]
    await _group(stub, "red", "shoes", images=[images[0].name, images[1].name])
    await _group(stub, "pink", "shoes", images=[images[1].name])
    await _group(stub, "held", "shoes", images=[images[2].name])
    await _group(stub, "warm", "shoes", members=["groups/red", "groups/pink"])
    await _group(stub, "held-family", "shoes", members=["groups/held"], test=True)
    await _group(stub, "elsewhere", "unused", images=[images[3].name])
    await stub.CreateTask(C.CreateTaskRequest(task_id="t", task=C.Task(similarity_types=["similarityTypes/shoes"])))

    graph = catalog.store.training_graph("t")
    training = {g.id: g for g in graph.groups}
    assert sorted(training) == ["pink", "red", "warm"]
    assert training["red"].images == tuple(sorted([images[0].name.split("/")[1], images[1].name.split("/")[1]]))
    assert training["red"].parents == ("warm",) and training["warm"].members == ("pink", "red")
    assert sorted(g.id for g in graph.test_groups) == ["held", "held-family"]
    assert sorted(graph.images) == sorted(i.name.split("/")[1] for i in images[:3])
    assert graph.images[images[0].name.split("/")[1]].sha256 == images[0].sha256

    catalog.store.add_task_version("t", TaskVersion(number=0, model_version="models/task-t/versions/1",
                                                    training_group_count=len(graph.groups),
                                                    test_group_count=len(graph.test_groups)))
    for group_id in ("red", "warm", "held-family"):
        await stub.DeleteGroup(C.DeleteGroupRequest(name=f"groups/{group_id}"))
    version = await stub.GetTaskVersion(C.GetTaskVersionRequest(name="tasks/t/versions/1"))
    assert (version.training_group_count, version.test_group_count) == (3, 2)
    pink = await stub.GetGroup(C.GetGroupRequest(name="groups/pink"))
    assert not pink.parents and list(pink.images) == [images[1].name]


# ---------------------------------------------------------------------------------------------


class _Serve(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


class _serving:
    """An HTTP server on loopback answering every GET with `body`; yields its URL."""

    def __init__(self, body: bytes) -> None:
        handler = type("Handler", (_Serve,), {"body": body})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/image.png"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
