"""A `simmesh.v1.Image` (bytes, base64, URL or object-store URI) resolved to its encoded bytes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import Executor

import urllib3

from simmesh.imaging.addresses import Resolver
from simmesh.imaging.fetch import UrlFetcher
from simmesh.imaging.limits import ImageLimits
from simmesh.kit import reasons
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import InvalidArgument, NotFound, ResourceExhausted, SimmeshError, Unavailable
from simmesh_proto.v1 import common_pb2


class ImageSource:
    """Turns each `simmesh.v1.Image` into its encoded bytes.

        source = ImageSource(ImageLimits(allowed_hosts=("images.example.com", "*.cdn.example.com")),
                             blobstore=store)
        encoded = await source.resolve_batch(request.images, executor)    # bytes | SimmeshError each

    `blobstore` serves `uri` sources: a URI must lie inside the store (`store.uri(key)` form,
    `s3://bucket/prefix/key` or `file:///root/key`); without a store every `uri` is refused.
    `url` sources go through a `UrlFetcher`; `close()` releases its connections.

    A bad item never fails the batch: each position holds either its result or the catalogue error
    that explains it. URL errors never echo the target's status code, addresses or connection
    errors. Errors and their codes (the last two are `decode`'s):

    | reason                  | code               | when                                              |
    |-------------------------|--------------------|---------------------------------------------------|
    | IMAGE_EMPTY             | INVALID_ARGUMENT   | no source set, or zero bytes                      |
    | IMAGE_BASE64_INVALID    | INVALID_ARGUMENT   | `base64` is not valid base64 (a `data:` URL is ok) |
    | IMAGE_URL_INVALID       | INVALID_ARGUMENT   | `url` is not an absolute URL with a host          |
    | IMAGE_URL_NOT_ALLOWED   | INVALID_ARGUMENT   | scheme or host outside the lists, or the host resolves to a |
    |                         |                    | non-public address outside the allowed networks (any hop)  |
    | IMAGE_URI_NOT_ALLOWED   | INVALID_ARGUMENT   | `uri` is not inside the configured blob store     |
    | IMAGE_FETCH_FAILED      | INVALID_ARGUMENT   | answered without the image (4xx), or too many redirects    |
    | IMAGE_FETCH_FAILED      | UNAVAILABLE        | server error, timeout, no connection, unresolved host,     |
    |                         |                    | store unreachable (retriable)                              |
    | IMAGE_NOT_FOUND         | NOT_FOUND          | `uri` names a blob that does not exist            |
    | IMAGE_TOO_LARGE         | RESOURCE_EXHAUSTED | more encoded bytes than `max_bytes`               |
    | IMAGE_UNDECODABLE       | INVALID_ARGUMENT   | not an image Pillow can decode; names the detected format |
    | IMAGE_TOO_MANY_PIXELS   | RESOURCE_EXHAUSTED | width x height above `max_pixels` (from the header) |
    """

    def __init__(
        self,
        limits: ImageLimits | None = None,
        blobstore: BlobStore | None = None,
        *,
        pool: urllib3.PoolManager | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.limits = limits or ImageLimits()
        self.blobstore = blobstore
        self._store_base = _store_base(blobstore) if blobstore is not None else None
        self._fetcher = UrlFetcher(self.limits, pool, resolver)

    def close(self) -> None:
        self._fetcher.close()

    def read(self, image: common_pb2.Image, field: str = "image") -> bytes:
        """The image's encoded bytes (blocking: may fetch over the network)."""
        source = image.WhichOneof("source")
        if source == "content":
            data = image.content
        elif source == "base64":
            data = self._from_base64(image.base64, f"{field}.base64")
        elif source == "url":
            data = self._fetcher.fetch(image.url, f"{field}.url")
        elif source == "uri":
            data = self._from_store(image.uri, f"{field}.uri")
        else:
            raise InvalidArgument(
                f"{field} has no source: set content, base64, url or uri", reason=reasons.IMAGE_EMPTY, field=field
            )
        if not data:
            raise InvalidArgument(f"{field} is empty (0 bytes)", reason=reasons.IMAGE_EMPTY, field=f"{field}.{source}")
        self.limits.check_size(len(data), f"{field}.{source}")
        return data

    async def resolve(self, image: common_pb2.Image, field: str = "image", executor: Executor | None = None) -> bytes:
        """`read` off the event loop for sources that do I/O or heavy work."""
        if image.WhichOneof("source") == "content":
            return self.read(image, field)
        return await asyncio.get_running_loop().run_in_executor(executor, self.read, image, field)

    async def resolve_batch(
        self, images: Sequence[common_pb2.Image], executor: Executor | None = None, field: str = "images"
    ) -> list[bytes | SimmeshError]:
        """Every image resolved concurrently; a failing item holds its error, the others their bytes."""

        async def one(index: int, image: common_pb2.Image) -> bytes | SimmeshError:
            try:
                return await self.resolve(image, f"{field}[{index}]", executor)
            except SimmeshError as error:
                return error

        return list(await asyncio.gather(*(one(i, image) for i, image in enumerate(images))))

    def _from_base64(self, text: str, field: str) -> bytes:
        if text.startswith("data:"):
            header, sep, text = text.partition(",")
            if not sep or not header.endswith(";base64"):
                raise InvalidArgument(
                    f"{field} is a data URL without ';base64,'", reason=reasons.IMAGE_BASE64_INVALID, field=field
                )
        compact = "".join(text.split())
        if not compact:
            raise InvalidArgument(f"{field} is empty", reason=reasons.IMAGE_EMPTY, field=field)
        self.limits.check_size(len(compact) * 3 // 4 - 2, field)
        alphabet = b"-_" if ("-" in compact or "_" in compact) else None
        padded = compact + "=" * (-len(compact) % 4)
        try:
            return base64.b64decode(padded, altchars=alphabet, validate=True)
        except (binascii.Error, ValueError) as error:
            raise InvalidArgument(
                f"{field} is not valid base64: {error}", reason=reasons.IMAGE_BASE64_INVALID, field=field
            ) from None

    def _from_store(self, uri: str, field: str) -> bytes:
        store, base = self.blobstore, self._store_base
        if store is None or base is None:
            raise InvalidArgument(
                f"{field}: no object store is configured for uri sources",
                reason=reasons.IMAGE_URI_NOT_ALLOWED,
                field=field,
            )
        if not uri.startswith(base) or len(uri) == len(base):
            raise InvalidArgument(
                f"{field}: {uri!r} is not inside the configured store {base!r}",
                reason=reasons.IMAGE_URI_NOT_ALLOWED,
                field=field,
            )
        key = uri[len(base) :]
        if base.startswith("file:"):
            key = urllib.parse.unquote(key)
        try:
            self.limits.check_size(store.stat(key).size, field)
            return store.get_bytes(key)
        except NotFound:
            raise NotFound(f"{field}: {uri!r} does not exist", reason=reasons.IMAGE_NOT_FOUND, field=field) from None
        except InvalidArgument as error:
            raise InvalidArgument(
                f"{field}: {error.message}", reason=reasons.IMAGE_URI_NOT_ALLOWED, field=field
            ) from None
        except ResourceExhausted:
            raise
        except SimmeshError as error:
            raise Unavailable(
                f"{field}: reading {uri!r} failed: {error.message}", reason=reasons.IMAGE_FETCH_FAILED, field=field
            ) from None


def _store_base(store: BlobStore) -> str:
    """The URI prefix of every key in `store` (`s3://bucket/prefix/`, `file:///root/`)."""
    probe = "k"
    return store.uri(probe)[: -len(probe)]
