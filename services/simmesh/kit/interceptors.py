"""One server interceptor for what every RPC needs: token auth, error mapping, access log, metrics.

- A `SimmeshError` raised by a handler becomes its gRPC status, with `ErrorInfo` / `BadRequest`
  in `grpc-status-details-bin`.
- Any other exception becomes INTERNAL with a generic message; the traceback is logged.
- One JSON access line per RPC: service, method, code, latency_ms, request id, peer.
- Prometheus counters and latency histograms per method and code.
- An audit line (`kit/auth/audit.py`) for every delete that succeeds (`rules.DELETES`).
- With an `Authenticator`, every call must carry `authorization: Bearer <API key>` (or the
  internal credential) whose role meets its method's rule (`kit/auth/rules.py`); the caller's
  `Identity` is then `current_identity()` in the handler. Without one, a legacy static token, when
  configured, guards every call. Health and reflection stay open so probes and `grpcurl list` work.
- Then `Admission` (`kit/admission.py`): the key's rate limit and daily quota, and the server's
  cap on concurrent calls (RESOURCE_EXHAUSTED with RetryInfo when over).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc
from grpc_status import rpc_status

from simmesh.kit import reasons
from simmesh.kit.admission import Admission
from simmesh.kit.auth.audit import audit_delete
from simmesh.kit.auth.authenticator import Authenticator
from simmesh.kit.auth.identity import Identity, current_identity, set_identity
from simmesh.kit.auth.rules import DELETES
from simmesh.kit.auth.tenant_edge import public_error
from simmesh.kit.errors import Internal, SimmeshError, Unauthenticated
from simmesh.kit.metrics import Metrics
from simmesh.kit.request_ids import current_request_id as current_request_id  # where callers have found it
from simmesh.kit.request_ids import new_request_id, set_request_id

log = logging.getLogger("simmesh.access")

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _split_method(full: str) -> tuple[str, str]:
    service, _, method = full.lstrip("/").partition("/")
    return service, method


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


# Checks a call's credentials; the caller's identity where there is one.
Guard = Callable[[grpc.aio.ServicerContext], Identity | None]


class ServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        metrics: Metrics,
        auth_token: str = "",
        authenticator: Authenticator | None = None,
        admission: Admission | None = None,
    ) -> None:
        self._metrics = metrics
        self._token = auth_token.encode()
        self._authenticator = authenticator
        self._admission = admission or Admission()
        # By method: the service's handler and its wrapped form, wrapped once, not on every call.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        full = details.method
        cached = self._wrapped.get(full)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(full, handler)
        self._wrapped[full] = (handler, wrapped)
        return wrapped

    def _wrap(self, full: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        guard = self._guard(full)
        if handler.request_streaming and handler.response_streaming:
            wrap, factory = self._wrap_stream, grpc.stream_stream_rpc_method_handler
            behavior = handler.stream_stream
        elif handler.request_streaming:
            wrap, factory = self._wrap_unary, grpc.stream_unary_rpc_method_handler
            behavior = handler.stream_unary
        elif handler.response_streaming:
            wrap, factory = self._wrap_stream, grpc.unary_stream_rpc_method_handler
            behavior = handler.unary_stream
        else:
            wrap, factory = self._wrap_unary, grpc.unary_unary_rpc_method_handler
            behavior = handler.unary_unary
        return factory(
            wrap(full, behavior, guard),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _guard(self, full: str) -> Guard | None:
        """What checks the calls of `full`: the authenticator, the legacy token, or nothing."""
        if full.startswith(OPEN_PREFIXES):
            return None
        authenticator = self._authenticator
        if authenticator is not None:
            return lambda context: authenticator.check(full, _metadata(context))
        return self._authenticate if self._token else None

    def _wrap_unary(self, full: str, behavior: Callable, guard: Guard | None) -> Callable:
        audited = full in DELETES

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call = _Call(self, full, context)
            entered = False
            try:
                entered = self._enter(full, guard, context)
                reply = await behavior(request, context)
                if audited:
                    audit_delete(full, request)
                return reply
            except BaseException as exc:  # every outcome is logged, then re-raised or mapped
                await call.fail(exc)
            finally:
                self._leave(entered)
                call.finish()

        return handle

    def _wrap_stream(self, full: str, behavior: Callable, guard: Guard | None) -> Callable:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call = _Call(self, full, context)
            entered = False
            try:
                entered = self._enter(full, guard, context)
                result = behavior(request, context)
                if hasattr(result, "__aiter__"):
                    async for item in result:
                        yield item
                else:  # a coroutine that writes with context.write()
                    await result
            except BaseException as exc:
                await call.fail(exc)
            finally:
                self._leave(entered)
                call.finish()

        return handle

    def _enter(self, full: str, guard: Guard | None, context: grpc.aio.ServicerContext) -> bool:
        """Authenticates the call, counts it against its key's limits and takes a slot of the
        server's cap; True when a slot was taken (health and reflection take none)."""
        if guard is not None:
            identity = guard(context)
            set_identity(identity)  # each RPC runs in its own task: its own context
            self._admission.admit(identity)
        if full.startswith(OPEN_PREFIXES):
            return False
        self._admission.enter()
        return True

    def _leave(self, entered: bool) -> None:
        if entered:
            self._admission.leave()

    def _authenticate(self, context: grpc.aio.ServicerContext) -> None:
        """The legacy static token: one shared secret, no identity."""
        header = _metadata(context).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise Unauthenticated("missing `authorization: Bearer <token>` metadata", reason=reasons.TOKEN_MISSING)
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._token):
            raise Unauthenticated("the bearer token is not valid", reason=reasons.TOKEN_INVALID)


