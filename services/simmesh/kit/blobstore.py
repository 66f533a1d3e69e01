"""Blob storage behind one interface, and its local-directory (`file://`) implementation.

Keys are relative, `/`-separated paths such as `collections/c1/snapshots/00042.faiss`; the same
key is valid in every store. The interface is synchronous; async code calls it through
`asyncio.to_thread`. `simmesh.kit.blobstore_s3` holds the S3 implementation and
`simmesh.kit.blobstore_config` opens a store from its URL.

Errors come from the catalogue: a missing key is `NotFound(reason=reasons.BLOB_NOT_FOUND)`, a bad
key `InvalidArgument(reason=reasons.INVALID_BLOB_KEY)`. Deleting a key that does not exist is not
an error, as in S3.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_module
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from simmesh.kit import reasons
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, NotFound

DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Objects larger than this are uploaded to S3 in parts of this size.
PART_SIZE = 16 * 1024 * 1024
CHUNK_SIZE = 1024 * 1024
# Temporary files of in-flight writes in a FileBlobStore; keys may not use this name prefix.
_TMP_MARK = ".simmesh-tmp-"


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    etag: str  # an opaque version tag: changes when the blob is rewritten
    modified: datetime  # timezone-aware, UTC


@runtime_checkable
class BlobStore(Protocol):
    def put_bytes(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None: ...

    def put_file(self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def get_to_file(self, key: str, path: Path) -> None:
        """Writes the blob to `path`, replacing it atomically."""

    def stat(self, key: str) -> BlobInfo: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[BlobInfo]:
        """Blobs whose key starts with `prefix` (a plain string prefix), in key order.

        With `recursive=False` only blobs at the prefix's own level are listed (no `/` after the
        prefix); deeper "folders" are skipped.
        """

    def delete(self, key: str) -> None:
        """Removes the blob; a missing key is not an error."""

    def delete_prefix(self, prefix: str) -> int:
        """Removes every blob under `prefix`; returns how many were removed."""

    def uri(self, key: str) -> str: ...


def check_key(key: str) -> str:
    """`key` if it is a valid relative blob key, else InvalidArgument."""
    if not isinstance(key, str) or not key:
        raise InvalidArgument("blob key must be a non-empty string", reason=reasons.INVALID_BLOB_KEY, field="key")
    _check_segments(key, key.split("/"))
    return key


def check_prefix(prefix: str) -> str:
    """`prefix` if it is empty or a valid key prefix (may end with `/`), else InvalidArgument."""
    if not isinstance(prefix, str):
        raise InvalidArgument("blob prefix must be a string", reason=reasons.INVALID_BLOB_KEY, field="prefix")
    if prefix:
        segments = prefix.split("/")
        _check_segments(prefix, segments[:-1] if segments[-1] == "" else segments)
    return prefix


def _check_segments(key: str, segments: list[str]) -> None:
    def bad(why: str) -> InvalidArgument:
        return InvalidArgument(
            f"invalid blob key {key!r}: {why}", reason=reasons.INVALID_BLOB_KEY, field="key", metadata={"key": key}
        )

    if key.startswith("/"):
        raise bad("must be relative, not start with '/'")
    if "\x00" in key or "\\" in key:
        raise bad("must not contain NUL or backslash")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise bad("empty, '.' and '..' path segments are not allowed")
        if segment.startswith(_TMP_MARK):
            raise bad(f"segments may not start with {_TMP_MARK!r}")


def blob_not_found(key: str) -> NotFound:
    return NotFound(f"blob {key!r} not found", reason=reasons.BLOB_NOT_FOUND, metadata={"key": key})


class FileBlobStore:
    """Blobs as files under `root`. Writes go to a temporary file that is fsynced and renamed
    over the target, so readers see the old or the new blob, never a partial one."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        if not path.resolve().is_relative_to(self.root):
            raise InvalidArgument(
                f"invalid blob key {key!r}: leaves the store's root",
                reason=reasons.INVALID_BLOB_KEY,
                field="key",
                metadata={"key": key},
            )
        return path

    def put_bytes(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        self._write(key, lambda out: out.write(data))

    def put_file(self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        with open(path, "rb") as source:
            self._write(key, lambda out: _copy(source, out))

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise blob_not_found(key) from None

    def get_to_file(self, key: str, path: Path) -> None:
        try:
            source = open(self._path(key), "rb")  # noqa: SIM115 - closed by the `with` below, out of this `try`
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise blob_not_found(key) from None
        with source:
            atomic_write(Path(path), lambda out: _copy(source, out))

    def stat(self, key: str) -> BlobInfo:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise blob_not_found(key) from None
        if not _is_file(st):
            raise blob_not_found(key)
        return _info(key, st)

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except OSError:
            return False

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[BlobInfo]:
        check_prefix(prefix)
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base
        if not start.is_dir():
            return
        for key in sorted(self._keys_under(start, base, prefix, recursive)):
            try:
                st = (self.root / key).stat()
            except FileNotFoundError:
                continue  # removed while listing
            yield _info(key, st)

    def _keys_under(self, start: Path, base: str, prefix: str, recursive: bool) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(start):
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if not recursive:
                dirnames.clear()
            for name in filenames:
                key = rel + name
                if not name.startswith(_TMP_MARK) and key.startswith(prefix):
                    yield key

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return  # nothing stored under this key
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        removed = 0
        for info in list(self.list(prefix)):
            self.delete(info.key)
            removed += 1
        return removed

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def _write(self, key: str, fill) -> None:
        path = self._path(key)
        for attempt in range(3):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, fill)
                return
            except FileNotFoundError:
                if attempt == 2:  # the directory kept vanishing under a concurrent delete
                    raise
            except (IsADirectoryError, NotADirectoryError, FileExistsError):
                raise FailedPrecondition(
                    f"blob key {key!r} clashes with an existing key used as a folder (or the reverse)",
                    reason=reasons.BLOB_KEY_CONFLICT,
                    metadata={"key": key},
                ) from None

    def _prune(self, directory: Path) -> None:
        """Removes empty folders left by a delete, up to the root."""
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def atomic_write(path: Path, fill) -> None:
    tmp = path.with_name(f"{_TMP_MARK}{path.name}.{uuid.uuid4().hex}")
    try:
        with open(tmp, "xb") as out:
            fill(out)
            out.flush()
            os.fsync(out.fileno())
        if path.is_dir():
            raise IsADirectoryError(str(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Makes the entries just created, renamed or removed in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(source: BinaryIO, out: BinaryIO) -> None:
    while chunk := source.read(CHUNK_SIZE):
        out.write(chunk)


def _is_file(st: os.stat_result) -> bool:
    return stat_module.S_ISREG(st.st_mode)


def _info(key: str, st: os.stat_result) -> BlobInfo:
    return BlobInfo(
        key=key,
        size=st.st_size,
        etag=f"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}",
        modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
    )
