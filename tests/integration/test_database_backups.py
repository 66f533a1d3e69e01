"""Backups of the catalog's and the labeler's SQLite databases in a real S3 server: taken while the
service runs, restored into the live service, which then answers with the backed-up state."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from fixtures.status import reason_of

from simmesh.catalog.app import build_app
from simmesh.catalog.settings import CatalogSettings
from simmesh.devstack.s3 import S3Server
from simmesh.kit.blobstore_s3 import S3BlobStore
from simmesh.kit.database_backups import DatabaseBackups
from simmesh.kit.errors import FailedPrecondition
from simmesh.labeler.records import NewProject
from simmesh.labeler.store import open_labeler_store
from simmesh_client import Client, ClientConfig
from simmesh_client.cli import main
from simmesh_proto.v1 import backup_pb2, backup_pb2_grpc, catalog_pb2_grpc
from simmesh_proto.v1 import catalog_pb2 as C

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(s3_server: S3Server) -> Iterator[tuple[str, S3BlobStore]]:
    name = f"backups-{uuid.uuid4().hex[:12]}"
    store = S3BlobStore(s3_server.endpoint, name, "meta", s3_server.access_key, s3_server.secret_key, s3_server.region)
    yield name, store
    store.delete_prefix("")


@pytest.fixture
async def catalog(s3_server: S3Server, bucket, tmp_path: Path) -> AsyncIterator[tuple[grpc.aio.Channel, str]]:
    """A channel to a catalog server keeping its blobs in `bucket`, and the server's address."""
    settings = CatalogSettings(
        host="127.0.0.1",
        port=0,
        data_dir=str(tmp_path),
        blob_url=f"s3://{bucket[0]}/meta",
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_region=s3_server.region,
    )
    app = await build_app(settings)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            yield channel, app.address
    finally:
        await app.stop(grace=0)


async def test_a_catalog_backup_restores_the_backed_up_tasks_into_the_live_service(catalog, bucket):
    stub = catalog_pb2_grpc.CatalogServiceStub(catalog[0])
    backups = backup_pb2_grpc.DatabaseBackupServiceStub(catalog[0])
    await stub.CreateSimilarityType(C.CreateSimilarityTypeRequest(similarity_type_id="shoes"))
    await stub.CreateTask(C.CreateTaskRequest(task_id="kept", task=C.Task(display_name="before")))

    backup = await backups.BackupDatabase(backup_pb2.BackupDatabaseRequest(backup_id="b1"))
    assert (backup.name, backup.service) == ("databaseBackups/b1", "catalog") and backup.size_bytes > 0
    assert bucket[1].exists("backups/databases/catalog/b1.sqlite")

    await stub.CreateTask(C.CreateTaskRequest(task_id="later"))
    await stub.UpdateTask(
        C.UpdateTaskRequest(
            task=C.Task(name="tasks/kept", display_name="after"), update_mask={"paths": ["display_name"]}
        )
    )
    await backups.RestoreDatabase(backup_pb2.RestoreDatabaseRequest(backup="databaseBackups/b1"))

    assert (await stub.GetTask(C.GetTaskRequest(name="tasks/kept"))).display_name == "before"
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.GetTask(C.GetTaskRequest(name="tasks/later"))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    # the restored database takes writes
    await stub.CreateTask(C.CreateTaskRequest(task_id="again"))
    listed = await backups.ListDatabaseBackups(backup_pb2.ListDatabaseBackupsRequest())
    assert [b.name for b in listed.backups] == ["databaseBackups/b1"]

    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await backups.RestoreDatabase(backup_pb2.RestoreDatabaseRequest(backup="databaseBackups/nope"))
    assert (unknown.value.code(), reason_of(unknown.value)) == (grpc.StatusCode.NOT_FOUND, "BACKUP_NOT_FOUND")
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await backups.BackupDatabase(backup_pb2.BackupDatabaseRequest(backup_id="b1"))
    assert (again.value.code(), reason_of(again.value)) == (grpc.StatusCode.ALREADY_EXISTS, "BACKUP_EXISTS")


def test_a_labeler_backup_restores_its_projects(bucket, tmp_path: Path):
    store = open_labeler_store(f"sqlite:///{tmp_path / 'labeler.sqlite'}")
    backups = DatabaseBackups(store.database, bucket[1], "labeler")
    try:
        store.create_project(NewProject("kept", "models/color", "1", "collections/kept", display_name="before"))
        backups.backup("b1")
        store.update_project("kept", {"display_name": "after"})
        store.create_project(NewProject("later", "models/color", "1", "collections/later"))
        backups.restore("b1")
        assert store.get_project("kept").display_name == "before"
        assert not store.has_project("later")
    finally:
        store.close()


def test_a_postgresql_database_is_refused_with_the_reason_naming_its_own_tools(bucket):
    class Postgres:
        dialect = "postgresql"

    with pytest.raises(FailedPrecondition) as refused:
        DatabaseBackups(Postgres(), bucket[1], "catalog").backup("b1")  # type: ignore[arg-type]
    assert refused.value.reason == "DATABASE_NOT_SQLITE" and "pg_dump" in str(refused.value)


async def test_simctl_backs_up_and_restores_the_mesh_metadata(catalog, cluster, capsys):
    """`simctl backup` then `simctl restore`: the catalog's task as backed up, the deleted collection
    back; the labeler, not running here, is reported as skipped."""
    tasks = catalog_pb2_grpc.CatalogServiceStub(catalog[0])
    await tasks.CreateTask(C.CreateTaskRequest(task_id="kept", task=C.Task(display_name="before")))
    flags = ["--indexer", cluster.router_address, "--catalog", catalog[1], "--labeler", "127.0.0.1:1", "--timeout", "5"]
    with Client(ClientConfig(indexer_address=cluster.router_address)) as client:
        await asyncio.to_thread(client.indexer.create_collection, "shop", 4)
        await asyncio.to_thread(client.indexer.insert, "shop", [{"_id": "a", "_vector": [1.0, 0.0, 0.0, 0.0], "n": 1}])
        assert await asyncio.to_thread(main, [*flags, "--json", "backup", "--id", "m1"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["databases"] == {"catalog": "databaseBackups/m1"}
        assert report["collections"] == {"collections/shop": "snapshots/m1-shop"} and "labeler" in report["skipped"]

        await tasks.UpdateTask(
            C.UpdateTaskRequest(
                task=C.Task(name="tasks/kept", display_name="after"), update_mask={"paths": ["display_name"]}
            )
        )
        await asyncio.to_thread(client.indexer.delete_collection, "shop")
        assert await asyncio.to_thread(main, [*flags, "--json", "restore", "m1"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["collections"] == {"collections/shop": "snapshots/m1-shop"}
        assert (await tasks.GetTask(C.GetTaskRequest(name="tasks/kept"))).display_name == "before"
        found = await asyncio.to_thread(client.indexer.get_records, "shop", ["a"])
        assert [(r.id, r.metadata["n"]) for r in found.records] == [("a", 1)]
