"""The catalog's similarity types, tasks and groups through gRPC (see fixtures/catalog.py)."""

from __future__ import annotations

import asyncio

import grpc
from fixtures.catalog import all_pages, create_group, create_image, create_type, mask, struct_of
from fixtures.status import error_info, fails
from support.models import png_bytes

from simmesh_proto.v1 import catalog_pb2

C = catalog_pb2
Code = grpc.StatusCode


# ---------------------------------------------------------------------------------------------
# Similarity types


async def test_similarity_type_crud(catalog):
    stub = catalog.stub
    created = await create_type(
        stub, "shoes", display_name="Same shoe", description="pairs", metadata=struct_of(owner="x")
    )
    assert created.name == "similarityTypes/shoes" and created.group_count == 0
    assert created.create_time.seconds > 0 and created.metadata["owner"] == "x"
    assert await stub.GetSimilarityType(C.GetSimilarityTypeRequest(name="similarityTypes/shoes")) == created

    await fails(create_type(stub, "shoes"), Code.ALREADY_EXISTS, "SIMILARITY_TYPE_ALREADY_EXISTS")
    await fails(create_type(stub, "Bad_Id"), Code.INVALID_ARGUMENT, "INVALID_ID")
    generated = await create_type(stub, "", display_name="unnamed")
    assert generated.name.startswith("similarityTypes/") and len(generated.name) > len("similarityTypes/")

    updated = await stub.UpdateSimilarityType(
        C.UpdateSimilarityTypeRequest(
            similarity_type=C.SimilarityType(
                name="similarityTypes/shoes", display_name="Same model", description="ignored"
            ),
            update_mask=mask("display_name"),
        )
    )
    assert (updated.display_name, updated.description) == ("Same model", "pairs")
    assert updated.update_time.ToNanoseconds() >= created.update_time.ToNanoseconds()
    await fails(
        stub.UpdateSimilarityType(
            C.UpdateSimilarityTypeRequest(
                similarity_type=C.SimilarityType(name="similarityTypes/shoes"), update_mask=mask("group_count")
            )
        ),
        Code.INVALID_ARGUMENT,
        "INVALID_UPDATE_MASK",
    )

    await create_group(stub, "g1", "shoes")
    shoes = await stub.GetSimilarityType(C.GetSimilarityTypeRequest(name="similarityTypes/shoes"))
    assert shoes.group_count == 1

    await stub.DeleteSimilarityType(C.DeleteSimilarityTypeRequest(name="similarityTypes/shoes"))
    await fails(
        stub.GetSimilarityType(C.GetSimilarityTypeRequest(name="similarityTypes/shoes")),
        Code.NOT_FOUND,
        "SIMILARITY_TYPE_NOT_FOUND",
    )
    await fails(
        stub.DeleteSimilarityType(C.DeleteSimilarityTypeRequest(name="similarityTypes/shoes")),
        Code.NOT_FOUND,
        "SIMILARITY_TYPE_NOT_FOUND",
    )
    await fails(
        stub.GetSimilarityType(C.GetSimilarityTypeRequest(name="groups/shoes")), Code.INVALID_ARGUMENT, "INVALID_NAME"
    )


async def test_similarity_types_page_through_every_item_once(catalog):
    ids = [f"type-{i:02d}" for i in range(7)]
    for type_id in reversed(ids):
        await create_type(catalog.stub, type_id)
    items, pages = await all_pages(
        catalog.stub.ListSimilarityTypes, C.ListSimilarityTypesRequest(), "similarity_types", 3
    )
    assert [t.name for t in items] == [f"similarityTypes/{i}" for i in ids] and pages == 3
    await fails(
        catalog.stub.ListSimilarityTypes(C.ListSimilarityTypesRequest(page_token="garbage!")),
        Code.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )


# ---------------------------------------------------------------------------------------------
# Tasks


