"""The one way simmesh builds and runs a gRPC server.

`build_server(settings, services)` returns a started-ready `App` (server bound, port known) with
the standard health service, reflection for every registered service (the simmesh ones,
`google.longrunning.Operations` where jobs run, Health and reflection itself), the interceptor
(auth, errors, access log, metrics), and TLS or mutual TLS when the settings name certificate
files (`kit/tls.py`). A servicer that leaves an RPC of its service undefined is
refused at build time, naming the RPCs, rather than answering UNIMPLEMENTED at run time.
`App.serve()` runs until SIGTERM/SIGINT and drains: health NOT_SERVING, drain hooks (e.g. mark
the etcd registration stopping), in-flight calls get `shutdown_grace` seconds, close hooks (e.g.
revoke the lease).

Tests call `build_server` with port 0 and use `app.port`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from simmesh.kit.admission import Admission
from simmesh.kit.auth.authenticator import Authenticator
from simmesh.kit.auth.setup import auth_mode, open_authenticator
from simmesh.kit.interceptors import ServerInterceptor
from simmesh.kit.logs import configure_logging
from simmesh.kit.memory import MemoryTrimmer
from simmesh.kit.metrics import Metrics
from simmesh.kit.metrics_http import metrics_bind_host
from simmesh.kit.quotas import KeyLimits, Limiter
from simmesh.kit.settings import ServerSettings, load_settings
from simmesh.kit.tls import server_credentials

log = logging.getLogger("simmesh.server")

Hook = Callable[[], Awaitable[None] | None]

# Large enough for batches of images and packed vectors; RESOURCE_EXHAUSTED beyond.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass
class ServiceBinding:
    """A servicer and how to register it: the generated `add_XServicer_to_server` and its
    descriptor (from `xxx_pb2.DESCRIPTOR.services_by_name[...]`)."""

    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    descriptor: ServiceDescriptor


def binding(servicer: Any, pb2: Any, pb2_grpc: Any, service: str) -> ServiceBinding:
    """`binding(s, embedder_pb2, embedder_pb2_grpc, "EmbedderService")`."""
    return ServiceBinding(
        servicer=servicer,
        add_to_server=getattr(pb2_grpc, f"add_{service}Servicer_to_server"),
        descriptor=pb2.DESCRIPTOR.services_by_name[service],
    )


@dataclass
class App:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    metrics: Metrics
    settings: ServerSettings
    service_names: list[str]
    start_hooks: list[Hook] = field(default_factory=list)
    drain_hooks: list[Hook] = field(default_factory=list)
    close_hooks: list[Hook] = field(default_factory=list)
    serving_at_start: bool = True  # False: NOT_SERVING until `set_serving(True)` (e.g. data still to open)
    background: list[asyncio.Future[None]] = field(default_factory=list)  # tasks cancelled at stop
    probe: HealthProbe | None = None  # the plaintext health-only port, when `health_port` is set
    _stop: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def address(self) -> str:
        host = self.settings.host
        return f"{'127.0.0.1' if host in ('0.0.0.0', '[::]', '::') else host}:{self.port}"

    def on_start(self, hook: Hook) -> None:
        """Runs once the server accepts calls (e.g. register in etcd)."""
        self.start_hooks.append(hook)

    def on_drain(self, hook: Hook) -> None:
        self.drain_hooks.append(hook)

    def on_close(self, hook: Hook) -> None:
        self.close_hooks.append(hook)

    def request_stop(self) -> None:
        """Ask `serve()` to drain and stop, from any thread (e.g. when an etcd lease is lost)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.server.start()
        if self.probe is not None:
            await self.probe.server.start()
        await self._set_health(self.serving_at_start)
        if self.settings.metrics_port >= 0:
            host = metrics_bind_host(self.settings.metrics_host, self.settings.host)
            self.metrics.serve_http(host, self.settings.metrics_port, self.settings.metrics_token)
        await _run_hooks(self.start_hooks, raise_errors=True)
        log.info(
            "serving %s on %s (auth: %s)",
            ", ".join(self.service_names),
            self.address,
            auth_mode(self.settings),
            extra={"port": self.port, "metrics_port": self.metrics.http_port},
        )

    def set_serving(self, serving: bool) -> None:
        """Health SERVING or NOT_SERVING for every service, from any thread; ignored once draining."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._set_health(serving), self._loop)

    async def _set_health(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in [*self.service_names, ""]:
            await self.health.set(name, status)

    async def stop(self, grace: float | None = None) -> None:
        """Drain and stop: NOT_SERVING, drain hooks, finish in-flight calls, close hooks."""
        await self.health.enter_graceful_shutdown()
        for task in self.background:
            task.cancel()
        await _run_hooks(self.drain_hooks)
        await self.server.stop(self.settings.shutdown_grace if grace is None else grace)
        if self.probe is not None:
            await self.probe.server.stop(0)
        await _run_hooks(self.close_hooks)
        self.metrics.close()

    async def serve(self) -> None:
        """Start, run until SIGTERM or SIGINT, then drain and stop."""
        await self.start()
        stop = self._stop
        assert stop is not None, "start() made the stop event"
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server_done = asyncio.ensure_future(self.server.wait_for_termination())
        stop_wait = asyncio.ensure_future(stop.wait())
        await asyncio.wait({server_done, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping: draining in-flight calls for up to %.1fs", self.settings.shutdown_grace)
        await self.stop()
        for task in (server_done, stop_wait):
            task.cancel()
        log.info("stopped")


@dataclass(frozen=True)
class HealthProbe:
    """A second, plaintext server with only the health service (the same statuses as the main
    port), for probes that cannot speak TLS."""

    server: grpc.aio.Server
    port: int

    @classmethod
    def bind(cls, host: str, port: int, servicer: health.aio.HealthServicer) -> HealthProbe:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        bound = server.add_insecure_port(f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot listen on {host}:{port} for health probes")
        return cls(server, bound)


async def _run_hooks(hooks: Sequence[Hook], raise_errors: bool = False) -> None:
    for hook in hooks:
        try:
            result = hook()
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # one failing shutdown hook must not stop the others
            if raise_errors:
                raise
            log.exception("shutdown hook failed")


def missing_rpcs(servicer_class: type, descriptor: ServiceDescriptor) -> list[str]:
    """The full names of the service's RPCs that the servicer class leaves to the generated base
    class (which answers UNIMPLEMENTED)."""
    missing: list[str] = []
    for method in descriptor.methods:
        owner = next((c for c in servicer_class.__mro__ if method.name in vars(c)), None)
        if owner is None or owner.__module__.endswith("_pb2_grpc"):
            missing.append(f"{descriptor.full_name}.{method.name}")
    return missing


def admission(settings: ServerSettings, authenticator: Authenticator | None) -> Admission:
    """The server's cap on concurrent calls, and with API keys the per-key limits its settings ask for."""
    defaults = KeyLimits(settings.key_rate_limit, settings.key_rate_burst, settings.key_daily_quota)
    limiter = Limiter(defaults) if authenticator is not None else None
    store = authenticator.store if authenticator is not None else None
    return Admission(limiter, store, settings.max_concurrent_calls)


