"""Prometheus metrics: per-RPC counters and latency histograms, on a separate HTTP port.

Each server owns a `Metrics` with its own registry, so several servers can live in one process
(tests) without clashing; domain code adds its own timings (Triton, FAISS, etcd) with
`metrics.histogram(...)`.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from simmesh.kit.metrics_http import serve_metrics

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.rpc_total = Counter(
            "simmesh_rpc_requests_total",
            "RPCs handled, by method and status code",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.rpc_latency = Histogram(
            "simmesh_rpc_latency_seconds",
            "RPC handling time, by method",
            ["service", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._histograms: dict[str, Histogram] = {}
        self._counters: dict[str, Counter] = {}
        self._gauges: dict[str, Gauge] = {}
        self.http_port: int | None = None
        self._http_server: WSGIServer | None = None

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        self.rpc_total.labels(self.service, method, code).inc()
        self.rpc_latency.labels(self.service, method).observe(seconds)

    def histogram(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Histogram:
        """A histogram of this server's registry, created on first use."""
        if name not in self._histograms:
            self._histograms[name] = Histogram(name, doc, list(labels), buckets=LATENCY_BUCKETS, registry=self.registry)
        return self._histograms[name]

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        if name not in self._counters:
            self._counters[name] = Counter(name, doc, list(labels), registry=self.registry)
        return self._counters[name]

    def gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        """A gauge (a value that goes up and down, e.g. a log's size) of this server's registry."""
        if name not in self._gauges:
            self._gauges[name] = Gauge(name, doc, list(labels), registry=self.registry)
        return self._gauges[name]

    def serve_http(self, host: str, port: int, token: str = "") -> int:
        """Expose /metrics on `host:port` (0 = any free port), behind `token` when set; returns the port."""
        server = serve_metrics(self.registry, host, port, token)
        self._http_server = server
        self.http_port = server.server_port
        return self.http_port

    def close(self) -> None:
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            self._http_server = None

    def text(self) -> str:
        return generate_latest(self.registry).decode()
