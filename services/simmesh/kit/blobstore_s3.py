"""Blob storage in an S3 bucket (`s3://`), through the minio SDK, with S3 failures mapped to the catalogue.

An unreachable S3 server is `Unavailable(reason=reasons.BLOB_STORE_UNAVAILABLE)` (also for S3's
transient InternalError/SlowDown), refused credentials `PermissionDenied` or `Unauthenticated` with
reason `BLOB_STORE_ACCESS_DENIED` (S3 answers a bad key on a HEAD request with a bare 403, which
reads as PermissionDenied).
"""

from __future__ import annotations

import contextlib
import io
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error, ServerError

from simmesh.kit import reasons
from simmesh.kit.blobstore import (
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    PART_SIZE,
    BlobInfo,
    atomic_write,
    blob_not_found,
    check_key,
    check_prefix,
)
from simmesh.kit.errors import (
    FailedPrecondition,
    Internal,
    NotFound,
    PermissionDenied,
    SimmeshError,
    Unauthenticated,
    Unavailable,
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
        ca_file: str = "",
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
            ca_certs=ca_file or None,  # None: the system's roots (urllib3 verifies https by default)
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
                atomic_write(Path(path), lambda out: _copy_stream(response, out))
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

    def presigned_url(self, key: str, lifetime: timedelta = timedelta(hours=1)) -> str:
        """An http(s) URL that reads the blob without credentials until `lifetime` has passed
        (signed locally; the endpoint is the one this store talks to)."""
        with _s3_errors(key):
            return self._client.presigned_get_object(self.bucket, self._name(key), expires=lifetime)


def _normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if not prefix:
        return ""
    check_key(prefix)
    return prefix + "/"


def _copy_stream(response, out: BinaryIO) -> None:
    for chunk in response.stream(CHUNK_SIZE):
        out.write(chunk)


_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}
_AUTHN_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
# Codes S3 defines as transient: the same request may succeed when retried.
_TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}

# S3 error codes -> the catalogue error, its message ({subject}, {code} and {bucket} filled in) and reason.
_S3_FAILURES: list[tuple[set[str], type[SimmeshError], str, str]] = [
    (_AUTHN_CODES, Unauthenticated, "the S3 server refused the credentials ({code})", reasons.BLOB_STORE_ACCESS_DENIED),
    (
        {"AccessDenied"},
        PermissionDenied,
        "the S3 server denied access to {subject!r}",
        reasons.BLOB_STORE_ACCESS_DENIED,
    ),
    (
        _TRANSIENT_CODES,
        Unavailable,
        "the S3 server failed on {subject!r} ({code}); retry",
        reasons.BLOB_STORE_UNAVAILABLE,
    ),
    ({"NoSuchBucket"}, FailedPrecondition, "bucket {bucket!r} does not exist", reasons.BLOB_BUCKET_NOT_FOUND),
]


@contextlib.contextmanager
def _s3_errors(subject: str) -> Iterator[None]:
    """Turns minio/urllib3 failures into catalogue errors naming `subject` (usually the key)."""
    try:
        yield
    except S3Error as error:
        if error.code in _NOT_FOUND_CODES:
            raise blob_not_found(subject) from None
        for codes, error_type, message, reason in _S3_FAILURES:
            if error.code in codes:
                text = message.format(subject=subject, code=error.code, bucket=error.bucket_name)
                raise error_type(text, reason=reason) from error
        raise Internal(
            f"S3 error on {subject!r}: {error.code} {error.message}", reason=reasons.BLOB_STORE_ERROR
        ) from error
    except (ServerError, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as error:
        raise Unavailable(
            f"S3 server unreachable or failing: {error}", reason=reasons.BLOB_STORE_UNAVAILABLE
        ) from error