async def test_task_crud_and_types(catalog):
    stub = catalog.stub
    await create_type(stub, "shoes")
    await create_type(stub, "bags")
    task = await stub.CreateTask(
        C.CreateTaskRequest(
            task_id="fashion",
            task=C.Task(
                display_name="Fashion",
                similarity_types=["similarityTypes/shoes"],
                training_config=C.TrainingConfig(backbone=C.BACKBONE_COMPACT_CNN, epochs=5, embedding_dimension=64),
            ),
        )
    )
    assert task.name == "tasks/fashion" and task.model == "models/task-fashion"
    assert (task.production_version, task.latest_version) == (0, 0)
    assert list(task.similarity_types) == ["similarityTypes/shoes"] and task.training_config.epochs == 5

    updated = await stub.UpdateTask(
        C.UpdateTaskRequest(
            task=C.Task(name="tasks/fashion", description="new", training_config=C.TrainingConfig(epochs=9)),
            update_mask=mask("description", "training_config.epochs"),
        )
    )
    assert updated.description == "new" and updated.training_config.epochs == 9
    assert updated.training_config.embedding_dimension == 64 and updated.display_name == "Fashion"
    await fails(
        stub.UpdateTask(
            C.UpdateTaskRequest(task=C.Task(name="tasks/fashion", model="models/x"), update_mask=mask("model"))
        ),
        Code.INVALID_ARGUMENT,
        "INVALID_UPDATE_MASK",
    )

    both = await stub.AddTaskSimilarityTypes(
        C.AddTaskSimilarityTypesRequest(
            task="tasks/fashion", similarity_types=["similarityTypes/bags", "similarityTypes/shoes"]
        )
    )
    assert list(both.similarity_types) == ["similarityTypes/bags", "similarityTypes/shoes"]
    await fails(
        stub.AddTaskSimilarityTypes(
            C.AddTaskSimilarityTypesRequest(task="tasks/fashion", similarity_types=["similarityTypes/hats"])
        ),
        Code.NOT_FOUND,
        "SIMILARITY_TYPE_NOT_FOUND",
    )
    fewer = await stub.RemoveTaskSimilarityTypes(
        C.RemoveTaskSimilarityTypesRequest(task="tasks/fashion", similarity_types=["similarityTypes/shoes"])
    )
    assert list(fewer.similarity_types) == ["similarityTypes/bags"]

    await stub.CreateTask(C.CreateTaskRequest(task_id="other"))
    listed, pages = await all_pages(stub.ListTasks, C.ListTasksRequest(), "tasks", 1)
    assert [t.name for t in listed] == ["tasks/fashion", "tasks/other"] and pages == 2

    await stub.DeleteTask(C.DeleteTaskRequest(name="tasks/fashion"))
    await fails(stub.GetTask(C.GetTaskRequest(name="tasks/fashion")), Code.NOT_FOUND, "TASK_NOT_FOUND")
    await fails(stub.CreateTask(C.CreateTaskRequest(task_id="other")), Code.ALREADY_EXISTS, "TASK_ALREADY_EXISTS")


async def test_a_task_with_unknown_types_is_refused_and_not_stored(catalog):
    await create_type(catalog.stub, "shoes")
    error = await fails(
        catalog.stub.CreateTask(
            C.CreateTaskRequest(
                task_id="t",
                task=C.Task(similarity_types=["similarityTypes/shoes", "similarityTypes/hats", "similarityTypes/caps"]),
            )
        ),
        Code.NOT_FOUND,
        "SIMILARITY_TYPE_NOT_FOUND",
    )
    assert "similarityTypes/hats" in error.details() and error_info(error).metadata["missing"] == "hats,caps"
    await fails(catalog.stub.GetTask(C.GetTaskRequest(name="tasks/t")), Code.NOT_FOUND, "TASK_NOT_FOUND")


# ---------------------------------------------------------------------------------------------
# Groups


