"""FileBlobStore: the embedded blob store behind the same interface as S3."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from simmesh.kit.blobstore import BlobStore, FileBlobStore
from simmesh.kit.blobstore_config import BlobStoreConfig, open_blobstore
from simmesh.kit.errors import InvalidArgument, NotFound


@pytest.fixture
def store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


def test_round_trips_bytes_and_files(store: FileBlobStore, tmp_path: Path) -> None:
    store.put_bytes("models/m1/1/model.onnx", b"\x00onnx\xff")
    assert store.get_bytes("models/m1/1/model.onnx") == b"\x00onnx\xff"

    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    store.put_file("images/a.jpg", source)
    target = tmp_path / "out" / "a.jpg"
    target.parent.mkdir()
    store.get_to_file("images/a.jpg", target)
    assert target.read_bytes() == source.read_bytes()

    info = store.stat("images/a.jpg")
    assert (info.key, info.size) == ("images/a.jpg", source.stat().st_size)
    assert info.modified.tzinfo is not None
    assert store.exists("images/a.jpg") and not store.exists("images/b.jpg")
    assert store.uri("images/a.jpg") == (store.root / "images" / "a.jpg").as_uri()
    assert isinstance(store, BlobStore)


def test_lists_by_prefix_in_key_order(store: FileBlobStore) -> None:
    for key in ["c/2", "c/1", "c/sub/3", "cat", "d/4"]:
        store.put_bytes(key, key.encode())

    assert [b.key for b in store.list()] == ["c/1", "c/2", "c/sub/3", "cat", "d/4"]
    assert [b.key for b in store.list("c/")] == ["c/1", "c/2", "c/sub/3"]
    assert [b.key for b in store.list("c")] == ["c/1", "c/2", "c/sub/3", "cat"]
    assert [b.key for b in store.list("c/", recursive=False)] == ["c/1", "c/2"]
    assert [b.key for b in store.list("", recursive=False)] == ["cat"]
    assert [b.size for b in store.list("c/sub/")] == [len(b"c/sub/3")]
    assert list(store.list("nothing/")) == []


def test_delete_and_delete_prefix(store: FileBlobStore) -> None:
    for key in ["a/1", "a/2", "a/deep/3", "b/1"]:
        store.put_bytes(key, b"x")

    store.delete("a/1")
    assert not store.exists("a/1")
    store.delete("a/1")  # deleting a missing key is not an error

    assert store.delete_prefix("a/") == 2
    assert [b.key for b in store.list()] == ["b/1"]
    assert not (store.root / "a").exists()  # empty folders go too
    assert store.delete_prefix("a/") == 0


def test_missing_key_is_not_found_naming_the_key(store: FileBlobStore, tmp_path: Path) -> None:
    store.put_bytes("dir/present", b"x")
    for call in (
        lambda: store.get_bytes("dir/absent"),
        lambda: store.stat("dir/absent"),
        lambda: store.get_to_file("dir/absent", tmp_path / "out"),
        lambda: store.get_bytes("dir"),  # a folder is not a blob
        lambda: store.get_bytes("dir/present/below"),
    ):
        with pytest.raises(NotFound) as caught:
            call()
        assert caught.value.reason == "BLOB_NOT_FOUND"
        assert caught.value.metadata["key"].startswith("dir")
        assert "dir" in caught.value.message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key", ["../outside", "a/../../outside", "/etc/passwd", "a//b", "a/./b", "", "a\\b"])
def test_keys_cannot_escape_the_root(store: FileBlobStore, key: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        store.put_bytes(key, b"x")
    assert caught.value.reason == "INVALID_BLOB_KEY"
    with pytest.raises(InvalidArgument):
        store.get_bytes(key)
    assert not (store.root.parent / "outside").exists()


def test_symlink_out_of_the_root_is_refused(store: FileBlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (store.root / "link").symlink_to(outside)
    with pytest.raises(InvalidArgument):
        store.put_bytes("link/file", b"x")
    assert list(outside.iterdir()) == []


def test_overwrite_is_atomic(store: FileBlobStore) -> None:
    old, new = b"o" * (4 * 1024 * 1024), b"n" * (4 * 1024 * 1024)
    store.put_bytes("snap", old)
    seen: set[str] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = store.get_bytes("snap")
            seen.add("old" if data == old else "new" if data == new else "torn")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(20):
            store.put_bytes("snap", new if i % 2 == 0 else old)
    finally:
        stop.set()
        reader.join()
    assert "torn" not in seen and seen
    assert store.get_bytes("snap") == old
    assert [p.name for p in store.root.iterdir()] == ["snap"]  # no temporary files left behind
    assert store.stat("snap").etag != ""


def test_failed_write_leaves_the_old_blob(store: FileBlobStore, tmp_path: Path) -> None:
    store.put_bytes("k", b"old")
    with pytest.raises(FileNotFoundError):
        store.put_file("k", tmp_path / "no-such-source")
    assert store.get_bytes("k") == b"old"
    assert [b.key for b in store.list()] == ["k"]


def test_open_blobstore_from_url(tmp_path: Path) -> None:
    store = open_blobstore(BlobStoreConfig(url=(tmp_path / "b").as_uri()))
    assert isinstance(store, FileBlobStore)
    store.put_bytes("x", b"1")
    assert (tmp_path / "b" / "x").read_bytes() == b"1"
    for url in ("file://relative/path", "ftp://host/x", "s3://", "nothing"):
        with pytest.raises(InvalidArgument) as caught:
            open_blobstore(BlobStoreConfig(url=url))
        assert caught.value.reason == "INVALID_BLOB_STORE_URL"
    assert "secret" not in repr(BlobStoreConfig(url="s3://b", secret_key="secret"))
