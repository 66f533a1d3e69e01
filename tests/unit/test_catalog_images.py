"""The catalog's training images, task versions and training graph through gRPC (see fixtures/catalog.py)."""

from __future__ import annotations

import base64
import hashlib

import grpc
import pytest
from fixtures.catalog import all_pages, create_group, create_image, create_type, mask, serving, struct_of
from fixtures.status import fails, reason_of
from support.models import png_bytes

from simmesh.catalog.records import TaskVersion
from simmesh_proto.v1 import catalog_pb2, common_pb2

C = catalog_pb2
Code = grpc.StatusCode


# ---------------------------------------------------------------------------------------------
# Training images


async def test_images_are_stored_once_per_content_and_join_groups(catalog):
    stub = catalog.stub
    await create_type(stub, "shoes")
    await create_group(stub, "red", "shoes")
    await create_group(stub, "warm", "shoes")
    data = png_bytes((200, 10, 10), size=(48, 32))
    sha = hashlib.sha256(data).hexdigest()

    first = await create_image(stub, data, "red", source="camera")
    assert (first.sha256, first.width, first.height, first.size_bytes) == (sha, 48, 32, len(data))
    assert first.content_type == "image/png" and first.metadata["source"] == "camera"
    assert list(first.groups) == ["groups/red"]
    key = f"images/{sha[:2]}/{sha}"
    assert first.uri == catalog.blobs.uri(key) and catalog.blobs.get_bytes(key) == data

    again = await stub.CreateTrainingImage(
        C.CreateTrainingImageRequest(
            image=common_pb2.Image(base64=base64.b64encode(data).decode()), groups=["groups/warm"]
        )
    )
    assert again.name == first.name and list(again.groups) == ["groups/red", "groups/warm"]
    assert again.metadata["source"] == "camera"
    listed = await stub.ListTrainingImages(C.ListTrainingImagesRequest())
    assert [i.name for i in listed.images] == [first.name]

    from_store = await stub.CreateTrainingImage(C.CreateTrainingImageRequest(image=common_pb2.Image(uri=first.uri)))
    assert from_store.name == first.name

    other = await create_image(stub, png_bytes((10, 10, 200), fmt="JPEG"), "warm")
    assert other.content_type == "image/jpeg" and other.name != first.name
    warm, pages = await all_pages(
        stub.ListTrainingImages, C.ListTrainingImagesRequest(group="groups/warm"), "images", 1
    )
    assert sorted(i.name for i in warm) == sorted([first.name, other.name]) and pages == 2
    red = await stub.ListTrainingImages(C.ListTrainingImagesRequest(group="groups/red"))
    assert [i.name for i in red.images] == [first.name]

    updated = await stub.UpdateTrainingImage(
        C.UpdateTrainingImageRequest(
            image=C.TrainingImage(name=first.name, metadata=struct_of(source="scanner"), width=1),
            update_mask=mask("metadata"),
        )
    )
    assert updated.metadata["source"] == "scanner" and updated.width == 48
    removed = await stub.RemoveGroupImages(C.RemoveGroupImagesRequest(group="groups/warm", images=[first.name]))
    assert list(removed.images) == [other.name]
    added = await stub.AddGroupImages(C.AddGroupImagesRequest(group="groups/warm", images=[first.name]))
    assert sorted(added.images) == sorted([first.name, other.name])
    await fails(
        stub.AddGroupImages(C.AddGroupImagesRequest(group="groups/warm", images=["trainingImages/nope"])),
        Code.NOT_FOUND,
        "TRAINING_IMAGE_NOT_FOUND",
    )
    await fails(create_image(stub, data, "nope"), Code.NOT_FOUND, "GROUP_NOT_FOUND")


async def test_an_image_from_a_url_keeps_its_source(catalog):
    data = png_bytes((1, 2, 3))
    with serving(data) as url:
        image = await catalog.stub.CreateTrainingImage(C.CreateTrainingImageRequest(image=common_pb2.Image(url=url)))
    assert image.source_url == url and image.sha256 == hashlib.sha256(data).hexdigest()


async def test_deleting_an_image_removes_it_from_groups_and_the_store(catalog):
    stub = catalog.stub
    await create_type(stub, "shoes")
    await create_group(stub, "red", "shoes")
    kept = await create_image(stub, png_bytes((1, 200, 1)), "red")
    gone = await create_image(stub, png_bytes((200, 1, 1)), "red")
    await stub.DeleteTrainingImage(C.DeleteTrainingImageRequest(name=gone.name))

    red = await stub.GetGroup(C.GetGroupRequest(name="groups/red"))
    assert list(red.images) == [kept.name]
    await fails(
        stub.GetTrainingImage(C.GetTrainingImageRequest(name=gone.name)), Code.NOT_FOUND, "TRAINING_IMAGE_NOT_FOUND"
    )
    assert not catalog.blobs.exists(f"images/{gone.sha256[:2]}/{gone.sha256}")
    await fails(
        stub.DeleteTrainingImage(C.DeleteTrainingImageRequest(name=gone.name)),
        Code.NOT_FOUND,
        "TRAINING_IMAGE_NOT_FOUND",
    )