class _Call:
    """Book-keeping for one RPC: outcome code, access log line, metrics."""

    def __init__(self, owner: ServerInterceptor, full: str, context: grpc.aio.ServicerContext) -> None:
        self.owner = owner
        self.full = full
        self.context = context
        self.start = time.perf_counter()
        self.code = grpc.StatusCode.OK
        self.reason = ""
        self.finished = False
        self.request_id = _metadata(context).get("x-request-id") or new_request_id()
        set_request_id(self.request_id)

    async def fail(self, exc: BaseException) -> None:
        if isinstance(exc, SimmeshError):
            await self._abort(exc)
        if isinstance(exc, grpc.aio.AbortError):  # the handler aborted by itself
            self.code = self.context.code() or grpc.StatusCode.UNKNOWN
            raise exc
        if isinstance(exc, BaseException) and not isinstance(exc, Exception):  # cancelled, exiting
            self.code = grpc.StatusCode.CANCELLED
            raise exc
        log.error(
            "unhandled error in %s (request %s)",
            self.full,
            self.request_id,
            exc_info=exc,
            extra={"request_id": self.request_id},
        )
        error = Internal(
            "internal error; see the server log", reason=reasons.INTERNAL, metadata={"request_id": self.request_id}
        )
        await self._abort(error)

    async def _abort(self, error: SimmeshError) -> NoReturn:
        """Record the outcome, then send it: aborting sends the status at once, so a caller
        that sees the error and then reads the metrics finds it counted. A tenant's internal ids in
        the error are shown as its public ids."""
        error = public_error(error)
        self.code, self.reason = error.code, error.reason
        self.finish()
        await self.context.abort_with_status(rpc_status.to_status(error.to_status()))
        raise AssertionError("abort_with_status returned")  # it raises; grpc's untyped API cannot say so

    def finish(self) -> None:
        """Count the RPC and write its access log line, once."""
        if self.finished:
            return
        self.finished = True
        elapsed = time.perf_counter() - self.start
        service, method = _split_method(self.full)
        code = self.code.name if isinstance(self.code, grpc.StatusCode) else str(self.code)
        self.owner._metrics.observe_rpc(method, code, elapsed)
        if (
            service.startswith("grpc.health")
            or service.startswith("grpc.reflection")
            or not log.isEnabledFor(logging.INFO)
        ):
            return
        identity = current_identity()
        caller = {"tenant": identity.tenant, "key_id": identity.key_id} if identity is not None else {}
        log.info(
            "%s/%s %s %.2fms",
            service,
            method,
            code,
            elapsed * 1000,
            extra={
                **caller,
                "rpc_service": service,
                "method": method,
                "code": code,
                "reason": self.reason,
                "latency_ms": round(elapsed * 1000, 3),
                "request_id": self.request_id,
                "peer": self.context.peer(),
            },
        )