async def test_group_crud_search_and_test_marking(catalog):
    stub = catalog.stub
    await create_type(stub, "shoes")
    await create_type(stub, "bags")
    await create_group(stub, "red-sneaker", "shoes", display_name="Red Sneaker")
    await create_group(stub, "blue-boot", "shoes", display_name="Blue BOOT", metadata=struct_of(size=42))
    await create_group(stub, "sneaker-box", "bags", display_name="Box")
    await create_group(stub, "green-sandal", "shoes", display_name="Green sandal")

    got = await stub.GetGroup(C.GetGroupRequest(name="groups/blue-boot"))
    assert got.similarity_type == "similarityTypes/shoes" and got.metadata["size"] == 42 and not got.test

    marked = await stub.UpdateGroup(
        C.UpdateGroupRequest(
            group=C.Group(name="groups/blue-boot", test=True, display_name="ignored"), update_mask=mask("test")
        )
    )
    assert marked.test and marked.display_name == "Blue BOOT"
    await fails(
        stub.UpdateGroup(
            C.UpdateGroupRequest(
                group=C.Group(name="groups/blue-boot", similarity_type="similarityTypes/bags"),
                update_mask=mask("similarity_type"),
            )
        ),
        Code.INVALID_ARGUMENT,
        "INVALID_UPDATE_MASK",
    )

    async def names(**request) -> list[str]:
        items, _ = await all_pages(stub.ListGroups, C.ListGroupsRequest(**request), "groups", 2)
        return [g.name for g in items]

    assert await names(name_query="SNEAKER") == ["groups/red-sneaker", "groups/sneaker-box"]
    assert await names(name_query="boot") == ["groups/blue-boot"]  # display name, any case
    assert await names(name_query="sneaker", similarity_type="similarityTypes/shoes") == ["groups/red-sneaker"]
    assert await names(name_query="%") == []
    assert await names(test_filter=C.ListGroupsRequest.TEST_FILTER_TEST) == ["groups/blue-boot"]
    assert await names(test_filter=C.ListGroupsRequest.TEST_FILTER_TRAIN, similarity_type="similarityTypes/shoes") == [
        "groups/green-sandal",
        "groups/red-sneaker",
    ]
    assert len(await names()) == 4
    await fails(
        stub.ListGroups(C.ListGroupsRequest(similarity_type="similarityTypes/hats")),
        Code.NOT_FOUND,
        "SIMILARITY_TYPE_NOT_FOUND",
    )

    first = await stub.ListGroups(C.ListGroupsRequest(page_size=1, similarity_type="similarityTypes/shoes"))
    await fails(
        stub.ListGroups(C.ListGroupsRequest(page_size=1, page_token=first.next_page_token)),
        Code.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )

    await stub.DeleteGroup(C.DeleteGroupRequest(name="groups/blue-boot"))
    await fails(stub.GetGroup(C.GetGroupRequest(name="groups/blue-boot")), Code.NOT_FOUND, "GROUP_NOT_FOUND")
    await fails(create_group(stub, "red-sneaker", "shoes"), Code.ALREADY_EXISTS, "GROUP_ALREADY_EXISTS")
    await fails(create_group(stub, "x", "hats"), Code.NOT_FOUND, "SIMILARITY_TYPE_NOT_FOUND")


async def test_groups_of_groups_members_and_parents(catalog):
    stub = catalog.stub
    await create_type(stub, "shoes")
    for group_id in ("sneakers", "boots", "red-sneaker", "white-sneaker"):
        await create_group(stub, group_id, "shoes")
    family = await stub.AddGroupMembers(
        C.AddGroupMembersRequest(
            group="groups/sneakers", members=["groups/white-sneaker", "groups/red-sneaker", "groups/red-sneaker"]
        )
    )
    assert list(family.members) == ["groups/red-sneaker", "groups/white-sneaker"]
    await stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/boots", members=["groups/red-sneaker"]))
    red = await stub.GetGroup(C.GetGroupRequest(name="groups/red-sneaker"))
    assert list(red.parents) == ["groups/boots", "groups/sneakers"]

    listed = await stub.ListGroups(C.ListGroupsRequest(parent="groups/sneakers"))
    assert [g.name for g in listed.groups] == ["groups/red-sneaker", "groups/white-sneaker"]

    fewer = await stub.RemoveGroupMembers(
        C.RemoveGroupMembersRequest(group="groups/sneakers", members=["groups/white-sneaker"])
    )
    assert list(fewer.members) == ["groups/red-sneaker"]
    await fails(
        stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/sneakers", members=["groups/nope"])),
        Code.NOT_FOUND,
        "GROUP_NOT_FOUND",
    )

    await create_type(stub, "bags")
    await create_group(stub, "tote", "bags")
    await fails(
        stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/sneakers", members=["groups/tote"])),
        Code.FAILED_PRECONDITION,
        "GROUP_TYPE_MISMATCH",
    )


