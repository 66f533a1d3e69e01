"""Image intake: sources resolved to bytes (inline, base64, HTTP, blob store) and decoded to RGB."""

from __future__ import annotations

import base64
import io
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from simmesh.devstack.process import free_port
from simmesh.imaging.decode import decode, decode_batch
from simmesh.imaging.limits import ImageLimits
from simmesh.imaging.source import ImageSource
from simmesh.kit.blobstore import FileBlobStore
from simmesh.kit.errors import SimmeshError
from simmesh_proto.v1 import common_pb2

W, H = 37, 23
LOOPBACK = ("127.0.0.1/32",)  # the test servers' network, which image URLs may not reach unless allowed


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def gradient(width: int = W, height: int = H) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=2))


def refused(call, code: grpc.StatusCode, reason: str) -> SimmeshError:
    with pytest.raises(SimmeshError) as caught:
        call()
    assert (caught.value.code, caught.value.reason) == (code, reason), caught.value
    return caught.value


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming width x height RGB, then one IDAT of junk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"not zlib data at all")


# --------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    "fmt,kwargs",
    [
        ("JPEG", {"quality": 95}),
        ("PNG", {}),
        ("WEBP", {"lossless": True}),
        ("GIF", {}),
        ("BMP", {}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
    ],
)
def test_every_format_decodes_to_rgb_of_the_right_size(fmt: str, kwargs: dict) -> None:
    original = gradient()
    image = decode(encode(original, fmt, **kwargs))
    assert image.mode == "RGB" and image.size == (W, H)
    if fmt != "GIF":  # GIF quantises to 256 colours
        diff = np.abs(np.asarray(image, np.int16) - np.asarray(original, np.int16))
        assert diff.mean() < 3


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (W, H), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert decode(data).getpixel((5, 5)) == (255, 0, 0)


