"""S3BlobStore against a real S3 server (SeaweedFS `weed mini` with enforced credentials)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from simmesh.devstack.process import free_port
from simmesh.devstack.s3 import S3Server
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.blobstore_config import BlobStoreConfig, open_blobstore
from simmesh.kit.blobstore_s3 import S3BlobStore
from simmesh.kit.errors import NotFound, PermissionDenied, Unauthenticated, Unavailable

pytestmark = pytest.mark.integration


def test_put_get_list_delete(s3_blobstore: S3BlobStore, tmp_path: Path) -> None:
    store = s3_blobstore
    assert isinstance(store, BlobStore)
    for key in ["c/2", "c/1", "c/sub/3", "cat", "d/4"]:
        store.put_bytes(key, key.encode(), content_type="text/plain")

    assert store.get_bytes("c/sub/3") == b"c/sub/3"
    assert [b.key for b in store.list()] == ["c/1", "c/2", "c/sub/3", "cat", "d/4"]
    assert [b.key for b in store.list("c/")] == ["c/1", "c/2", "c/sub/3"]
    assert [b.key for b in store.list("c")] == ["c/1", "c/2", "c/sub/3", "cat"]
    assert [b.key for b in store.list("c/", recursive=False)] == ["c/1", "c/2"]
    info = store.stat("cat")
    assert (info.key, info.size) == ("cat", 3) and info.etag and info.modified.tzinfo is not None
    assert store.exists("cat") and not store.exists("dog")
    assert store.uri("c/1") == f"s3://{store.bucket}/c/1"

    store.delete("cat")
    store.delete("cat")  # deleting a missing key is not an error
    assert not store.exists("cat")
    assert store.delete_prefix("c/") == 3
    assert [b.key for b in store.list()] == ["d/4"]


def test_prefix_scopes_every_key(s3_server: S3Server, s3_blobstore: S3BlobStore) -> None:
    scoped = open_blobstore(
        BlobStoreConfig(
            url=f"s3://{s3_blobstore.bucket}/tenant/a",
            s3_endpoint=s3_server.endpoint,
            access_key=s3_server.access_key,
            secret_key=s3_server.secret_key,
            region=s3_server.region,
        )
    )
    scoped.put_bytes("x/1", b"one")
    assert s3_blobstore.get_bytes("tenant/a/x/1") == b"one"
    assert [b.key for b in scoped.list()] == ["x/1"]
    assert scoped.uri("x/1") == f"s3://{s3_blobstore.bucket}/tenant/a/x/1"
    assert scoped.delete_prefix("") == 1


def test_large_object_round_trip(s3_blobstore: S3BlobStore, tmp_path: Path) -> None:
    data = os.urandom(21 * 1024 * 1024 + 12345)  # more than one multipart part
    source = tmp_path / "big.bin"
    source.write_bytes(data)

    s3_blobstore.put_file("big/from-file.bin", source)
    s3_blobstore.put_bytes("big/from-bytes.bin", data)
    assert s3_blobstore.stat("big/from-file.bin").size == len(data)

    target = tmp_path / "copy.bin"
    s3_blobstore.get_to_file("big/from-file.bin", target)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert s3_blobstore.get_bytes("big/from-bytes.bin") == data


def test_missing_key_is_not_found(s3_blobstore: S3BlobStore, tmp_path: Path) -> None:
    for call in (
        lambda: s3_blobstore.get_bytes("no/such/key"),
        lambda: s3_blobstore.stat("no/such/key"),
        lambda: s3_blobstore.get_to_file("no/such/key", tmp_path / "out"),
    ):
        with pytest.raises(NotFound) as caught:
            call()
        assert caught.value.reason == "BLOB_NOT_FOUND"
        assert caught.value.metadata["key"] == "no/such/key"
    assert not (tmp_path / "out").exists()


def test_wrong_credentials_are_refused(s3_server: S3Server, s3_blobstore: S3BlobStore) -> None:
    s3_blobstore.put_bytes("secret", b"data")
    wrong = ((s3_server.access_key, "wrong-secret"), ("intruder", s3_server.secret_key), ("", ""))
    for access_key, secret_key in wrong:
        with pytest.raises((Unauthenticated, PermissionDenied)) as caught:
            S3BlobStore(s3_server.endpoint, s3_blobstore.bucket, "", access_key, secret_key, s3_server.region)
        assert caught.value.reason == "BLOB_STORE_ACCESS_DENIED"


def test_unreachable_server_is_unavailable() -> None:
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        S3BlobStore(f"http://127.0.0.1:{free_port()}", "bucket", "", "key", "secret", connect_timeout=1.0)
    assert caught.value.reason == "BLOB_STORE_UNAVAILABLE"
    assert time.monotonic() - started < 10


def test_data_survives_a_server_restart(tmp_path: Path) -> None:
    server = S3Server(tmp_path / "data", tmp_path / "logs")
    try:
        server.start()
        store = S3BlobStore(server.endpoint, "durable", "", server.access_key, server.secret_key, server.region)
        payload = os.urandom(5 * 1024 * 1024)
        store.put_bytes("snapshots/000001", payload)
        store.put_bytes("snapshots/000002", b"small")

        pid_before = server.pid
        server.stop()
        assert server.pid is None
        server.start()
        assert server.pid != pid_before

        store = S3BlobStore(server.endpoint, "durable", "", server.access_key, server.secret_key, server.region)
        assert [b.key for b in store.list("snapshots/")] == ["snapshots/000001", "snapshots/000002"]
        assert store.get_bytes("snapshots/000001") == payload
        assert store.get_bytes("snapshots/000002") == b"small"
    finally:
        server.stop()