async def test_a_bad_item_of_a_batch_fails_alone(catalog):
    stub = catalog.stub
    await create_type(stub, "shoes")
    await create_group(stub, "red", "shoes")
    good = [png_bytes((250, 0, 0)), png_bytes((0, 250, 0)), png_bytes((0, 0, 250))]
    bad = b"\x89PNG\r\n\x1a\n but not really"
    reply = await stub.BatchCreateTrainingImages(
        C.BatchCreateTrainingImagesRequest(
            requests=[
                C.CreateTrainingImageRequest(image=common_pb2.Image(content=good[0]), groups=["groups/red"]),
                C.CreateTrainingImageRequest(image=common_pb2.Image(content=bad), groups=["groups/red"]),
                C.CreateTrainingImageRequest(image=common_pb2.Image(content=good[1])),
                C.CreateTrainingImageRequest(image=common_pb2.Image(content=good[2]), groups=["groups/missing"]),
            ]
        )
    )
    failed = {e.index: (e.status.code, reason_of(e.status)) for e in reply.errors}
    assert failed == {
        1: (Code.INVALID_ARGUMENT.value[0], "IMAGE_UNDECODABLE"),
        3: (Code.NOT_FOUND.value[0], "GROUP_NOT_FOUND"),
    }
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
# Task versions and the training graph


async def test_versions_added_by_training_are_listed_and_chosen(catalog):
    stub = catalog.stub
    await stub.CreateTask(C.CreateTaskRequest(task_id="t"))
    await fails(
        stub.SetProductionVersion(C.SetProductionVersionRequest(version="tasks/t/versions/1")),
        Code.NOT_FOUND,
        "TASK_VERSION_NOT_FOUND",
    )
    await fails(
        stub.SetProductionVersion(C.SetProductionVersionRequest(version="tasks/nope/versions/1")),
        Code.NOT_FOUND,
        "TASK_NOT_FOUND",
    )
    await fails(
        stub.GetTaskVersion(C.GetTaskVersionRequest(name="tasks/t/versions/0")), Code.INVALID_ARGUMENT, "INVALID_NAME"
    )

    first = catalog.store.add_task_version(
        "t",
        TaskVersion(
            number=0,
            model_version="models/task-t/versions/1",
            training_config={"epochs": 3},
            metrics={"recall@1": 0.75, "map@r": 0.5},
            training_image_count=40,
            training_group_count=8,
            test_group_count=2,
            training_seconds=12.5,
        ),
    )
    second = catalog.store.add_task_version(
        "t", TaskVersion(number=0, model_version="models/task-t/versions/2", metrics={"recall@1": 0.9})
    )
    assert (first.number, second.number) == (1, 2)

    task = await stub.GetTask(C.GetTaskRequest(name="tasks/t"))
    assert (task.production_version, task.latest_version) == (1, 2)
    versions, pages = await all_pages(stub.ListTaskVersions, C.ListTaskVersionsRequest(parent="tasks/t"), "versions", 1)
    assert [v.name for v in versions] == ["tasks/t/versions/1", "tasks/t/versions/2"] and pages == 2
    assert dict(versions[0].metrics) == {"recall@1": 0.75, "map@r": 0.5}
    assert (versions[0].training_image_count, versions[0].training_seconds) == (40, 12.5)
    assert versions[0].training_config.epochs == 3 and versions[1].model_version == "models/task-t/versions/2"

    # Choosing version 2 also moves the embedder's default: tests/unit/test_catalog_training.py.
    got = await stub.GetTaskVersion(C.GetTaskVersionRequest(name="tasks/t/versions/2"))
    assert got.metrics["recall@1"] == pytest.approx(0.9)


async def test_the_training_graph_and_versions_outliving_groups(catalog):
    stub = catalog.stub
    await create_type(stub, "shoes")
    await create_type(stub, "unused")
    images = [await create_image(stub, png_bytes((i * 40, 9, 9))) for i in range(4)]
    await create_group(stub, "red", "shoes", images=[images[0].name, images[1].name])
    await create_group(stub, "pink", "shoes", images=[images[1].name])
    await create_group(stub, "held", "shoes", images=[images[2].name])
    await create_group(stub, "warm", "shoes", members=["groups/red", "groups/pink"])
    await create_group(stub, "held-family", "shoes", members=["groups/held"], test=True)
    await create_group(stub, "elsewhere", "unused", images=[images[3].name])
    await stub.CreateTask(C.CreateTaskRequest(task_id="t", task=C.Task(similarity_types=["similarityTypes/shoes"])))

    graph = catalog.store.training_graph("t")
    training = {g.id: g for g in graph.groups}
    assert sorted(training) == ["pink", "red", "warm"]
    assert training["red"].images == tuple(sorted([images[0].name.split("/")[1], images[1].name.split("/")[1]]))
    assert training["red"].parents == ("warm",) and training["warm"].members == ("pink", "red")
    assert sorted(g.id for g in graph.test_groups) == ["held", "held-family"]
    assert sorted(graph.images) == sorted(i.name.split("/")[1] for i in images[:3])
    assert graph.images[images[0].name.split("/")[1]].sha256 == images[0].sha256

    catalog.store.add_task_version(
        "t",
        TaskVersion(
            number=0,
            model_version="models/task-t/versions/1",
            training_group_count=len(graph.groups),
            test_group_count=len(graph.test_groups),
        ),
    )
    for group_id in ("red", "warm", "held-family"):
        await stub.DeleteGroup(C.DeleteGroupRequest(name=f"groups/{group_id}"))
    version = await stub.GetTaskVersion(C.GetTaskVersionRequest(name="tasks/t/versions/1"))
    assert (version.training_group_count, version.test_group_count) == (3, 2)
    pink = await stub.GetGroup(C.GetGroupRequest(name="groups/pink"))
    assert not pink.parents and list(pink.images) == [images[1].name]