def build_server(
    settings: ServerSettings,
    services: Sequence[ServiceBinding],
    *,
    metrics: Metrics | None = None,
    service_label: str = "simmesh",
    authenticator: Authenticator | None = None,
) -> App:
    """A bound, not yet started server with every standard piece registered; TypeError naming
    them when a servicer leaves RPCs of its service undefined. API keys are checked by
    `authenticator`, else by the one the settings ask for (`kit/auth/setup.py`)."""
    missing = [name for b in services for name in missing_rpcs(type(b.servicer), b.descriptor)]
    if missing:
        raise TypeError(f"servicers do not implement {', '.join(missing)}")
    metrics = metrics or Metrics(service_label)
    authenticator = authenticator or open_authenticator(settings)
    interceptor = ServerInterceptor(metrics, settings.auth_token, authenticator, admission(settings, authenticator))
    server = grpc.aio.server(
        interceptors=[interceptor],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    names: list[str] = []
    for binding in services:
        binding.add_to_server(binding.servicer, server)
        names.append(binding.descriptor.full_name)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    address = f"{settings.host}:{settings.port}"
    credentials = server_credentials(settings)
    port = server.add_insecure_port(address) if credentials is None else server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {settings.host}:{settings.port}")
    probe = (
        HealthProbe.bind(settings.host, settings.health_port, health_servicer) if settings.health_port >= 0 else None
    )
    app = App(
        server=server,
        port=port,
        health=health_servicer,
        metrics=metrics,
        settings=settings,
        service_names=names,
        probe=probe,
    )
    if authenticator is not None:
        app.on_close(authenticator.store.close)
    return app


def service_main(
    service: str,
    settings_cls: type[ServerSettings],
    build_app: Callable[[Any], Awaitable[App]],
    argv: Sequence[str] | None = None,
) -> int:
    """The body of `python -m simmesh.<service>`: settings, JSON logs, serve until signalled."""
    settings = load_settings(settings_cls, argv, prog=f"python -m simmesh.{service}")
    configure_logging(service, settings.log_level)

    async def serve() -> None:
        app = await build_app(settings)
        await app.serve()

    trimmer = MemoryTrimmer(settings.memory_trim_interval).start()
    runner = asyncio.Runner(loop_factory=loop_factory(settings.event_loop))
    try:
        with contextlib.suppress(KeyboardInterrupt), runner:
            runner.run(serve())
    finally:
        trimmer.close()
    return 0


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop a server runs on: uvloop's (a gRPC hop measured about 0.1 ms quicker on
    two cores) when asked for and installed, else asyncio's own."""
    if name not in ("uvloop", "asyncio"):
        raise ValueError(f"event_loop must be uvloop or asyncio, got {name!r}")
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.info("uvloop is not installed; running on asyncio's event loop")
            return None
        return uvloop.new_event_loop
    return None
