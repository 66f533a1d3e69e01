"""The catalog on production components: training images in a real S3 server, and the catalog's
tests again with the metadata in a real PostgreSQL (skipped where PostgreSQL or its driver is
not installed: CI installs Debian's `postgresql` and `psycopg2-binary` for them)."""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from fixtures.catalog import Catalog, open_catalog
from fixtures.infra import started
from support.models import png_bytes
from unit.test_catalog_groups import (  # noqa: F401 - collected again here, on PostgreSQL
    test_a_group_never_mixes_images_and_groups,
    test_a_task_with_unknown_types_is_refused_and_not_stored,
    test_cycles_are_refused_with_their_path,
    test_deleting_a_type_deletes_its_groups,
    test_group_crud_search_and_test_marking,
    test_groups_of_groups_members_and_parents,
    test_racing_changes_keep_the_rules,
    test_similarity_type_crud,
    test_similarity_types_page_through_every_item_once,
    test_task_crud_and_types,
)
from unit.test_catalog_images import (  # noqa: F401 - collected again here, on PostgreSQL
    test_a_bad_item_of_a_batch_fails_alone,
    test_deleting_an_image_removes_it_from_groups_and_the_store,
    test_images_are_stored_once_per_content_and_join_groups,
    test_the_training_graph_and_versions_outliving_groups,
    test_versions_added_by_training_are_listed_and_chosen,
)

from simmesh.catalog.settings import CatalogSettings
from simmesh.devstack.process import free_port, port_open
from simmesh.devstack.s3 import S3Server
from simmesh.kit.blobstore import FileBlobStore
from simmesh.kit.blobstore_s3 import S3BlobStore
from simmesh_proto.v1 import catalog_pb2 as C
from simmesh_proto.v1 import common_pb2

pytestmark = pytest.mark.integration


# ---------------------------------------------------------------------------------------------
# S3


@pytest.fixture
async def s3_catalog(s3_server: S3Server, tmp_path: Path) -> AsyncIterator[tuple[Catalog, S3BlobStore]]:
    bucket = f"catalog-{uuid.uuid4().hex[:12]}"
    settings = CatalogSettings(
        host="127.0.0.1",
        port=0,
        data_dir=str(tmp_path),
        blob_url=f"s3://{bucket}/catalog",
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_region=s3_server.region,
    )
    reader = S3BlobStore(
        s3_server.endpoint, bucket, "catalog", s3_server.access_key, s3_server.secret_key, s3_server.region
    )
    try:
        async for catalog in open_catalog(settings, f"sqlite:///{tmp_path / 'catalog.sqlite'}", None):
            yield catalog, reader
    finally:
        reader.delete_prefix("")
        s3_server.client().remove_bucket(bucket)


async def test_training_images_live_in_s3(s3_catalog):
    catalog, bucket = s3_catalog
    stub = catalog.stub
    await stub.CreateSimilarityType(C.CreateSimilarityTypeRequest(similarity_type_id="shoes"))
    await stub.CreateGroup(C.CreateGroupRequest(group_id="red", group=C.Group(similarity_type="similarityTypes/shoes")))
    data = png_bytes((220, 30, 30), size=(64, 48), fmt="JPEG")
    sha = hashlib.sha256(data).hexdigest()
    key = f"images/{sha[:2]}/{sha}"

    image = await stub.CreateTrainingImage(
        C.CreateTrainingImageRequest(image=common_pb2.Image(content=data), groups=["groups/red"])
    )
    assert image.uri == f"s3://{bucket.bucket}/catalog/{key}"
    assert bucket.get_bytes(key) == data and (image.width, image.height) == (64, 48)

    # Read back through the catalog's own store by URI: the same image, not a second one.
    again = await stub.CreateTrainingImage(C.CreateTrainingImageRequest(image=common_pb2.Image(uri=image.uri)))
    assert again.name == image.name
    assert [b.key for b in bucket.list("images/")] == [key]

    graph = catalog.store.training_graph  # the trainer finds the bytes by key
    await stub.CreateTask(C.CreateTaskRequest(task_id="t", task=C.Task(similarity_types=["similarityTypes/shoes"])))
    located = graph("t").images[image.name.split("/")[1]]
    assert bucket.get_bytes(located.blob_key) == data

    await stub.DeleteTrainingImage(C.DeleteTrainingImageRequest(name=image.name))
    assert not bucket.exists(key)


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


class _Postgres:
    """A throwaway PostgreSQL cluster on loopback with trust auth, run as the `postgres` user
    when the tests run as root (PostgreSQL refuses to run as root)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="simmesh-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.process: subprocess.Popen | None = None

    def _run(self, *argv: str) -> None:
        subprocess.run(
            [str(self.bin_dir / argv[0]), *argv[1:]],
            check=True,
            user=self.user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "simmesh", "-E", "UTF8", "--no-locale")
        with open(self.root / "postgres.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(self.root),
                    "-c",
                    "fsync=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self.user,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start: {(self.root / 'postgres.log').read_text()[-2000:]}")
            time.sleep(0.2)

    def url(self, database: str) -> str:
        return f"postgresql://simmesh@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg2

        name = f"catalog_{uuid.uuid4().hex[:12]}"
        connection = psycopg2.connect(self.url("postgres"))
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name}")
        finally:
            connection.close()
        return name

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # smart shutdown: waits for sessions to end, so bounded below
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[_Postgres]:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (initdb not found); `apt-get install postgresql` to run these")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("the PostgreSQL driver is not installed; `pip install psycopg2-binary` to run these")
    with started(_Postgres(bin_dir)) as server:
        yield server


@pytest.fixture
async def catalog(postgres: _Postgres, tmp_path: Path) -> AsyncIterator[Catalog]:
    """The unit tests' catalog with its metadata in PostgreSQL."""
    url = postgres.url(postgres.create_database())
    settings = CatalogSettings(host="127.0.0.1", port=0, data_dir=str(tmp_path), catalog_db_url=url)
    async for opened in open_catalog(settings, url, FileBlobStore(tmp_path / "blobs")):
        yield opened


async def test_postgres_holds_the_catalog(catalog):
    stub = catalog.stub
    await stub.CreateSimilarityType(C.CreateSimilarityTypeRequest(similarity_type_id="shoes"))
    assert catalog.store.dialect == "postgresql"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateSimilarityType(C.CreateSimilarityTypeRequest(similarity_type_id="shoes"))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
