"""Blob storage behind one interface: a local directory (`file://`) or an S3 bucket (`s3://`).

Keys are relative, `/`-separated paths such as `collections/c1/snapshots/00042.faiss`; the same
key is valid in both stores. The interface is synchronous; async code calls it through
`asyncio.to_thread`.

    store = open_blobstore(BlobStoreConfig(url="s3://models/prod", s3_endpoint="http://minio:9000",
                                           access_key="...", secret_key="..."))
    store.put_bytes("mobilenet/1/model.onnx", data)

Errors come from the catalogue: a missing key is `NotFound(reason=reasons.BLOB_NOT_FOUND)`, a bad
key `InvalidArgument(reason=reasons.INVALID_BLOB_KEY)`, an unreachable S3 server
`Unavailable(reason=reasons.BLOB_STORE_UNAVAILABLE)` (also for S3's transient InternalError/SlowDown),
refused credentials `PermissionDenied` or `Unauthenticated` with reason `BLOB_STORE_ACCESS_DENIED`
(S3 answers a bad key on a HEAD request with a bare 403, which reads as PermissionDenied).
Deleting a key that does not exist is not an error, as in S3.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat as stat_module
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error, ServerError

from simmesh.kit import reasons
from simmesh.kit.errors import (
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Objects larger than this are uploaded to S3 in parts of this size.
PART_SIZE = 16 * 1024 * 1024
_CHUNK = 1024 * 1024
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


def _not_found(key: str) -> NotFound:
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
            raise _not_found(key) from None

    def get_to_file(self, key: str, path: Path) -> None:
        try:
            source = open(self._path(key), "rb")  # noqa: SIM115 - closed by the `with` below, out of this `try`
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise _not_found(key) from None
        with source:
            _atomic_write(Path(path), lambda out: _copy(source, out))

    def stat(self, key: str) -> BlobInfo:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(key) from None
        if not _is_file(st):
            raise _not_found(key)
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
                _atomic_write(path, fill)
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


def _atomic_write(path: Path, fill) -> None:
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
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(source: BinaryIO, out: BinaryIO) -> None:
    while chunk := source.read(_CHUNK):
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


class S3BlobStore:
    """Blobs as objects `prefix + key` in one S3 bucket, through the minio SDK.

    The bucket is created if it does not exist. Objects larger than PART_SIZE are uploaded as
    multipart uploads.
    """

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        prefix: str = "",
        access_key: str = "",
        secret_key: str = "",
        region: str = "us-east-1",
        secure: bool = False,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(
            endpoint if "://" in endpoint else f"{'https' if secure else 'http'}://{endpoint}"
        )
        self.endpoint = parsed.netloc
        self.bucket = bucket
        self.prefix = _normalise_prefix(prefix)
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(502, 503, 504)),
            maxsize=10,
        )
        self._client = Minio(
            parsed.netloc,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            secure=parsed.scheme == "https",
            http_client=http,
        )
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        with _s3_errors(f"bucket {self.bucket}"):
            if self._client.bucket_exists(self.bucket):
                return
            try:
                self._client.make_bucket(self.bucket)
            except S3Error as error:
                if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put_bytes(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        name = self._name(key)
        with _s3_errors(key):
            self._client.put_object(
                self.bucket, name, io.BytesIO(data), len(data), content_type=content_type, part_size=PART_SIZE
            )

    def put_file(self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        name = self._name(key)
        with _s3_errors(key):
            self._client.fput_object(self.bucket, name, str(path), content_type=content_type, part_size=PART_SIZE)

    def get_bytes(self, key: str) -> bytes:
        name = self._name(key)
        with _s3_errors(key):
            response = self._client.get_object(self.bucket, name)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def get_to_file(self, key: str, path: Path) -> None:
        name = self._name(key)
        with _s3_errors(key):
            response = self._client.get_object(self.bucket, name)
            try:
                _atomic_write(Path(path), lambda out: _copy_stream(response, out))
            finally:
                response.close()
                response.release_conn()

    def stat(self, key: str) -> BlobInfo:
        name = self._name(key)
        with _s3_errors(key):
            obj = self._client.stat_object(self.bucket, name)
        if obj.size is None or obj.etag is None or obj.last_modified is None:  # a HEAD answer carries all three
            raise Internal(
                f"the S3 server described {key!r} without size, ETag or Last-Modified", reason=reasons.BLOB_STORE_ERROR
            )
        return BlobInfo(key=key, size=obj.size, etag=obj.etag, modified=obj.last_modified)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except NotFound:
            return False
        return True

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[BlobInfo]:
        check_prefix(prefix)
        with _s3_errors(prefix):
            for obj in self._client.list_objects(self.bucket, prefix=self.prefix + prefix, recursive=recursive):
                if obj.is_dir:
                    continue
                yield BlobInfo(
                    key=obj.object_name[len(self.prefix) :], size=obj.size, etag=obj.etag, modified=obj.last_modified
                )

    def delete(self, key: str) -> None:
        name = self._name(key)
        with _s3_errors(key):
            self._client.remove_object(self.bucket, name)

    def delete_prefix(self, prefix: str) -> int:
        names = [self.prefix + info.key for info in self.list(prefix)]
        if not names:
            return 0
        with _s3_errors(prefix):
            failures = list(self._client.remove_objects(self.bucket, (DeleteObject(n) for n in names)))
        if failures:
            first = failures[0]
            raise Internal(
                f"could not delete {len(failures)} of {len(names)} blobs under {prefix!r}: "
                f"{first.code} {first.message}",
                reason=reasons.BLOB_STORE_ERROR,
            )
        return len(names)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._name(key)}"


def _normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if not prefix:
        return ""
    check_key(prefix)
    return prefix + "/"


def _copy_stream(response, out: BinaryIO) -> None:
    for chunk in response.stream(_CHUNK):
        out.write(chunk)


_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}
_AUTHN_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
# Codes S3 defines as transient: the same request may succeed when retried.
_TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}


@contextlib.contextmanager
def _s3_errors(subject: str) -> Iterator[None]:
    """Turns minio/urllib3 failures into catalogue errors naming `subject` (usually the key)."""
    try:
        yield
    except S3Error as error:
        if error.code in _NOT_FOUND_CODES:
            raise _not_found(subject) from None
        if error.code in _AUTHN_CODES:
            raise Unauthenticated(
                f"the S3 server refused the credentials ({error.code})", reason=reasons.BLOB_STORE_ACCESS_DENIED
            ) from error
        if error.code == "AccessDenied":
            raise PermissionDenied(
                f"the S3 server denied access to {subject!r}", reason=reasons.BLOB_STORE_ACCESS_DENIED
            ) from error
        if error.code in _TRANSIENT_CODES:
            raise Unavailable(
                f"the S3 server failed on {subject!r} ({error.code}); retry", reason=reasons.BLOB_STORE_UNAVAILABLE
            ) from error
        if error.code == "NoSuchBucket":
            raise FailedPrecondition(
                f"bucket {error.bucket_name!r} does not exist", reason=reasons.BLOB_BUCKET_NOT_FOUND
            ) from error
        raise Internal(
            f"S3 error on {subject!r}: {error.code} {error.message}", reason=reasons.BLOB_STORE_ERROR
        ) from error
    except (ServerError, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as error:
        raise Unavailable(
            f"S3 server unreachable or failing: {error}", reason=reasons.BLOB_STORE_UNAVAILABLE
        ) from error


@dataclass(frozen=True)
class BlobStoreConfig:
    """Where blobs live: `file:///abs/dir` or `s3://bucket/prefix` (then the S3 fields apply)."""

    url: str
    s3_endpoint: str = ""
    access_key: str = ""
    secret_key: str = field(default="", repr=False)
    region: str = "us-east-1"


def open_blobstore(config: BlobStoreConfig) -> BlobStore:
    parsed = urllib.parse.urlsplit(config.url)
    if parsed.scheme == "file":
        path = urllib.parse.unquote(parsed.path)
        if parsed.netloc not in ("", "localhost") or not path.startswith("/"):
            raise _bad_url(config.url, "file URLs need an absolute path: file:///abs/dir")
        return FileBlobStore(path)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise _bad_url(config.url, "s3 URLs need a bucket: s3://bucket/prefix")
        if not config.s3_endpoint:
            raise InvalidArgument(
                "an s3:// blob store needs an S3 endpoint", reason=reasons.INVALID_BLOB_STORE_URL, field="s3_endpoint"
            )
        return S3BlobStore(
            config.s3_endpoint,
            parsed.netloc,
            parsed.path.strip("/"),
            config.access_key,
            config.secret_key,
            config.region,
            secure=config.s3_endpoint.startswith("https://"),
        )
    raise _bad_url(config.url, "the scheme must be file:// or s3://")


def _bad_url(url: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid blob store URL {url!r}: {why}", reason=reasons.INVALID_BLOB_STORE_URL, field="url")
