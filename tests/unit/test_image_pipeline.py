"""A request's images within its budgets: inline bytes, fetched bytes and pixels per request, the
fetch deadline, and the pixels the process decodes at once."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.models import png_bytes, tiny_manifest
from support.recording_http import RecordingServer

from simmesh.imaging.budget import Budgets, PixelBudget
from simmesh.imaging.fetch import HOST_CONNECTIONS
from simmesh.imaging.limits import ImageLimits
from simmesh.imaging.pipeline import ImagePipeline
from simmesh.imaging.source import ImageSource
from simmesh.kit.errors import ResourceExhausted, SimmeshError
from simmesh_proto.v1 import common_pb2

IMAGE = png_bytes((10, 200, 30), size=(32, 32))


class _Source(ImageSource):
    """URLs answered from memory after `delay` seconds (no network)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(ImageLimits())
        self.delay = delay

    def read(self, image: common_pb2.Image, field: str = "image") -> bytes:
        if image.WhichOneof("source") == "url":
            time.sleep(self.delay)
            return IMAGE
        return super().read(image, field)


class _CountingServer(RecordingServer):
    """Also counts the connections it serves at once, each held a little while so fetches overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.open = self.peak = 0
        self._lock = threading.Lock()

    def finish_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        with self._lock:
            self.open += 1
            self.peak = max(self.peak, self.open)
        try:
            time.sleep(0.05)
            super().finish_request(request, client_address)
        finally:
            with self._lock:
                self.open -= 1


def _pipeline(source: ImageSource | None = None, **budgets: float) -> ImagePipeline:
    return ImagePipeline(source or _Source(), Budgets(**budgets), ThreadPoolExecutor(2))  # type: ignore[arg-type]


def _inline(count: int) -> list[common_pb2.Image]:
    return [common_pb2.Image(content=IMAGE) for _ in range(count)]


async def test_inline_bytes_over_the_request_budget_refuse_the_request_naming_the_image() -> None:
    pipeline = _pipeline(request_bytes=int(len(IMAGE) * 2.5))
    with pytest.raises(ResourceExhausted) as caught:
        await pipeline.fit_batch(_inline(5), tiny_manifest())
    assert caught.value.reason == "REQUEST_TOO_LARGE" and caught.value.violations[0][0] == "images[2]"


async def test_pixels_over_the_request_budget_refuse_the_request_naming_the_image() -> None:
    pipeline = _pipeline(request_pixels=3 * 32 * 32 + 10)
    with pytest.raises(ResourceExhausted) as caught:
        await pipeline.fit_batch(_inline(5), tiny_manifest(), names=[f"candidates[{i}]" for i in range(5)])
    assert caught.value.reason == "REQUEST_TOO_LARGE" and caught.value.violations[0][0] == "candidates[3]"
    assert caught.value.metadata == {"request_pixels": str(4 * 32 * 32), "limit_pixels": str(3 * 32 * 32 + 10)}


async def test_fetched_bytes_over_the_request_budget_fail_only_the_images_past_it() -> None:
    pipeline = _pipeline(request_bytes=int(len(IMAGE) * 2.5), fetch_workers=1)
    urls = [common_pb2.Image(url=f"https://images.example.com/{i}.png") for i in range(4)]
    rows = await pipeline.fit_batch(urls, tiny_manifest())
    failed = {i: row.reason for i, row in enumerate(rows) if isinstance(row, SimmeshError)}
    assert failed == {2: "REQUEST_TOO_LARGE", 3: "REQUEST_TOO_LARGE"}
    assert rows[0].shape == (16, 16, 3)  # type: ignore[union-attr]


async def test_urls_not_fetched_within_the_request_deadline_fail_and_inline_images_are_served() -> None:
    pipeline = _pipeline(_Source(delay=1.0), fetch_deadline=0.2, fetch_workers=2)
    images = [*_inline(2), *(common_pb2.Image(url=f"https://images.example.com/{i}.png") for i in range(6))]
    started = time.monotonic()
    rows = await pipeline.fit_batch(images, tiny_manifest())
    assert time.monotonic() - started < 0.9
    assert [getattr(row, "reason", "") for row in rows] == ["", ""] + ["IMAGE_FETCH_FAILED"] * 6
    assert "within the request's 0.2s" in rows[2].message  # type: ignore[union-attr]
    pipeline.close()


async def test_the_pixel_budget_never_holds_more_than_its_capacity_and_lets_an_oversized_image_go_alone() -> None:
    budget = PixelBudget(100)
    peak = 0

    async def decode(pixels: int) -> None:
        nonlocal peak
        async with budget.hold(pixels):
            peak = max(peak, budget.held)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(decode(40) for _ in range(10)), decode(500), *(decode(30) for _ in range(5)))
    assert peak == 100 and budget.held == 0


async def test_the_fetch_pool_opens_only_a_few_connections_to_one_host_at_once() -> None:
    # A request of many URLs on one host must not flood it: a small server's accept queue
    # overflows, and each connection it drops waits out a one-second SYN retry.
    source = ImageSource(ImageLimits(allowed_networks=("127.0.0.1/32",)))
    pipeline = _pipeline(source, fetch_workers=16)
    with _CountingServer() as server:
        server.answers.update({f"/{i}.png": (200, {"Content-Type": "image/png"}, IMAGE) for i in range(16)})
        urls = [common_pb2.Image(url=f"{server.url}/{i}.png") for i in range(16)]
        fetched = await pipeline.resolve_batch(urls, [f"images[{i}]" for i in range(16)])
    pipeline.close()
    source.close()
    assert fetched == [IMAGE] * 16
    assert 1 < server.peak <= HOST_CONNECTIONS