async def test_a_group_never_mixes_images_and_groups(catalog):
    stub = catalog.stub
    await create_type(stub, "shoes")
    image = await create_image(stub, png_bytes((10, 20, 30)))
    await create_group(stub, "with-images", "shoes", images=[image.name])
    await create_group(stub, "with-groups", "shoes")
    await create_group(stub, "leaf", "shoes")
    await stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/with-groups", members=["groups/leaf"]))

    error = await fails(
        stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/with-images", members=["groups/leaf"])),
        Code.FAILED_PRECONDITION,
        "GROUP_KIND_MISMATCH",
    )
    assert "groups/with-images holds images" in error.details()
    await fails(
        stub.AddGroupImages(C.AddGroupImagesRequest(group="groups/with-groups", images=[image.name])),
        Code.FAILED_PRECONDITION,
        "GROUP_KIND_MISMATCH",
    )
    await fails(
        create_group(stub, "both", "shoes", images=[image.name], members=["groups/leaf"]),
        Code.FAILED_PRECONDITION,
        "GROUP_KIND_MISMATCH",
    )
    await fails(
        create_image(stub, png_bytes((99, 20, 30)), "with-groups"), Code.FAILED_PRECONDITION, "GROUP_KIND_MISMATCH"
    )

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
    await create_type(stub, "shoes")
    for group_id in ("a", "b", "c"):
        await create_group(stub, group_id, "shoes")
    await stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/a", members=["groups/b"]))

    error = await fails(
        stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/b", members=["groups/a"])),
        Code.FAILED_PRECONDITION,
        "GROUP_CYCLE",
    )
    assert error_info(error).metadata["path"] == "groups/b -> groups/a -> groups/b"
    error = await fails(
        stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/a", members=["groups/a"])),
        Code.FAILED_PRECONDITION,
        "GROUP_CYCLE",
    )
    assert error_info(error).metadata["path"] == "groups/a -> groups/a"

    await stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/b", members=["groups/c"]))
    error = await fails(
        stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/c", members=["groups/a"])),
        Code.FAILED_PRECONDITION,
        "GROUP_CYCLE",
    )
    assert "groups/c -> groups/a -> groups/b -> groups/c" in error.details()

    for group_id, members, parents in (
        ("a", ["groups/b"], []),
        ("b", ["groups/c"], ["groups/a"]),
        ("c", [], ["groups/b"]),
    ):
        group = await stub.GetGroup(C.GetGroupRequest(name=f"groups/{group_id}"))
        assert (list(group.members), list(group.parents)) == (members, parents), group_id


async def test_racing_changes_keep_the_rules(catalog):
    stub = catalog.stub
    await create_type(stub, "shoes")
    for group_id in ("a", "b", "empty", "leaf"):
        await create_group(stub, group_id, "shoes")
    image = await create_image(stub, png_bytes((3, 3, 3)))

    async def outcome(call) -> str:
        try:
            await call
            return "ok"
        except grpc.aio.AioRpcError as error:
            return error_info(error).reason

    crossing = await asyncio.gather(
        outcome(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/a", members=["groups/b"]))),
        outcome(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/b", members=["groups/a"]))),
    )
    assert sorted(crossing) == ["GROUP_CYCLE", "ok"]

    mixing = await asyncio.gather(
        outcome(stub.AddGroupImages(C.AddGroupImagesRequest(group="groups/empty", images=[image.name]))),
        outcome(stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/empty", members=["groups/leaf"]))),
    )
    assert sorted(mixing) == ["GROUP_KIND_MISMATCH", "ok"]
    empty = await stub.GetGroup(C.GetGroupRequest(name="groups/empty"))
    assert bool(empty.images) != bool(empty.members)

    data = png_bytes((77, 77, 77))
    uploads = await asyncio.gather(
        create_image(stub, data, "leaf"),
        create_image(stub, data),
        create_image(stub, data, "leaf"),
        create_image(stub, data),
    )
    assert len({u.name for u in uploads}) == 1
    assert list((await stub.GetTrainingImage(C.GetTrainingImageRequest(name=uploads[0].name))).groups) == [
        "groups/leaf"
    ]
    listed = await stub.ListTrainingImages(C.ListTrainingImagesRequest())
    assert len(listed.images) == 2


# ---------------------------------------------------------------------------------------------
# Cascades


async def test_deleting_a_type_deletes_its_groups(catalog):
    stub = catalog.stub
    await create_type(stub, "shoes")
    await create_type(stub, "bags")
    await create_group(stub, "red", "shoes")
    await create_group(stub, "family", "shoes")
    await stub.AddGroupMembers(C.AddGroupMembersRequest(group="groups/family", members=["groups/red"]))
    await create_group(stub, "tote", "bags")
    image = await create_image(stub, png_bytes((5, 5, 5)), "red", "tote")
    await stub.CreateTask(
        C.CreateTaskRequest(
            task_id="t", task=C.Task(similarity_types=["similarityTypes/shoes", "similarityTypes/bags"])
        )
    )

    await stub.DeleteSimilarityType(C.DeleteSimilarityTypeRequest(name="similarityTypes/shoes"))
    for group_id in ("red", "family"):
        await fails(stub.GetGroup(C.GetGroupRequest(name=f"groups/{group_id}")), Code.NOT_FOUND, "GROUP_NOT_FOUND")
    left = await stub.ListGroups(C.ListGroupsRequest())
    assert [g.name for g in left.groups] == ["groups/tote"]
    kept = await stub.GetTrainingImage(C.GetTrainingImageRequest(name=image.name))
    assert list(kept.groups) == ["groups/tote"]
    task = await stub.GetTask(C.GetTaskRequest(name="tasks/t"))
    assert list(task.similarity_types) == ["similarityTypes/bags"]
