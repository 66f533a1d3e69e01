"""simmesh services built and started in-process on loopback, on the test's event loop or on a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from simmesh.catalog.app import build_app as build_catalog
from simmesh.catalog.settings import CatalogSettings
from simmesh.embedder.app import build_app as build_embedder
from simmesh.embedder.settings import EmbedderSettings
from simmesh.kit.server import App
from simmesh.labeler.app import build_app as build_labeler
from simmesh.labeler.settings import LabelerSettings
from simmesh_proto.v1.embedder_pb2_grpc import EmbedderServiceStub

LOOPBACK: dict[str, Any] = {"host": "127.0.0.1", "port": 0}
LOOPBACK_URLS = ("127.0.0.1/32",)
"""`url_allowed_networks` for services that fetch images from the tests' own loopback HTTP servers."""


async def started_embedder(data_dir: Path, *, builtin_models: bool = False, **settings: Any) -> App:
    app = await build_embedder(
        EmbedderSettings(**LOOPBACK, data_dir=str(data_dir), builtin_models=builtin_models, **settings)
    )
    await app.start()
    return app


@contextlib.asynccontextmanager
async def through_triton_and_in_process(
    data_dir: Path, triton: dict[str, Any], **settings: Any
) -> AsyncIterator[tuple[EmbedderServiceStub, EmbedderServiceStub]]:
    """Stubs of two embedders with `settings`: one serving through Triton (`triton`: its settings fields),
    one with in-process ONNX Runtime; both stopped at the end."""
    triton_app = await started_embedder(data_dir / "triton", **triton, **settings)
    local_app = await started_embedder(data_dir / "local", **settings)
    try:
        async with (
            grpc.aio.insecure_channel(triton_app.address) as a,
            grpc.aio.insecure_channel(local_app.address) as b,
        ):
            yield EmbedderServiceStub(a), EmbedderServiceStub(b)
    finally:
        await triton_app.stop(grace=0)
        await local_app.stop(grace=0)


async def started_catalog(data_dir: Path, **settings: Any) -> App:
    app = await build_catalog(CatalogSettings(**LOOPBACK, data_dir=str(data_dir), **settings))
    await app.start()
    return app


async def started_labeler(data_dir: Path, **settings: Any) -> App:
    app = await build_labeler(LabelerSettings(**LOOPBACK, data_dir=str(data_dir), **settings))
    await app.start()
    return app


class AppsThread:
    """Apps served from one event loop on a background thread, for tests that call them synchronously (the CLI).

    `start_apps` builds and starts them in order; they stop in reverse order. `addresses` are theirs, in order.
    """

    def __init__(self, start_apps: Callable[[], Awaitable[list[App]]]) -> None:
        self._start_apps = start_apps
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.addresses: list[str] = []

    def start(self) -> AppsThread:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(60)

    async def _serve(self) -> None:
        try:
            apps = await self._start_apps()
        except BaseException as error:
            self._error = error
            self._ready.set()
            raise
        self._loop, self._stopped = asyncio.get_running_loop(), asyncio.Event()
        self.addresses = [app.address for app in apps]
        self._ready.set()
        await self._stopped.wait()
        for app in reversed(apps):
            await app.stop(grace=0)
