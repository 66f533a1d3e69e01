"""The gateway's Starlette app: `/v1/...` from the route table, `/openapi.json`, `/healthz`, the console at `/`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from simmesh.gateway.console_files import ConsoleFiles
from simmesh.gateway.handler import Limits, RestHandler
from simmesh.gateway.openapi import openapi_document
from simmesh.gateway.routes import Router, route_table
from simmesh.gateway.settings import GatewaySettings
from simmesh.gateway.upstream import Backends

VERBS = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"]


def build_gateway(settings: GatewaySettings) -> Starlette:
    """The app, its channels to the mesh opened as it starts and closed as it stops."""
    router = Router(route_table())
    backends = Backends(settings.backend_addresses(), settings.peer_tls())
    rest = RestHandler(router, backends, Limits(settings.gateway_timeout, settings.gateway_max_body_bytes))
    document = openapi_document(router.routes)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "SERVING"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await backends.close()

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/v1/{rest:path}", rest.serve, methods=VERBS),
            Mount("/", ConsoleFiles(directory=settings.console_dir, html=True), name="console"),
        ],
        lifespan=lifespan,
    )
