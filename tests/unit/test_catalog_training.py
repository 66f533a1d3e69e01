"""Training a task through the catalog, with a real in-process embedder: the TrainTask operation,
the versions it publishes in the registry, production versions, descriptors, and the errors.

Both servers run in the test's event loop on port 0, the embedder with ONNX Runtime and both on
file blob stores; the catalog reads imported backbones from the embedder's store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from fixtures.status import fails, reason_of
from google.longrunning import operations_pb2_grpc, operations_proto_pb2
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh.catalog.app import build_app as build_catalog
from simmesh.catalog.settings import CatalogSettings
from simmesh.embedder.app import build_app as build_embedder
from simmesh.embedder.settings import EmbedderSettings
from simmesh.kit.server import App
from simmesh_proto.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2, embedder_pb2, embedder_pb2_grpc

C = catalog_pb2
E = embedder_pb2
Code = grpc.StatusCode
Operation = operations_proto_pb2.Operation

# Small enough to train in seconds on two cores.
FAST = C.TrainingConfig(epochs=2, input_size=16, embedding_dimension=16, batch_size=8)

# Group -> (parent, base colour); three shades of each.
GROUPS = {
    "red": ("warm", (200, 30, 30)),
    "orange": ("warm", (220, 120, 20)),
    "blue": ("cool", (20, 40, 200)),
    "teal": ("cool", (20, 160, 160)),
}


@dataclass
class Mesh:
    catalog: catalog_pb2_grpc.CatalogServiceStub
    operations: operations_pb2_grpc.OperationsStub
    embedder: embedder_pb2_grpc.EmbedderServiceStub
    embedder_app: App


async def _serve(tmp_path: Path, **catalog_settings) -> AsyncIterator[Mesh]:
    embedder_dir = tmp_path / "embedder"
    embedder_app = await build_embedder(
        EmbedderSettings(host="127.0.0.1", port=0, data_dir=str(embedder_dir), builtin_models=False)
    )
    await embedder_app.start()
    settings = CatalogSettings(
        host="127.0.0.1",
        port=0,
        data_dir=str(tmp_path / "catalog"),
        embedder_addr=embedder_app.address,
        models_blob_url=f"file://{embedder_dir.resolve() / 'blobs'}",
        **catalog_settings,
    )
    catalog_app = await build_catalog(settings)
    await catalog_app.start()
    try:
        async with (
            grpc.aio.insecure_channel(catalog_app.address) as catalog,
            grpc.aio.insecure_channel(embedder_app.address) as embedder,
        ):
            yield Mesh(
                catalog_pb2_grpc.CatalogServiceStub(catalog),
                operations_pb2_grpc.OperationsStub(catalog),
                embedder_pb2_grpc.EmbedderServiceStub(embedder),
                embedder_app,
            )
    finally:
        await catalog_app.stop(grace=0)
        await embedder_app.stop(grace=0)


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    # No indexer listens on this address: calls that need one fail as the indexer being unreachable.
    async for opened in _serve(tmp_path, indexer_addr="127.0.0.1:1"):
        yield opened


def _metadata(operation: Operation) -> C.TrainingMetadata:
    metadata = C.TrainingMetadata()
    assert operation.metadata.Unpack(metadata)
    return metadata


async def _wait(
    mesh: Mesh, name: str, seen: list[C.TrainingMetadata] | None = None, timeout: float = 180.0
) -> Operation:
    deadline = time.monotonic() + timeout
    while True:
        operation = await mesh.operations.GetOperation(operations_proto_pb2.GetOperationRequest(name=name))
        if seen is not None:
            seen.append(_metadata(operation))
        if operation.done:
            return operation
        assert time.monotonic() < deadline, f"{name} still running: {operation.metadata}"
        await asyncio.sleep(0.05)


def _version(operation: Operation) -> C.TaskVersion:
    assert operation.done and not operation.HasField("error"), operation.error
    version = C.TaskVersion()
    assert operation.response.Unpack(version)
    return version


def _rows(batch: common_pb2.VectorBatch) -> np.ndarray:
    return np.frombuffer(batch.data, dtype="<f4").reshape(batch.count, batch.dimension)


async def _dataset(stub: catalog_pb2_grpc.CatalogServiceStub, task_id: str = "palette") -> dict[str, list[str]]:
    """The task, its type, two parent groups over four groups of three shades each, one image in two
    groups and a test group; returns the image names by group."""
    await stub.CreateSimilarityType(C.CreateSimilarityTypeRequest(similarity_type_id="colour"))
    await stub.CreateTask(
        C.CreateTaskRequest(
            task_id=task_id, task=C.Task(similarity_types=["similarityTypes/colour"], training_config=FAST)
        )
    )
    names: dict[str, list[str]] = {}
    for group, (_, base) in GROUPS.items():
        await stub.CreateGroup(
            C.CreateGroupRequest(group_id=group, group=C.Group(similarity_type="similarityTypes/colour"))
        )
        shades = [tuple(max(0, c - 25 * k) for c in base) for k in range(3)]
        reply = await stub.BatchCreateTrainingImages(
            C.BatchCreateTrainingImagesRequest(
                requests=[
                    C.CreateTrainingImageRequest(
                        image=common_pb2.Image(content=png_bytes(shade)), groups=[f"groups/{group}"]
                    )
                    for shade in shades
                ]
            )
        )
        assert not reply.errors
        names[group] = [image.name for image in reply.images]
    await stub.AddGroupImages(C.AddGroupImagesRequest(group="groups/orange", images=[names["red"][0]]))
    names["orange"].append(names["red"][0])
    for parent in ("warm", "cool"):
        members = [f"groups/{g}" for g, (p, _) in GROUPS.items() if p == parent]
        await stub.CreateGroup(
            C.CreateGroupRequest(
                group_id=parent, group=C.Group(similarity_type="similarityTypes/colour", members=members)
            )
        )
    held = await stub.BatchCreateTrainingImages(
        C.BatchCreateTrainingImagesRequest(
            requests=[
                C.CreateTrainingImageRequest(image=common_pb2.Image(content=png_bytes((150, 20, 170 + k * 20))))
                for k in range(2)
            ]
        )
    )
    names["purple"] = [image.name for image in held.images]
    await stub.CreateGroup(
        C.CreateGroupRequest(
            group_id="purple",
            group=C.Group(similarity_type="similarityTypes/colour", test=True, images=names["purple"]),
        )
    )
    return names


async def _train(
    mesh: Mesh,
    task: str = "tasks/palette",
    config: C.TrainingConfig | None = None,
    seen: list[C.TrainingMetadata] | None = None,
) -> C.TaskVersion:
    operation = await mesh.catalog.TrainTask(C.TrainTaskRequest(task=task, training_config=config))
    return _version(await _wait(mesh, operation.name, seen))


async def _embed(mesh: Mesh, model: str, images: list[bytes]) -> E.EmbedResponse:
    return await mesh.embedder.Embed(E.EmbedRequest(model=model, images=[common_pb2.Image(content=b) for b in images]))


async def test_training_publishes_versions_the_embedder_serves(mesh):
    stub = mesh.catalog
    await _dataset(stub)

    started = await stub.TrainTask(C.TrainTaskRequest(task="tasks/palette"))
    assert not started.done
    first_metadata = _metadata(started)
    assert (first_metadata.task, first_metadata.stage, first_metadata.version) == (
        "tasks/palette",
        "loading",
        "tasks/palette/versions/1",
    )
    seen: list[C.TrainingMetadata] = []
    finished = await _wait(mesh, started.name, seen)
    first = _version(finished)
    final = _metadata(finished)
    assert (final.stage, final.progress, final.version) == ("done", 1.0, "tasks/palette/versions/1")
    progress = [m.progress for m in seen]
    assert progress == sorted(progress), "progress never goes back"
    assert {m.stage for m in seen} <= {"loading", "training", "evaluating", "exporting", "done"}
    epochs = [m for m in seen if m.epoch]
    assert all(m.epochs == FAST.epochs and m.loss > 0 for m in epochs)

    assert (first.name, first.model_version) == ("tasks/palette/versions/1", "models/task-palette/versions/1")
    # 4 groups of 3 images plus the image shared by red and orange, counted once per group.
    assert (first.training_image_count, first.training_group_count, first.test_group_count) == (13, 4, 1)
    assert first.metrics["training_images"] == 13 and first.metrics["test_images"] == 2
    assert {"recall@1", "loss"} <= set(first.metrics)
    assert first.training_config.epochs == FAST.epochs and first.training_config.batch_size == FAST.batch_size
    assert first.training_config.backbone == C.BACKBONE_COMPACT_CNN and first.training_seconds > 0

    task = await stub.GetTask(C.GetTaskRequest(name="tasks/palette"))
    assert (task.production_version, task.latest_version, task.model) == (1, 1, "models/task-palette")
    model = await mesh.embedder.GetModel(E.GetModelRequest(name="models/task-palette"))
    assert (model.source, model.default_version) == (E.MODEL_SOURCE_TRAINED, 1)
    registered = await mesh.embedder.GetModelVersion(E.GetModelVersionRequest(name=first.model_version))
    assert dict(registered.metrics) == pytest.approx(dict(first.metrics))
    picture = png_bytes((210, 40, 40))
    reply = await _embed(mesh, first.model_version, [picture])
    assert reply.model_version == first.model_version and not reply.errors
    assert _rows(reply.vectors).shape == (1, registered.manifest.dimension) == (1, FAST.embedding_dimension)

    # A second training adds version 2; version 1 stays production until chosen otherwise.
    second = await _train(mesh, config=C.TrainingConfig(epochs=1, seed=7))
    assert (second.name, second.model_version) == ("tasks/palette/versions/2", "models/task-palette/versions/2")
    assert second.training_config.epochs == 1 and second.training_config.input_size == FAST.input_size
    task = await stub.GetTask(C.GetTaskRequest(name="tasks/palette"))
    assert (task.production_version, task.latest_version) == (1, 2)
    assert (await mesh.embedder.GetModel(E.GetModelRequest(name="models/task-palette"))).default_version == 1
    listed = await stub.ListTaskVersions(C.ListTaskVersionsRequest(parent="tasks/palette"))
    assert [v.name for v in listed.versions] == ["tasks/palette/versions/1", "tasks/palette/versions/2"]
    one, two = [_rows((await _embed(mesh, v.model_version, [picture])).vectors) for v in (first, second)]
    assert one.shape == two.shape and not np.allclose(one, two)

    chosen = await stub.SetProductionVersion(C.SetProductionVersionRequest(version="tasks/palette/versions/2"))
    assert chosen.production_version == 2
    assert (await mesh.embedder.GetModel(E.GetModelRequest(name="models/task-palette"))).default_version == 2
    await fails(
        stub.SetProductionVersion(C.SetProductionVersionRequest(version="tasks/palette/versions/3")),
        Code.NOT_FOUND,
        "TASK_VERSION_NOT_FOUND",
    )

    # Descriptors: `tasks/palette` is now version 2; a bad image fails only its row.
    described = await stub.GetDescriptors(
        C.GetDescriptorsRequest(
            version="tasks/palette",
            images=[common_pb2.Image(content=picture), common_pb2.Image(content=b"not an image")],
        )
    )
    assert described.model_version == second.model_version
    rows = _rows(described.vectors)
    np.testing.assert_allclose(rows[0], two[0], atol=1e-6)
    assert not rows[1].any()
    assert [(e.index, e.status.code, reason_of(e.status)) for e in described.errors] == [
        (1, Code.INVALID_ARGUMENT.value[0], "IMAGE_UNDECODABLE")
    ]
    pinned = await stub.GetDescriptors(
        C.GetDescriptorsRequest(version="tasks/palette/versions/1", images=[common_pb2.Image(content=picture)])
    )
    np.testing.assert_allclose(_rows(pinned.vectors), one, atol=1e-6)

    # The training's groups can go: the recorded versions stay, and keep embedding.
    await stub.DeleteGroup(C.DeleteGroupRequest(name="groups/red"))
    await stub.DeleteSimilarityType(C.DeleteSimilarityTypeRequest(name="similarityTypes/colour"))
    kept = await stub.GetTaskVersion(C.GetTaskVersionRequest(name="tasks/palette/versions/1"))
    assert kept.model_version == first.model_version and kept.metrics == first.metrics
    np.testing.assert_allclose(_rows((await _embed(mesh, kept.model_version, [picture])).vectors), one, atol=1e-6)

    # Deploying needs the indexer: here none answers, and the call says so at once.
    await fails(
        stub.DeployVersion(C.DeployVersionRequest(version="tasks/palette", collection="collections/c")),
        Code.UNAVAILABLE,
        "INDEXER_UNAVAILABLE",
    )
    records = await stub.GetDescriptors(
        C.GetDescriptorsRequest(version="tasks/palette", records=["collections/c/records/r1"])
    )
    assert [(e.index, e.id, reason_of(e.status)) for e in records.errors] == [
        (0, "collections/c/records/r1", "INDEXER_UNAVAILABLE")
    ]
    assert _rows(records.vectors).shape == (1, FAST.embedding_dimension)


async def test_training_is_refused_with_the_reason(mesh):
    stub = mesh.catalog
    await fails(stub.TrainTask(C.TrainTaskRequest(task="tasks/nope")), Code.NOT_FOUND, "TASK_NOT_FOUND")
    await fails(stub.TrainTask(C.TrainTaskRequest(task="nope")), Code.INVALID_ARGUMENT, "INVALID_NAME")

    await stub.CreateTask(C.CreateTaskRequest(task_id="bare"))
    await fails(stub.TrainTask(C.TrainTaskRequest(task="tasks/bare")), Code.FAILED_PRECONDITION, "NO_SIMILARITY_TYPES")

    await stub.CreateSimilarityType(C.CreateSimilarityTypeRequest(similarity_type_id="colour"))
    await stub.CreateTask(
        C.CreateTaskRequest(task_id="small", task=C.Task(similarity_types=["similarityTypes/colour"]))
    )
    await fails(stub.TrainTask(C.TrainTaskRequest(task="tasks/small")), Code.FAILED_PRECONDITION, "NEED_MORE_GROUPS")
    images = [
        await stub.CreateTrainingImage(
            C.CreateTrainingImageRequest(image=common_pb2.Image(content=png_bytes((40 * k, 90, 90))))
        )
        for k in range(4)
    ]
    await stub.CreateGroup(
        C.CreateGroupRequest(
            group_id="one",
            group=C.Group(similarity_type="similarityTypes/colour", images=[images[0].name, images[1].name]),
        )
    )
    # A test group and an empty group do not count as training groups.
    await stub.CreateGroup(
        C.CreateGroupRequest(
            group_id="held",
            group=C.Group(similarity_type="similarityTypes/colour", test=True, images=[images[2].name, images[3].name]),
        )
    )
    await stub.CreateGroup(
        C.CreateGroupRequest(group_id="empty", group=C.Group(similarity_type="similarityTypes/colour"))
    )
    error = await fails(
        stub.TrainTask(C.TrainTaskRequest(task="tasks/small")), Code.FAILED_PRECONDITION, "NEED_MORE_GROUPS"
    )
    assert "1" in error.details()

    await stub.AddGroupImages(C.AddGroupImagesRequest(group="groups/empty", images=[images[2].name]))
    # (training config, code, reason, a name the details carry); the generic backbone trains on the built-in model.
    refused = [
        (
            C.TrainingConfig(backbone=C.BACKBONE_IMPORTED, backbone_model="models/absent"),
            Code.NOT_FOUND,
            "MODEL_NOT_FOUND",
            "",
        ),
        (C.TrainingConfig(backbone=C.BACKBONE_IMPORTED), Code.INVALID_ARGUMENT, "BACKBONE_REQUIRED", ""),
        (C.TrainingConfig(backbone=C.BACKBONE_GENERIC), Code.NOT_FOUND, "MODEL_NOT_FOUND", "models/generic"),
        (
            C.TrainingConfig(backbone=C.BACKBONE_GENERIC, backbone_model="models/absent"),
            Code.INVALID_ARGUMENT,
            "INVALID_TRAINING_CONFIG",
            "",
        ),
        (C.TrainingConfig(input_size=3), Code.INVALID_ARGUMENT, "INVALID_TRAINING_CONFIG", ""),
    ]
    for config, code, reason, named in refused:
        error = await fails(
            stub.TrainTask(C.TrainTaskRequest(task="tasks/small", training_config=config)), code, reason
        )
        assert named in error.details(), config

    # Nothing was started, and an untrained task means no model yet.
    listed = await mesh.operations.ListOperations(operations_proto_pb2.ListOperationsRequest())
    assert not listed.operations
    image = [common_pb2.Image(content=png_bytes((1, 2, 3)))]
    await fails(
        stub.GetDescriptors(C.GetDescriptorsRequest(version="tasks/small", images=image)),
        Code.FAILED_PRECONDITION,
        "TASK_NOT_TRAINED",
    )
    await fails(
        stub.GetDescriptors(C.GetDescriptorsRequest(version="tasks/small/versions/1", images=image)),
        Code.NOT_FOUND,
        "TASK_VERSION_NOT_FOUND",
    )
    await fails(
        stub.GetDescriptors(C.GetDescriptorsRequest(version="tasks/nope", images=image)),
        Code.NOT_FOUND,
        "TASK_NOT_FOUND",
    )
    await fails(stub.GetDescriptors(C.GetDescriptorsRequest(version="tasks/small")), Code.INVALID_ARGUMENT, "NO_ITEMS")
    await fails(
        stub.GetDescriptors(C.GetDescriptorsRequest(version="tasks/small", records=["records/x"])),
        Code.INVALID_ARGUMENT,
        "INVALID_NAME",
    )
    await fails(
        stub.DeployVersion(C.DeployVersionRequest(version="tasks/small", collection="collections/c")),
        Code.FAILED_PRECONDITION,
        "TASK_NOT_TRAINED",
    )
    await fails(
        stub.SetProductionVersion(C.SetProductionVersionRequest(version="tasks/small/versions/1")),
        Code.NOT_FOUND,
        "TASK_VERSION_NOT_FOUND",
    )
    task = await stub.GetTask(C.GetTaskRequest(name="tasks/small"))
    assert (task.production_version, task.latest_version) == (0, 0)


async def test_cancelling_a_training_leaves_no_version(mesh):
    stub = mesh.catalog
    await _dataset(stub)
    started = await stub.TrainTask(
        C.TrainTaskRequest(task="tasks/palette", training_config=C.TrainingConfig(epochs=5000))
    )
    deadline = time.monotonic() + 120
    while (
        _metadata(await mesh.operations.GetOperation(operations_proto_pb2.GetOperationRequest(name=started.name))).epoch
        < 1
    ):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await mesh.operations.CancelOperation(operations_proto_pb2.CancelOperationRequest(name=started.name))
    cancelled = await _wait(mesh, started.name)
    assert cancelled.error.code == Code.CANCELLED.value[0]
    assert _metadata(cancelled).stage in ("training", "evaluating")
    task = await stub.GetTask(C.GetTaskRequest(name="tasks/palette"))
    assert (task.production_version, task.latest_version) == (0, 0)
    assert not (await stub.ListTaskVersions(C.ListTaskVersionsRequest(parent="tasks/palette"))).versions
    await fails(
        mesh.embedder.GetModel(E.GetModelRequest(name="models/task-palette")), Code.NOT_FOUND, "MODEL_NOT_FOUND"
    )


async def test_a_training_whose_task_goes_away_leaves_nothing(mesh):
    stub = mesh.catalog
    await _dataset(stub)
    started = await stub.TrainTask(C.TrainTaskRequest(task="tasks/palette"))
    await stub.DeleteTask(C.DeleteTaskRequest(name="tasks/palette"))
    failed = await _wait(mesh, started.name)
    assert (failed.error.code, reason_of(failed.error)) == (Code.NOT_FOUND.value[0], "TASK_NOT_FOUND")
    await fails(
        mesh.embedder.GetModel(E.GetModelRequest(name="models/task-palette")), Code.NOT_FOUND, "MODEL_NOT_FOUND"
    )


async def test_an_imported_backbone_trains_a_head_on_it(mesh):
    stub = mesh.catalog
    onnx = tiny_embedding_model(size=16, dimension=8)
    header = E.ImportModelRequest.Header(
        model_id="tiny", manifest=tiny_manifest(size=16, dimension=8), size_bytes=len(onnx)
    )
    await mesh.embedder.ImportModel(iter([E.ImportModelRequest(header=header), E.ImportModelRequest(chunk=onnx)]))
    await _dataset(stub)
    version = await _train(
        mesh,
        config=C.TrainingConfig(
            backbone=C.BACKBONE_IMPORTED, backbone_model="models/tiny", embedding_dimension=4, epochs=3
        ),
    )
    assert version.training_config.backbone_model == "models/tiny/versions/1"
    reply = await _embed(mesh, version.model_version, [png_bytes((10, 200, 10))])
    assert _rows(reply.vectors).shape == (1, 4)
