"""Image intake: a `simmesh.v1.Image` resolved to encoded bytes, then decoded to an RGB picture.

    source = ImageSource(ImageLimits(allowed_hosts=("images.example.com", "*.cdn.example.com")),
                         blobstore=store)
    encoded = await source.resolve_batch(request.images, executor)    # bytes | SimmeshError each
    pictures = await decode_batch(encoded, source.limits, executor)   # PIL RGB image | SimmeshError

A bad item never fails the batch: each position holds either its result or the catalogue error
that explains it. Errors and their codes:

| reason                  | code               | when                                              |
|-------------------------|--------------------|---------------------------------------------------|
| IMAGE_EMPTY             | INVALID_ARGUMENT   | no source set, or zero bytes                      |
| IMAGE_BASE64_INVALID    | INVALID_ARGUMENT   | `base64` is not valid base64 (a `data:` URL is ok) |
| IMAGE_URL_INVALID       | INVALID_ARGUMENT   | `url` is not an absolute URL with a host          |
| IMAGE_URL_NOT_ALLOWED   | INVALID_ARGUMENT   | scheme or host outside the limits' allow-lists, also for any redirect hop |
| IMAGE_URI_NOT_ALLOWED   | INVALID_ARGUMENT   | `uri` is not inside the configured blob store     |
| IMAGE_FETCH_FAILED      | INVALID_ARGUMENT   | the server answered 4xx, or too many redirects: retrying will not help |
| IMAGE_FETCH_FAILED      | UNAVAILABLE        | 5xx, timeout, refused connection, store unreachable (retriable) |
| IMAGE_NOT_FOUND         | NOT_FOUND          | `uri` names a blob that does not exist            |
| IMAGE_TOO_LARGE         | RESOURCE_EXHAUSTED | more encoded bytes than `max_bytes`               |
| IMAGE_UNDECODABLE       | INVALID_ARGUMENT   | not an image Pillow can decode; names the detected format |
| IMAGE_TOO_MANY_PIXELS   | RESOURCE_EXHAUSTED | width x height above `max_pixels` (read from the header, before decoding) |

Downloads are streamed and cut off at `max_bytes` whatever Content-Length says; the whole
download must finish within `fetch_timeout`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import urllib3
from PIL import Image, ImageOps
from simmesh_proto.v1 import common_pb2

from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import (
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    SimmeshError,
    Unavailable,
)

MIB = 1024 * 1024
_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class ImageLimits:
    """What the embedder accepts.

    `allowed_hosts` holds exact host names (`images.example.com`) and `*`-prefixed suffix
    patterns: `*.example.com` matches any subdomain of example.com (not example.com itself),
    a lone `*` matches every host (the default). Hosts compare case-insensitively.
    `fetch_timeout` bounds connecting, each read, and the whole download.
    """

    max_bytes: int = 20 * MIB
    max_pixels: int = 40_000_000
    fetch_timeout: float = 10.0
    allowed_schemes: tuple[str, ...] = ("https", "http")
    allowed_hosts: tuple[str, ...] = ("*",)
    max_redirects: int = 3

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("max_bytes and max_pixels must be positive")
        if self.fetch_timeout <= 0:
            raise ValueError("fetch_timeout must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        object.__setattr__(self, "allowed_schemes", tuple(s.lower() for s in self.allowed_schemes))
        object.__setattr__(self, "allowed_hosts", tuple(h.lower().rstrip(".") for h in self.allowed_hosts))

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.allowed_hosts:
            if pattern.startswith("*"):
                if host.endswith(pattern[1:]) and host != pattern[1:].lstrip("."):
                    return True
            elif host == pattern:
                return True
        return False


# ---------------------------------------------------------------------------------------------
# Resolving sources to bytes


class ImageSource:
    """Turns each `simmesh.v1.Image` into its encoded bytes.

    `blobstore` serves `uri` sources: a URI must lie inside the store (`store.uri(key)` form,
    `s3://bucket/prefix/key` or `file:///root/key`); without a store every `uri` is refused.
    The HTTP pool is thread-safe and reused; `close()` releases its connections.
    """

    def __init__(
        self,
        limits: ImageLimits | None = None,
        blobstore: BlobStore | None = None,
        *,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.limits = limits or ImageLimits()
        self.blobstore = blobstore
        self._store_base = _store_base(blobstore) if blobstore is not None else None
        self._pool = pool or urllib3.PoolManager(maxsize=8, retries=False)

    def close(self) -> None:
        self._pool.clear()

    def read(self, image: common_pb2.Image, field: str = "image") -> bytes:
        """The image's encoded bytes (blocking: may fetch over the network)."""
        source = image.WhichOneof("source")
        if source == "content":
            data = image.content
        elif source == "base64":
            data = self._from_base64(image.base64, f"{field}.base64")
        elif source == "url":
            data = self._fetch(image.url, f"{field}.url")
        elif source == "uri":
            data = self._from_store(image.uri, f"{field}.uri")
        else:
            raise InvalidArgument(f"{field} has no source: set content, base64, url or uri",
                                  reason="IMAGE_EMPTY", field=field)
        if not data:
            raise InvalidArgument(f"{field} is empty (0 bytes)", reason="IMAGE_EMPTY",
                                  field=f"{field}.{source}")
        self._check_size(len(data), f"{field}.{source}")
        return data

    async def resolve(self, image: common_pb2.Image, field: str = "image",
                      executor: Executor | None = None) -> bytes:
        """`read` off the event loop for sources that do I/O or heavy work."""
        if image.WhichOneof("source") == "content":
            return self.read(image, field)
        return await asyncio.get_running_loop().run_in_executor(executor, self.read, image, field)

    async def resolve_batch(self, images: Sequence[common_pb2.Image], executor: Executor | None = None,
                            field: str = "images") -> list[bytes | SimmeshError]:
        """Every image resolved concurrently; a failing item holds its error, the others their bytes."""

        async def one(index: int, image: common_pb2.Image) -> bytes | SimmeshError:
            try:
                return await self.resolve(image, f"{field}[{index}]", executor)
            except SimmeshError as error:
                return error

        return list(await asyncio.gather(*(one(i, image) for i, image in enumerate(images))))

    # -- sources

    def _check_size(self, size: int, field: str) -> None:
        if size > self.limits.max_bytes:
            raise _too_large(size, self.limits.max_bytes, field)

    def _from_base64(self, text: str, field: str) -> bytes:
        if text.startswith("data:"):
            header, sep, text = text.partition(",")
            if not sep or not header.endswith(";base64"):
                raise InvalidArgument(f"{field} is a data URL without ';base64,'", reason="IMAGE_BASE64_INVALID",
                                      field=field)
        compact = "".join(text.split())
        if not compact:
            raise InvalidArgument(f"{field} is empty", reason="IMAGE_EMPTY", field=field)
        self._check_size(len(compact) * 3 // 4 - 2, field)
        alphabet = b"-_" if ("-" in compact or "_" in compact) else None
        padded = compact + "=" * (-len(compact) % 4)
        try:
            return base64.b64decode(padded, altchars=alphabet, validate=True)
        except (binascii.Error, ValueError) as error:
            raise InvalidArgument(f"{field} is not valid base64: {error}", reason="IMAGE_BASE64_INVALID",
                                  field=field) from None

    def _check_url(self, url: str, field: str) -> urllib.parse.SplitResult:
        try:
            parts = urllib.parse.urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as error:
            raise InvalidArgument(f"{field} is not a valid URL: {error}", reason="IMAGE_URL_INVALID",
                                  field=field) from None
        if parts.scheme and parts.scheme.lower() not in self.limits.allowed_schemes:
            raise InvalidArgument(
                f"{field}: scheme {parts.scheme!r} is not allowed (allowed: {', '.join(self.limits.allowed_schemes)})",
                reason="IMAGE_URL_NOT_ALLOWED", field=field, metadata={"scheme": parts.scheme},
            )
        if not parts.scheme or not host:
            raise InvalidArgument(f"{field} must be an absolute URL such as https://host/path, got {_redact(url)!r}",
                                  reason="IMAGE_URL_INVALID", field=field)
        if not self.limits.host_allowed(host):
            raise InvalidArgument(f"{field}: host {host!r} is not in the allowed hosts",
                                  reason="IMAGE_URL_NOT_ALLOWED", field=field, metadata={"host": host})
        return parts

    def _fetch(self, url: str, field: str) -> bytes:
        limits = self.limits
        deadline = time.monotonic() + limits.fetch_timeout
        timeout = urllib3.Timeout(connect=limits.fetch_timeout, read=limits.fetch_timeout)
        current = url
        for _hop in range(limits.max_redirects + 1):
            self._check_url(current, field)
            try:
                response = self._pool.request(
                    "GET", current, preload_content=False, redirect=False, retries=False, timeout=timeout,
                    headers={"Accept": "image/*", "User-Agent": "simmesh-embedder"},
                )
            except urllib3.exceptions.HTTPError as error:
                raise _fetch_unavailable(current, field, _cause(error)) from None
            try:
                location = response.headers.get("Location")
                if response.status in _REDIRECTS and location:
                    response.close()  # the redirect's body is not wanted
                    current = urllib.parse.urljoin(current, location)
                    continue
                if not 200 <= response.status < 300:
                    response.close()
                    raise _fetch_status(current, field, response.status)
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                    response.close()
                    raise _too_large(int(declared), limits.max_bytes, field)
                return self._read_body(response, current, field, deadline)
            finally:
                response.release_conn()
        raise InvalidArgument(f"{field}: more than {limits.max_redirects} redirects fetching {_redact(url)}",
                              reason="IMAGE_FETCH_FAILED", field=field)

    def _read_body(self, response: urllib3.BaseHTTPResponse, url: str, field: str, deadline: float) -> bytes:
        body = bytearray()
        try:
            for chunk in response.stream(_CHUNK):
                body += chunk
                if len(body) > self.limits.max_bytes:
                    response.close()  # the rest is never read; the connection is dropped
                    raise ResourceExhausted(
                        f"{field}: download passed the limit of {self.limits.max_bytes} bytes; stopped",
                        reason="IMAGE_TOO_LARGE", field=field, metadata={"limit_bytes": self.limits.max_bytes},
                    )
                if time.monotonic() > deadline:
                    response.close()
                    raise _fetch_unavailable(url, field, f"download not finished within {self.limits.fetch_timeout}s")
        except urllib3.exceptions.HTTPError as error:
            raise _fetch_unavailable(url, field, _cause(error)) from None
        return bytes(body)

    def _from_store(self, uri: str, field: str) -> bytes:
        store, base = self.blobstore, self._store_base
        if store is None or base is None:
            raise InvalidArgument(f"{field}: no object store is configured for uri sources",
                                  reason="IMAGE_URI_NOT_ALLOWED", field=field)
        if not uri.startswith(base) or len(uri) == len(base):
            raise InvalidArgument(f"{field}: {uri!r} is not inside the configured store {base!r}",
                                  reason="IMAGE_URI_NOT_ALLOWED", field=field)
        key = uri[len(base):]
        if base.startswith("file:"):
            key = urllib.parse.unquote(key)
        try:
            self._check_size(store.stat(key).size, field)
            return store.get_bytes(key)
        except NotFound:
            raise NotFound(f"{field}: {uri!r} does not exist", reason="IMAGE_NOT_FOUND", field=field) from None
        except InvalidArgument as error:
            raise InvalidArgument(f"{field}: {error.message}", reason="IMAGE_URI_NOT_ALLOWED", field=field) from None
        except ResourceExhausted:
            raise
        except SimmeshError as error:
            raise Unavailable(f"{field}: reading {uri!r} failed: {error.message}", reason="IMAGE_FETCH_FAILED",
                              field=field) from None


def _store_base(store: BlobStore) -> str:
    """The URI prefix of every key in `store` (`s3://bucket/prefix/`, `file:///root/`)."""
    probe = "k"
    return store.uri(probe)[: -len(probe)]


def _redact(url: str) -> str:
    """`url` without credentials, query or fragment (they may hold secrets)."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:
        return "<invalid URL>"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _cause(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    return str(reason or error)


def _too_large(size: int, limit: int, field: str) -> ResourceExhausted:
    return ResourceExhausted(f"{field} is {size} bytes, over the limit of {limit} bytes",
                             reason="IMAGE_TOO_LARGE", field=field,
                             metadata={"size_bytes": size, "limit_bytes": limit})


def _fetch_unavailable(url: str, field: str, why: str) -> Unavailable:
    return Unavailable(f"{field}: fetching {_redact(url)} failed: {why}", reason="IMAGE_FETCH_FAILED", field=field)


def _fetch_status(url: str, field: str, status: int) -> SimmeshError:
    message = f"{field}: fetching {_redact(url)} failed: HTTP {status}"
    if status < 500 and status != 429:
        return InvalidArgument(message, reason="IMAGE_FETCH_FAILED", field=field, metadata={"http_status": status})
    return Unavailable(message, reason="IMAGE_FETCH_FAILED", field=field, metadata={"http_status": status})


# ---------------------------------------------------------------------------------------------
# Decoding


def decode(data: bytes, limits: ImageLimits | None = None, field: str = "image") -> Image.Image:
    """`data` decoded to an upright RGB image (first frame of animations, alpha on white).

    The pixel count is checked from the header before any pixel is decoded.
    """
    limits = limits or ImageLimits()
    if not data:
        raise InvalidArgument(f"{field} is empty (0 bytes)", reason="IMAGE_EMPTY", field=field)
    if len(data) > limits.max_bytes:
        raise _too_large(len(data), limits.max_bytes, field)
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise _too_many_pixels_from(str(error), limits, field) from None
    except Exception:  # noqa: BLE001 - Pillow raises many types for unreadable headers
        raise InvalidArgument(f"{field} is not a recognised image (JPEG, PNG, WebP, GIF, BMP, TIFF)",
                              reason="IMAGE_UNDECODABLE", field=field) from None
    with image:
        width, height = image.size
        fmt = image.format or "unknown"
        if width * height > _pixel_limit(limits):
            raise ResourceExhausted(
                f"{field} is {width}x{height} = {width * height} pixels, over the limit of {_pixel_limit(limits)}",
                reason="IMAGE_TOO_MANY_PIXELS", field=field,
                metadata={"width": width, "height": height, "limit_pixels": _pixel_limit(limits)},
            )
        try:
            image.load()
            return to_rgb(_upright(image))
        except Image.DecompressionBombError as error:
            raise _too_many_pixels_from(str(error), limits, field) from None
        except Exception as error:  # noqa: BLE001 - corrupt data surfaces as OSError, ValueError, SyntaxError...
            raise InvalidArgument(f"{field}: the {fmt} image ({width}x{height}) could not be decoded: {error}",
                                  reason="IMAGE_UNDECODABLE", field=field, metadata={"format": fmt}) from None


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says; a broken EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - the pixels are fine, only the metadata is not
        return image.copy()


def _pixel_limit(limits: ImageLimits) -> int:
    """Our limit, never above Pillow's own bomb threshold (where it would warn instead)."""
    pillow = Image.MAX_IMAGE_PIXELS
    return min(limits.max_pixels, int(pillow)) if pillow else limits.max_pixels


def _too_many_pixels_from(pillow_message: str, limits: ImageLimits, field: str) -> ResourceExhausted:
    return ResourceExhausted(f"{field}: {pillow_message.split(',')[0]}; the limit is {_pixel_limit(limits)} pixels",
                             reason="IMAGE_TOO_MANY_PIXELS", field=field,
                             metadata={"limit_pixels": _pixel_limit(limits)})


_WHITE = (255, 255, 255)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: transparency composited on white, 16-bit/float scaled down."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _wide_gray_to_rgb(image)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in image.info) or (mode in ("L", "RGB") and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms  # only for the rare Lab TIFF

        return ImageCms.applyTransform(image, ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"))
    return image.convert("RGB")


def _wide_gray_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = 1.0 if values.size and np.nanmax(values) <= 1.0 else 255.0
    else:
        top = 65535.0 if image.mode.startswith("I;16") or (values.size and values.max() > 255) else 255.0
    gray = np.clip(np.nan_to_num(values) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2))


def _decode_or_error(item: bytes | SimmeshError, limits: ImageLimits, field: str) -> Image.Image | SimmeshError:
    if isinstance(item, SimmeshError):
        return item
    try:
        return decode(item, limits, field)
    except SimmeshError as error:
        return error


async def decode_batch(
    items: Sequence[bytes | SimmeshError],
    limits: ImageLimits | None = None,
    executor: Executor | None = None,
    field: str = "images",
) -> list[Image.Image | SimmeshError]:
    """Decodes every item in `executor`'s threads (Pillow releases the GIL while decoding).

    Items that are already errors (from `ImageSource.resolve_batch`) pass through unchanged; a
    failing item holds its error and never fails the others.
    """
    limits = limits or ImageLimits()
    loop = asyncio.get_running_loop()
    futures = [
        loop.run_in_executor(executor, _decode_or_error, item, limits, f"{field}[{i}]") for i, item in enumerate(items)
    ]
    return list(await asyncio.gather(*futures))