def test_exif_rotated_jpeg_comes_out_upright() -> None:
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the viewer rotates 90 degrees clockwise
    image = decode(encode(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert image.size == (20, 40)
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_cmyk_jpeg_becomes_rgb() -> None:
    red = Image.new("CMYK", (W, H), (0, 255, 255, 0))
    image = decode(encode(red, "JPEG", quality=95))
    assert image.mode == "RGB"
    r, g, b = image.getpixel((5, 5))
    assert r > 240 and g < 15 and b < 15


def test_transparency_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (W, H), (255, 0, 0, 0))
    rgba.paste((255, 0, 0, 128), (0, 0, 10, H))  # a half-transparent red strip on the left
    image = decode(encode(rgba, "PNG"))
    assert image.getpixel((20, 5)) == (255, 255, 255)
    r, g, b = image.getpixel((5, 5))
    assert r == 255 and 120 <= g <= 135 and g == b

    gray_alpha = Image.new("LA", (W, H), (0, 0))
    assert decode(encode(gray_alpha, "PNG")).getpixel((1, 1)) == (255, 255, 255)
    assert decode(encode(rgba, "WEBP", lossless=True)).getpixel((20, 5)) == (255, 255, 255)


def test_palette_images_with_and_without_a_transparent_index() -> None:
    palette = Image.new("P", (W, H), 1)
    palette.putpalette([0, 0, 0, 0, 128, 0] + [0] * (254 * 3))
    palette.paste(0, (0, 0, 10, H))
    plain = decode(encode(palette, "PNG"))
    assert plain.getpixel((20, 5)) == (0, 128, 0) and plain.getpixel((5, 5)) == (0, 0, 0)
    transparent = decode(encode(palette, "GIF", transparency=0))
    assert transparent.getpixel((5, 5)) == (255, 255, 255) and transparent.getpixel((20, 5)) == (0, 128, 0)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grayscale_is_scaled_to_8_bits(fmt: str) -> None:
    values = np.zeros((H, W), np.uint16)
    values[:, :10] = 65535
    values[:, 10:20] = 32896  # 128 * 257
    image = decode(encode(Image.fromarray(values), fmt))
    assert image.mode == "RGB"
    assert image.getpixel((5, 5)) == (255, 255, 255)
    assert image.getpixel((15, 5)) == (128, 128, 128)
    assert image.getpixel((30, 5)) == (0, 0, 0)


@pytest.mark.parametrize("mode", ["L", "1", "I", "F"])
def test_other_modes_become_rgb(mode: str) -> None:
    fmt = "TIFF" if mode in ("I", "F") else "PNG"
    image = decode(encode(gradient().convert("L").convert(mode), fmt))
    assert image.mode == "RGB" and image.size == (W, H)


def test_empty_and_undecodable_bytes_are_refused() -> None:
    refused(lambda: decode(b""), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_EMPTY")
    refused(lambda: decode(b"definitely not an image" * 10), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_UNDECODABLE")
    truncated = encode(gradient(400, 300), "JPEG")[:2000]
    error = refused(lambda: decode(truncated), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_UNDECODABLE")
    assert "JPEG" in error.message and error.metadata["format"] == "JPEG"


def test_too_many_encoded_bytes_are_refused() -> None:
    data = encode(gradient(), "PNG")
    refused(
        lambda: decode(data, ImageLimits(max_bytes=len(data) - 1)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "IMAGE_TOO_LARGE",
    )


def test_decompression_bomb_header_is_refused_before_decoding() -> None:
    # 10^10 pixels claimed by a 60-byte file whose pixel data is junk: had the decoder run, the
    # error would be IMAGE_UNDECODABLE.
    bomb = png_header_only(100_000, 100_000)
    error = refused(lambda: decode(bomb), grpc.StatusCode.RESOURCE_EXHAUSTED, "IMAGE_TOO_MANY_PIXELS")
    assert "10000000000" in error.message


def test_large_compressible_image_is_refused_above_a_low_pixel_limit() -> None:
    data = encode(Image.new("RGB", (3000, 2000), (10, 20, 30)), "PNG")
    assert len(data) < 100_000  # highly compressible: the bytes limit would not catch it
    low = ImageLimits(max_pixels=1_000_000)
    error = refused(lambda: decode(data, low), grpc.StatusCode.RESOURCE_EXHAUSTED, "IMAGE_TOO_MANY_PIXELS")
    assert "3000x2000" in error.message
    # The header alone decides: the same file cut after its first chunks is refused the same way,
    # while under a high limit the cut file reaches the decoder and fails there.
    refused(lambda: decode(data[:200], low), grpc.StatusCode.RESOURCE_EXHAUSTED, "IMAGE_TOO_MANY_PIXELS")
    refused(lambda: decode(data[:200]), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_UNDECODABLE")


async def test_batch_with_one_bad_item_fails_only_that_index() -> None:
    good = encode(gradient(), "PNG")
    items = [good, b"garbage bytes", encode(gradient(10, 10), "JPEG"), png_header_only(50_000, 50_000)]
    with ThreadPoolExecutor(2) as pool:
        results = await decode_batch(items, ImageLimits(), pool)
    assert [type(r).__name__ for r in results] == ["Image", "InvalidArgument", "Image", "ResourceExhausted"]
    assert results[0].size == (W, H) and results[2].size == (10, 10)
    assert results[1].reason == "IMAGE_UNDECODABLE" and results[1].violations[0][0] == "images[1]"
    assert results[3].reason == "IMAGE_TOO_MANY_PIXELS"


# --------------------------------------------------------------------------- inline sources


async def test_content_and_base64_sources() -> None:
    data = encode(gradient(), "PNG")
    source = ImageSource()
    assert await source.resolve(common_pb2.Image(content=data)) == data
    text = base64.b64encode(data).decode()
    assert await source.resolve(common_pb2.Image(base64=text)) == data
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    assert await source.resolve(common_pb2.Image(base64=wrapped)) == data
    assert await source.resolve(common_pb2.Image(base64="data:image/png;base64," + text)) == data
    urlsafe = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert await source.resolve(common_pb2.Image(base64=urlsafe)) == data


def test_bad_inline_sources() -> None:
    source = ImageSource(ImageLimits(max_bytes=1000))
    refused(lambda: source.read(common_pb2.Image()), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_EMPTY")
    refused(lambda: source.read(common_pb2.Image(content=b"")), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_EMPTY")
    error = refused(
        lambda: source.read(common_pb2.Image(base64="abc$%^def")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMAGE_BASE64_INVALID",
    )
    assert error.violations[0][0] == "image.base64"
    refused(
        lambda: source.read(common_pb2.Image(base64="abcde")), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_BASE64_INVALID"
    )
    refused(
        lambda: source.read(common_pb2.Image(content=b"x" * 1001)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "IMAGE_TOO_LARGE",
    )
    refused(
        lambda: source.read(common_pb2.Image(base64=base64.b64encode(b"x" * 2000).decode())),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "IMAGE_TOO_LARGE",
    )


async def test_batch_of_sources_keeps_errors_at_their_index() -> None:
    data = encode(gradient(), "PNG")
    images = [common_pb2.Image(content=data), common_pb2.Image(base64="!!"), common_pb2.Image(content=data)]
    source = ImageSource()
    with ThreadPoolExecutor(2) as pool:
        resolved = await source.resolve_batch(images, pool)
        decoded = await decode_batch(resolved, source.limits, pool)
    assert resolved[0] == data and resolved[2] == data
    assert resolved[1].reason == "IMAGE_BASE64_INVALID" and resolved[1].violations[0][0] == "images[1].base64"
    assert decoded[1] is resolved[1]
    assert decoded[0].size == decoded[2].size == (W, H)


# ------------------------------------------------------------------------------- blob store


def test_uri_sources_read_through_the_blob_store(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "store")
    data = encode(gradient(), "PNG")
    store.put_bytes("images/cat one.png", data)
    source = ImageSource(ImageLimits(max_bytes=len(data) + 10), blobstore=store)
    assert source.read(common_pb2.Image(uri=store.uri("images/cat one.png"))) == data

    missing = refused(
        lambda: source.read(common_pb2.Image(uri=store.uri("images/dog.png"))),
        grpc.StatusCode.NOT_FOUND,
        "IMAGE_NOT_FOUND",
    )
    assert "dog.png" in missing.message
    outside = (tmp_path / "elsewhere.png").as_uri()
    refused(
        lambda: source.read(common_pb2.Image(uri=outside)), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_URI_NOT_ALLOWED"
    )
    refused(
        lambda: source.read(common_pb2.Image(uri=store.uri("images") + "/../../x.png")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMAGE_URI_NOT_ALLOWED",
    )
    refused(
        lambda: ImageSource().read(common_pb2.Image(uri=store.uri("images/cat one.png"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMAGE_URI_NOT_ALLOWED",
    )
    store.put_bytes("images/big.png", data + b"\0" * 100)
    refused(
        lambda: source.read(common_pb2.Image(uri=store.uri("images/big.png"))),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "IMAGE_TOO_LARGE",
    )


# ------------------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    """Serves files from `server.root`, plus a few misbehaving paths."""

    server: _LoopbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/slow":
            self.server.release.wait(10)
            return self._send(200, b"late")
        if path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header(
                "Location", path[len("/redirect") :] if path.count("/") == 2 else "http://" + path[len("/redirect/") :]
            )
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if path == "/error":
            return self._send(500, b"boom")
        if path == "/endless":  # no Content-Length: the body ends when the connection closes
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"\0" * 65536)
            except OSError:
                pass  # the client hung up, as it should
            self.close_connection = True
            return None
        file = self.server.root / path.lstrip("/")
        if not file.is_file():
            return self._send(404, b"not found")
        return self._send(200, file.read_bytes())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _LoopbackServer(ThreadingHTTPServer):
    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.release = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up early (size limit, timeout) are part of the tests

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[_LoopbackServer]:
    server = _LoopbackServer(tmp_path)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="loopback-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()  # wakes /slow handlers so their threads end
        server.shutdown()
        server.server_close()  # joins the handler threads
        thread.join(5)


def url_image(url: str) -> common_pb2.Image:
    return common_pb2.Image(url=url)


async def test_url_fetch_ok_and_decodes(http_root: _LoopbackServer) -> None:
    data = encode(gradient(), "JPEG")
    (http_root.root / "a.jpg").write_bytes(data)
    source = ImageSource(ImageLimits(allowed_networks=LOOPBACK))
    try:
        fetched = await source.resolve(url_image(f"{http_root.base}/a.jpg"))
        assert fetched == data
        assert decode(fetched).size == (W, H)
        # A redirect inside the allowed hosts is followed.
        assert await source.resolve(url_image(f"{http_root.base}/redirect/a.jpg")) == data
    finally:
        source.close()


def test_url_fetch_http_errors(http_root: _LoopbackServer) -> None:
    source = ImageSource(ImageLimits(allowed_networks=LOOPBACK))
    error = refused(
        lambda: source.read(url_image(f"{http_root.base}/missing.png")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMAGE_FETCH_FAILED",
    )
    # The message names the URL asked for, never the target's status code.
    assert "/missing.png" in error.message and "404" not in error.message and not error.metadata
    error = refused(
        lambda: source.read(url_image(f"{http_root.base}/error")), grpc.StatusCode.UNAVAILABLE, "IMAGE_FETCH_FAILED"
    )
    assert error.retriable and "500" not in error.message
    closed = free_port()
    error = refused(
        lambda: source.read(url_image(f"http://127.0.0.1:{closed}/a.png")),
        grpc.StatusCode.UNAVAILABLE,
        "IMAGE_FETCH_FAILED",
    )
    assert "refused" not in error.message.lower() and "errno" not in error.message.lower()


def test_url_fetch_too_large_stops_at_the_limit(http_root: _LoopbackServer) -> None:
    (http_root.root / "big.bin").write_bytes(b"\0" * 50_000)
    source = ImageSource(ImageLimits(max_bytes=10_000, allowed_networks=LOOPBACK))
    refused(
        lambda: source.read(url_image(f"{http_root.base}/big.bin")),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "IMAGE_TOO_LARGE",
    )
    # No Content-Length at all: a 64 MB body is cut off after the first chunks.
    started = time.monotonic()
    error = refused(
        lambda: source.read(url_image(f"{http_root.base}/endless")),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "IMAGE_TOO_LARGE",
    )
    assert time.monotonic() - started < 2
    assert "10000" in error.message


def test_url_hosts_and_schemes_outside_the_allow_list(http_root: _LoopbackServer) -> None:
    only_images = ImageSource(ImageLimits(allowed_hosts=("images.example.com", "*.cdn.example.com")))
    error = refused(
        lambda: only_images.read(url_image(f"{http_root.base}/a.jpg")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMAGE_URL_NOT_ALLOWED",
    )
    assert "127.0.0.1" in error.message
    assert only_images.limits.host_allowed("IMAGES.example.com")
    assert only_images.limits.host_allowed("eu.cdn.example.com")
    assert not only_images.limits.host_allowed("cdn.example.com")
    assert not only_images.limits.host_allowed("evilcdn.example.com")
    assert not only_images.limits.host_allowed("images.example.com.evil.org")

    refused(
        lambda: ImageSource().read(url_image("ftp://127.0.0.1/a.jpg")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMAGE_URL_NOT_ALLOWED",
    )
    refused(
        lambda: ImageSource().read(url_image("file:///etc/passwd")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMAGE_URL_NOT_ALLOWED",
    )
    refused(lambda: ImageSource().read(url_image("not a url")), grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_URL_INVALID")

    # A redirect must not lead out of the allow-list.
    (http_root.root / "a.jpg").write_bytes(encode(gradient(), "JPEG"))
    port = http_root.server_address[1]
    loopback_only = ImageSource(ImageLimits(allowed_hosts=("127.0.0.1",), allowed_networks=LOOPBACK))
    assert loopback_only.read(url_image(f"{http_root.base}/redirect/a.jpg"))
    error = refused(
        lambda: loopback_only.read(url_image(f"{http_root.base}/redirect/localhost:{port}/a.jpg")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMAGE_URL_NOT_ALLOWED",
    )
    assert "localhost" in error.message


def test_url_redirect_limit(http_root: _LoopbackServer) -> None:
    (http_root.root / "a.jpg").write_bytes(b"x")
    port = http_root.server_address[1]
    chain = f"{http_root.base}/redirect/127.0.0.1:{port}/redirect/a.jpg"  # two hops
    assert ImageSource(ImageLimits(max_redirects=2, allowed_networks=LOOPBACK)).read(url_image(chain)) == b"x"
    refused(
        lambda: ImageSource(ImageLimits(max_redirects=1, allowed_networks=LOOPBACK)).read(url_image(chain)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMAGE_FETCH_FAILED",
    )


def test_url_fetch_timeout(http_root: _LoopbackServer) -> None:
    source = ImageSource(ImageLimits(fetch_timeout=0.3, allowed_networks=LOOPBACK))
    started = time.monotonic()
    error = refused(
        lambda: source.read(url_image(f"{http_root.base}/slow")), grpc.StatusCode.UNAVAILABLE, "IMAGE_FETCH_FAILED"
    )
    assert time.monotonic() - started < 2
    assert "timed out" in error.message.lower()
