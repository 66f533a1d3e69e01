"""The metrics port: where it listens by default, and the bearer token it can require, over real HTTP."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest

from simmesh.kit.metrics import Metrics
from simmesh.kit.metrics_http import metrics_bind_host
from simmesh.kit.server import build_server
from simmesh.kit.settings import ServerSettings


def _get(port: int, authorization: str = "") -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read().decode(), dict(reply.headers)
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode(), dict(refused.headers)


@pytest.fixture
def metrics():
    served = Metrics("indexer")
    served.observe_rpc("Search", "OK", 0.001)
    yield served
    served.close()


def test_without_a_token_metrics_are_served_to_anyone(metrics):
    port = metrics.serve_http("127.0.0.1", 0)
    status, body, _ = _get(port)
    assert status == 200
    assert 'simmesh_rpc_requests_total{code="OK",method="Search",service="indexer"} 1.0' in body


def test_with_a_token_a_scrape_without_the_right_bearer_token_gets_401_and_no_metrics(metrics):
    port = metrics.serve_http("127.0.0.1", 0, token="scrape-secret")
    for authorization in ("", "Bearer wrong", "scrape-secret", "Basic scrape-secret", "Bearer scrape-secret2"):
        status, body, headers = _get(port, authorization)
        assert status == 401, authorization
        assert "simmesh_rpc" not in body
        assert headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = _get(port, "Bearer scrape-secret")
    assert status == 200
    assert "simmesh_rpc_requests_total" in body


def test_the_metrics_port_follows_the_service_host_but_not_onto_every_interface():
    assert metrics_bind_host("", "10.1.2.3") == "10.1.2.3"
    assert metrics_bind_host("", "127.0.0.1") == "127.0.0.1"
    for wildcard in ("0.0.0.0", "::", "[::]", ""):
        assert metrics_bind_host("", wildcard) == "127.0.0.1"
    assert metrics_bind_host("0.0.0.0", "0.0.0.0") == "0.0.0.0"
    assert metrics_bind_host("10.1.2.3", "0.0.0.0") == "10.1.2.3"


async def test_a_server_on_every_interface_serves_metrics_on_loopback_only_and_with_its_token():
    settings = ServerSettings(host="0.0.0.0", port=0, metrics_port=0, metrics_token="scrape-secret")
    app = build_server(settings, [], service_label="indexer")
    await app.start()
    try:
        assert app.metrics._http_server is not None
        assert app.metrics._http_server.server_address[0] == "127.0.0.1"
        status, _, _ = await asyncio.to_thread(_get, app.metrics.http_port)
        assert status == 401
        status, body, _ = await asyncio.to_thread(_get, app.metrics.http_port, "Bearer scrape-secret")
        assert status == 200 and "simmesh_rpc_latency_seconds" in body
    finally:
        await app.stop(grace=0)
