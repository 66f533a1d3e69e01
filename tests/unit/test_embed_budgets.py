"""An embedder process keeps its memory bounded whatever one request brings, and slow URLs do not hold up inline images.

The embedder runs as its own process (`python -m simmesh.embedder`) with its default budgets, so
its resident memory (VmRSS, VmHWM from /proc/<pid>/status) is its own.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import numpy as np
import pytest
from fixtures.status import bad_request, reason_of
from PIL import Image
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh.devstack.process import ManagedProcess
from simmesh.devstack.service import start_service
from simmesh.imaging.budget import Budgets
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")

MIB = 1024 * 1024
# What one request may add to the embedder's peak resident memory: the default decode budget's
# pixels as RGB, twice (a picture and its resized copy), and 128 MiB for the request and replies.
# Decoding all 512 images of the served request at once (as before the budgets) needs
# 512 x 1300 x 1300 x 3 bytes = 2.5 GiB.
RSS_CEILING = Budgets().decode_pixels * 3 * 2 + 128 * MIB
# How much longer inline images may take while the embedder's URL fetches all wait on a slow server.
INLINE_DELAY_BOUND = 1.5
SLOW_SECONDS = 5.0


class _SlowServer(ThreadingHTTPServer):
    """A loopback HTTP server that answers every request after `SLOW_SECONDS`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.release = threading.Event()
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _SlowHandler(BaseHTTPRequestHandler):
    server: _SlowServer

    def do_GET(self) -> None:  # the http.server hook
        self.server.release.wait(SLOW_SECONDS)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def slow_server() -> Iterator[_SlowServer]:
    server = _SlowServer()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def embedder(tmp_path_factory, slow_server: _SlowServer) -> Iterator[tuple[ManagedProcess, str]]:
    """An embedder process with the tiny model, allowed to fetch from the slow server only."""
    root: Path = tmp_path_factory.mktemp("budgets")
    process, address = start_service(
        "embedder",
        ["simmesh.embedder"],
        data_dir=root / "data",
        log_path=root / "embedder.log",
        env={
            "SIMMESH_BUILTIN_MODELS": "false",
            "SIMMESH_METRICS_PORT": "-1",
            "SIMMESH_URL_ALLOWED_NETWORKS": f"127.0.0.1/32:{slow_server.port}",
        },
        timeout=120,
    )
    try:
        with grpc.insecure_channel(address) as channel:
            header = embedder_pb2.ImportModelRequest.Header(model_id="tiny", manifest=tiny_manifest())
            embedder_pb2_grpc.EmbedderServiceStub(channel).ImportModel(
                iter(
                    [
                        embedder_pb2.ImportModelRequest(header=header),
                        embedder_pb2.ImportModelRequest(chunk=tiny_embedding_model()),
                    ]
                ),
                timeout=60,
            )
        yield process, address
    finally:
        process.stop()


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of process `pid`, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


def _flat_png(side: int) -> bytes:
    """A large image that is cheap to send: one colour, side x side pixels, a few KiB as PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (90, 140, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def _request(images: list[common_pb2.Image]) -> embedder_pb2.EmbedRequest:
    return embedder_pb2.EmbedRequest(model="models/tiny", images=images)


async def test_512_large_images_are_refused_naming_the_image_over_budget_or_served_within_a_memory_ceiling(
    embedder,
) -> None:
    process, address = embedder
    assert process.pid is not None
    async with grpc.aio.insecure_channel(address, options=[("grpc.max_send_message_length", 64 * MIB)]) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        await stub.Embed(_request([common_pb2.Image(content=png_bytes((10, 20, 30)))]), timeout=30)  # warm up
        before = _memory(process.pid)

        huge = common_pb2.Image(content=_flat_png(2000))  # 4 Mpx each: 2.05 Gpx in all, over the 1 Gpx budget
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Embed(_request([huge] * 512), timeout=60)
        assert (caught.value.code(), reason_of(caught.value)) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "REQUEST_TOO_LARGE",
        )
        assert [v.field for v in bad_request(caught.value).field_violations] == ["images[250]"]  # 251 x 4 Mpx > 1 Gpx

        large = common_pb2.Image(content=_flat_png(1300))  # 1.69 Mpx each: 865 Mpx in all, within the budget
        started = time.monotonic()
        reply = await stub.Embed(_request([large] * 512), timeout=300)
        served_in = time.monotonic() - started
    after = _memory(process.pid)
    assert len(reply.errors) == 0 and reply.vectors.count == 512
    rows = np.frombuffer(reply.vectors.data, dtype="<f4").reshape(512, reply.vectors.dimension)
    assert np.allclose(rows, rows[0], atol=1e-5)  # the same image gives the same vector in every position
    grown = after["VmHWM"] - before["VmRSS"]
    print(
        f"\nembedder VmRSS before {before['VmRSS'] / MIB:.0f} MiB, VmHWM after {after['VmHWM'] / MIB:.0f} MiB "
        f"(+{grown / MIB:.0f} MiB, ceiling +{RSS_CEILING / MIB:.0f} MiB); 512 x 1300x1300 served in {served_in:.1f}s"
    )
    assert grown < RSS_CEILING


async def test_a_flood_of_slow_urls_does_not_delay_embedding_inline_images(embedder, slow_server) -> None:
    _, address = embedder
    inline = _request([common_pb2.Image(content=png_bytes((40 * i, 90, 10), size=(64, 48))) for i in range(6)])
    slow = _request([common_pb2.Image(url=f"http://127.0.0.1:{slow_server.port}/{i}.png") for i in range(64)])
    async with grpc.aio.insecure_channel(address) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        started = time.monotonic()
        await stub.Embed(inline, timeout=30)
        quiet = time.monotonic() - started
        floods = [asyncio.ensure_future(stub.Embed(slow, timeout=60)) for _ in range(4)]  # 256 URLs, 5 s each
        await asyncio.sleep(0.5)  # the fetch pool is full and its queue long
        started = time.monotonic()
        reply = await stub.Embed(inline, timeout=30)
        flooded = time.monotonic() - started
        assert all(not flood.done() for flood in floods)  # the slow URLs were still being fetched
        for flood in floods:
            flood.cancel()
    print(f"\ninline Embed: {quiet * 1000:.0f} ms alone, {flooded * 1000:.0f} ms during 256 slow URLs")
    assert len(reply.errors) == 0 and reply.vectors.count == 6
    assert flooded < quiet + INLINE_DELAY_BOUND
