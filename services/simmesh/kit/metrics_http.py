"""The Prometheus HTTP endpoint: /metrics of one registry, optionally behind a bearer token.

With a token, a scrape must send `Authorization: Bearer <token>` (compared in constant time);
anything else gets 401 with a `WWW-Authenticate: Bearer` header and no metrics.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

WILDCARDS = ("", "0.0.0.0", "::", "[::]")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def metrics_bind_host(metrics_host: str, service_host: str) -> str:
    """Where the metrics port listens: `metrics_host` when set, else the service's host, except
    that a service listening on every interface keeps its metrics on loopback (open them with
    `metrics_host`, e.g. to the pod's IP in Kubernetes)."""
    if metrics_host:
        return metrics_host
    return "127.0.0.1" if service_host in WILDCARDS else service_host


def require_token(app: WsgiApp, token: str) -> WsgiApp:
    """`app`, answering 401 to a request without `Authorization: Bearer <token>`."""
    expected = f"Bearer {token}".encode()

    def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        sent = environ.get("HTTP_AUTHORIZATION", "").encode()
        if hmac.compare_digest(sent, expected):
            return app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
        )
        return [b"a bearer token is required\n"]

    return guarded


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No line on stderr per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_metrics(registry: CollectorRegistry, host: str, port: int, token: str = "") -> WSGIServer:
    """Serve `registry` on `host:port` (0 = any free port) in a daemon thread; `token` set =
    scrapes must carry it. Stop with `server.shutdown(); server.server_close()`."""
    app: WsgiApp = make_wsgi_app(registry)
    if token:
        app = require_token(app, token)
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
