"""The catalog's and the labeler's resources are private to their tenant: on real servers with API
keys in etcd, tenants acme and beta create the same ids, each lists and gets only its own, the
other's answers NOT_FOUND exactly like a missing one, and the stores keep internal ids (the
default tenant's unprefixed)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from support.auth_apps import BOOTSTRAP_KEY, auth_settings
from support.models import png_bytes

from simmesh.catalog.app import build_app as build_catalog
from simmesh.catalog.names import public_model_name, stored_model_name, task_model_id
from simmesh.kit.auth.etcd_store import EtcdKeyStore
from simmesh.kit.auth.identity import Identity, Role, current_identity, reset_identity, set_identity
from simmesh.kit.auth.keys import new_key
from simmesh.kit.server import App, binding, build_server
from simmesh.labeler.backends import Backends
from simmesh.labeler.collection import Collections
from simmesh.labeler.domain import build_labeler
from simmesh.labeler.servicer import LabelerServicer
from simmesh.labeler.store import default_db_url, open_labeler_store
from simmesh_proto.v1 import catalog_pb2 as C
from simmesh_proto.v1 import catalog_pb2_grpc, common_pb2, indexer_pb2, labeler_pb2, labeler_pb2_grpc

MODEL_VERSION = "models/generic/versions/1"


@pytest.fixture
def keys(etcd_client, etcd_prefix) -> Iterator[dict[str, str]]:
    """An admin key of acme and of beta, and the bootstrap key of the default tenant."""
    store = EtcdKeyStore(etcd_client, etcd_prefix)
    found = {"default": BOOTSTRAP_KEY}
    for tenant in ("acme", "beta"):
        found[tenant], record = new_key(tenant, Role.ADMIN)
        store.put(record)
    store.close()
    yield found


def _metadata(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


async def _not_found(call, request, key: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=_metadata(key))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    return caught.value.details()


# ---------------------------------------------------------------------------------------------
# Catalog


@pytest.fixture
async def catalog(tmp_path, etcd_server, etcd_prefix, keys) -> AsyncIterator[catalog_pb2_grpc.CatalogServiceStub]:
    app = await build_catalog(auth_settings("catalog", tmp_path, etcd_server.endpoint, etcd_prefix))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            yield catalog_pb2_grpc.CatalogServiceStub(channel)
    finally:
        await app.stop(grace=0)


async def _create_catalog(stub: catalog_pb2_grpc.CatalogServiceStub, key: str, display: str) -> None:
    metadata = _metadata(key)
    await stub.CreateSimilarityType(
        C.CreateSimilarityTypeRequest(similarity_type_id="shoes", similarity_type=C.SimilarityType()), metadata=metadata
    )
    await stub.CreateTask(
        C.CreateTaskRequest(
            task_id="match", task=C.Task(display_name=display, similarity_types=["similarityTypes/shoes"])
        ),
        metadata=metadata,
    )
    await stub.CreateGroup(
        C.CreateGroupRequest(group_id="red", group=C.Group(similarity_type="similarityTypes/shoes")), metadata=metadata
    )


def _ids(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return sorted(row[0] for row in db.execute(f"SELECT id FROM {table}"))


async def test_catalog_tenants_use_the_same_ids_and_see_only_their_own(catalog, keys, tmp_path):
    for tenant in ("acme", "beta", "default"):
        await _create_catalog(catalog, keys[tenant], f"{tenant}'s")
    for tenant in ("acme", "beta", "default"):
        metadata = _metadata(keys[tenant])
        tasks = (await catalog.ListTasks(C.ListTasksRequest(), metadata=metadata)).tasks
        assert [(t.name, t.display_name, t.model) for t in tasks] == [
            ("tasks/match", f"{tenant}'s", "models/task-match")
        ]
        assert list(tasks[0].similarity_types) == ["similarityTypes/shoes"]
        types = (await catalog.ListSimilarityTypes(C.ListSimilarityTypesRequest(), metadata=metadata)).similarity_types
        assert [t.name for t in types] == ["similarityTypes/shoes"]
        groups = (await catalog.ListGroups(C.ListGroupsRequest(), metadata=metadata)).groups
        assert [(g.name, g.similarity_type) for g in groups] == [("groups/red", "similarityTypes/shoes")]
        task = await catalog.GetTask(C.GetTaskRequest(name="tasks/match"), metadata=metadata)
        assert task.display_name == f"{tenant}'s"

    database = tmp_path / "catalog" / "catalog.sqlite"
    assert _ids(database, "tasks") == ["acme.match", "beta.match", "match"]
    assert _ids(database, "similarity_types") == ["acme.shoes", "beta.shoes", "shoes"]
    assert _ids(database, "similarity_groups") == ["acme.red", "beta.red", "red"]
    with sqlite3.connect(database) as db:
        assert sorted(row[0] for row in db.execute("SELECT model_id FROM tasks")) == [
            "acme.task-match",
            "beta.task-match",
            "task-match",
        ]


async def test_another_tenants_catalog_resources_answer_not_found_like_missing_ones(catalog, keys):
    acme, beta = keys["acme"], keys["beta"]
    metadata = _metadata(acme)
    await catalog.CreateSimilarityType(
        C.CreateSimilarityTypeRequest(similarity_type_id="boots", similarity_type=C.SimilarityType(display_name="b")),
        metadata=metadata,
    )
    await catalog.CreateTask(C.CreateTaskRequest(task_id="secret", task=C.Task(display_name="s")), metadata=metadata)
    await catalog.CreateGroup(
        C.CreateGroupRequest(group_id="blue", group=C.Group(similarity_type="similarityTypes/boots")), metadata=metadata
    )

    for resource, missing, get in (
        ("tasks/secret", "tasks/nothing", lambda n: (catalog.GetTask, C.GetTaskRequest(name=n))),
        ("groups/blue", "groups/nothing", lambda n: (catalog.GetGroup, C.GetGroupRequest(name=n))),
        (
            "similarityTypes/boots",
            "similarityTypes/nothing",
            lambda n: (catalog.GetSimilarityType, C.GetSimilarityTypeRequest(name=n)),
        ),
    ):
        theirs = await _not_found(*get(resource), beta)
        absent = await _not_found(*get(missing), beta)
        assert theirs == absent.replace(missing, resource) == f"{resource} does not exist"

    update = field_mask_pb2.FieldMask(paths=["display_name"])
    await _not_found(
        catalog.UpdateTask,
        C.UpdateTaskRequest(task=C.Task(name="tasks/secret", display_name="x"), update_mask=update),
        beta,
    )
    await _not_found(
        catalog.UpdateGroup,
        C.UpdateGroupRequest(group=C.Group(name="groups/blue", display_name="x"), update_mask=update),
        beta,
    )
    await _not_found(catalog.DeleteTask, C.DeleteTaskRequest(name="tasks/secret"), beta)
    await _not_found(catalog.DeleteGroup, C.DeleteGroupRequest(name="groups/blue"), beta)
    await _not_found(catalog.DeleteSimilarityType, C.DeleteSimilarityTypeRequest(name="similarityTypes/boots"), beta)
    # beta cannot build on acme's type either
    await _not_found(
        catalog.CreateGroup,
        C.CreateGroupRequest(group_id="mine", group=C.Group(similarity_type="similarityTypes/boots")),
        beta,
    )
    assert (await catalog.ListTasks(C.ListTasksRequest(), metadata=_metadata(beta))).tasks == []

    task = await catalog.GetTask(C.GetTaskRequest(name="tasks/secret"), metadata=metadata)
    assert task.display_name == "s"
    group = await catalog.GetGroup(C.GetGroupRequest(name="groups/blue"), metadata=metadata)
    assert group.similarity_type == "similarityTypes/boots"
    kind = await catalog.GetSimilarityType(C.GetSimilarityTypeRequest(name="similarityTypes/boots"), metadata=metadata)
    assert (kind.display_name, kind.group_count) == ("b", 1)


async def test_training_images_are_kept_once_per_tenant(catalog, keys, tmp_path):
    for tenant in ("acme", "beta"):
        await _create_catalog(catalog, keys[tenant], tenant)
    data = png_bytes((200, 10, 10))
    made = {}
    for tenant in ("acme", "beta", "acme"):
        request = C.CreateTrainingImageRequest(image=common_pb2.Image(content=data), groups=["groups/red"])
        made.setdefault(tenant, []).append(await catalog.CreateTrainingImage(request, metadata=_metadata(keys[tenant])))
    first, again = made["acme"]
    assert first.name == again.name != made["beta"][0].name  # the same bytes: one image per tenant
    for tenant in ("acme", "beta"):
        images = (
            await catalog.ListTrainingImages(C.ListTrainingImagesRequest(), metadata=_metadata(keys[tenant]))
        ).images
        assert [(i.name, list(i.groups)) for i in images] == [(made[tenant][0].name, ["groups/red"])]
    await _not_found(catalog.GetTrainingImage, C.GetTrainingImageRequest(name=first.name), keys["beta"])
    await _not_found(
        catalog.AddGroupImages, C.AddGroupImagesRequest(group="groups/red", images=[first.name]), keys["beta"]
    )
    owners = {
        image_id.partition(".")[0] for image_id in _ids(tmp_path / "catalog" / "catalog.sqlite", "training_images")
    }
    assert owners == {"acme", "beta"}


def test_task_models_are_scoped_like_their_tasks():
    token = set_identity(Identity("acme", "k1", Role.ADMIN))
    try:
        assert task_model_id("acme.match") == "acme.task-match"
        assert public_model_name("models/acme.task-match/versions/2") == "models/task-match/versions/2"
        for answered in ("models/task-match/versions/2", "models/acme.task-match/versions/2"):
            assert stored_model_name(answered, "acme.match") == "models/acme.task-match/versions/2"
    finally:
        reset_identity(token)
    assert task_model_id("match") == "task-match"
    assert stored_model_name("models/task-match/versions/1", "match") == "models/task-match/versions/1"
    assert public_model_name("models/task-match") == "models/task-match"


# ---------------------------------------------------------------------------------------------
# Labeler


@dataclass
class _Indexer:
    """The router's collection calls as the labeler makes them: (collection id, caller's tenant)."""

    created: list[tuple[str, str]]

    async def create_collection(self, collection_id, collection, timeout=None) -> indexer_pb2.Collection:
        self.created.append((collection_id, _tenant()))
        return collection

    async def delete_collection(self, name, timeout=None) -> None:
        self.created.remove((name.removeprefix("collections/"), _tenant()))


def _tenant() -> str:
    identity = current_identity()
    return identity.tenant if identity is not None else ""


class _Embedding:
    async def resolve_model(self, name: str, field: str, timeout: float | None) -> str:
        return MODEL_VERSION


@dataclass
class _Labeler:
    stub: labeler_pb2_grpc.LabelerServiceStub
    indexer: _Indexer
    database: Path


@pytest.fixture
async def labeler(tmp_path, etcd_server, etcd_prefix, keys) -> AsyncIterator[_Labeler]:
    settings = auth_settings("labeler", tmp_path, etcd_server.endpoint, etcd_prefix)
    store = open_labeler_store(default_db_url(settings.data_dir))
    indexer = _Indexer([])
    backends = Backends(store, _Embedding(), Collections(indexer))  # type: ignore[arg-type]
    servicer = LabelerServicer(build_labeler(backends))
    app: App = build_server(
        settings, [binding(servicer, labeler_pb2, labeler_pb2_grpc, "LabelerService")], service_label="labeler"
    )
    app.on_close(store.close)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            yield _Labeler(
                labeler_pb2_grpc.LabelerServiceStub(channel), indexer, Path(settings.data_dir) / "labeler.sqlite"
            )
    finally:
        await app.stop(grace=0)


async def test_labeling_projects_are_private_to_their_tenant(labeler, keys):
    stub = labeler.stub
    for tenant in ("acme", "beta", "default"):
        project = await stub.CreateProject(
            labeler_pb2.CreateProjectRequest(project_id="birds", project=labeler_pb2.Project(display_name=tenant)),
            metadata=_metadata(keys[tenant]),
        )
        assert (project.name, project.collection) == ("projects/birds", "collections/lbl-birds")
    # the router gets each tenant's public collection id, with the tenant's identity forwarded
    assert labeler.indexer.created == [("lbl-birds", "acme"), ("lbl-birds", "beta"), ("lbl-birds", "default")]
    await stub.CreateProject(
        labeler_pb2.CreateProjectRequest(project_id="owls", project=labeler_pb2.Project(display_name="o")),
        metadata=_metadata(keys["acme"]),
    )

    for tenant in ("acme", "beta", "default"):
        metadata = _metadata(keys[tenant])
        projects = (await stub.ListProjects(labeler_pb2.ListProjectsRequest(), metadata=metadata)).projects
        expected = [("projects/birds", tenant)] + ([("projects/owls", "o")] if tenant == "acme" else [])
        assert [(p.name, p.display_name) for p in projects] == expected
        project = await stub.GetProject(labeler_pb2.GetProjectRequest(name="projects/birds"), metadata=metadata)
        assert project.display_name == tenant

    beta = keys["beta"]
    theirs = await _not_found(stub.GetProject, labeler_pb2.GetProjectRequest(name="projects/owls"), beta)
    absent = await _not_found(stub.GetProject, labeler_pb2.GetProjectRequest(name="projects/none"), beta)
    assert theirs == absent.replace("none", "owls") == "projects/owls does not exist"
    update = labeler_pb2.UpdateProjectRequest(
        project=labeler_pb2.Project(name="projects/owls", display_name="x"),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
    )
    await _not_found(stub.UpdateProject, update, beta)
    await _not_found(stub.DeleteProject, labeler_pb2.DeleteProjectRequest(name="projects/owls"), beta)
    await _not_found(stub.ListLabels, labeler_pb2.ListLabelsRequest(project="projects/owls"), beta)
    owls = await stub.GetProject(labeler_pb2.GetProjectRequest(name="projects/owls"), metadata=_metadata(keys["acme"]))
    assert owls.display_name == "o"

    await stub.DeleteProject(labeler_pb2.DeleteProjectRequest(name="projects/birds"), metadata=_metadata(beta))
    assert ("lbl-birds", "beta") not in labeler.indexer.created
    with sqlite3.connect(labeler.database) as db:
        rows = sorted(db.execute("SELECT id, collection FROM projects"))
    assert rows == [("acme.birds", "acme.lbl-birds"), ("acme.owls", "acme.lbl-owls"), ("birds", "lbl-birds")]
