"""The REST gateway served by uvicorn on loopback from a background thread, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from simmesh.gateway.app import build_gateway
from simmesh.gateway.settings import GatewaySettings


class GatewayThread:
    """`build_gateway(settings)` on 127.0.0.1, any free port; `address` once started; `stop()` ends it."""

    def __init__(self, settings: GatewaySettings) -> None:
        config = uvicorn.Config(build_gateway(settings), host="127.0.0.1", port=0, log_config=None, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="gateway", daemon=True)
        self.address = ""

    def start(self, timeout: float = 30.0) -> GatewayThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


def http_call(
    address: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Reply:
    """One HTTP request to `address` (host:port): `body` sent as JSON, or `raw` bytes as they are."""
    connection = http.client.HTTPConnection(address, timeout=timeout)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        sent = {"Content-Type": "application/json"} | (headers or {})
        connection.request(method, path, body=data, headers=sent)
        answer = connection.getresponse()
        return Reply(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
    finally:
        connection.close()
