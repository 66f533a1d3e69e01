"""Opening a blob store from its URL: `file:///abs/dir` or `s3://bucket/prefix`."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

from simmesh.kit import reasons
from simmesh.kit.blobstore import BlobStore, FileBlobStore
from simmesh.kit.blobstore_s3 import S3BlobStore
from simmesh.kit.errors import InvalidArgument


@dataclass(frozen=True)
class BlobStoreConfig:
    """Where blobs live: `file:///abs/dir` or `s3://bucket/prefix` (then the S3 fields apply)."""

    url: str
    s3_endpoint: str = ""
    access_key: str = ""
    secret_key: str = field(default="", repr=False)
    region: str = "us-east-1"
    ca_file: str = ""  # PEM CA bundle an https:// endpoint's certificate must chain to; empty = system roots


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
            ca_file=config.ca_file,
        )
    raise _bad_url(config.url, "the scheme must be file:// or s3://")


def _bad_url(url: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid blob store URL {url!r}: {why}", reason=reasons.INVALID_BLOB_STORE_URL, field="url")
