"""The REST handler: match, transcode, call the mesh, answer JSON, NDJSON streams or a Status."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from simmesh.gateway.errors import error_response, rpc_status, status_json, status_response
from simmesh.gateway.routes import Match, Route, Router
from simmesh.gateway.transcode import parse_json, stream_requests, unary_request
from simmesh.gateway.upstream import Backends, CallOptions, call_stream, call_unary
from simmesh.kit import reasons
from simmesh.kit.errors import Internal, InvalidArgument, NotFound, ResourceExhausted, SimmeshError, Unimplemented
from simmesh.kit.request_ids import new_request_id

NDJSON = "application/x-ndjson"
TIMEOUT_HEADER = "x-server-timeout"
REQUEST_ID_HEADER = "x-request-id"
_ACCESS = logging.getLogger("simmesh.gateway.access")


@dataclass(frozen=True)
class Limits:
    call_timeout: float  # seconds, when the request names none
    max_body_bytes: int


class RestHandler:
    """Serves every `/v1/...` request from the route table."""

    def __init__(self, router: Router, backends: Backends, limits: Limits) -> None:
        self.router = router
        self.backends = backends
        self.limits = limits

    async def serve(self, request: Request) -> Response:
        """The answer to one request, and its access log line."""
        started = time.perf_counter()
        request_id = request.headers.get(REQUEST_ID_HEADER) or new_request_id()
        answer = await self._answer_or_error(request, request_id)
        answer.headers[REQUEST_ID_HEADER] = request_id
        _ACCESS.info(
            "http",
            extra={
                "method": request.method,
                "path": request.scope["path"],
                "status": answer.status_code,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                "request_id": request_id,
            },
        )
        return answer

    async def _answer_or_error(self, request: Request, request_id: str) -> Response:
        try:
            return await self._answer(request, request_id)
        except _MethodNotAllowed as error:
            answer = error_response(error, 405)
            answer.headers["Allow"] = error.metadata["allow"]
            return answer
        except SimmeshError as error:
            return error_response(error, _own_http_status(error))
        except grpc.aio.AioRpcError as error:
            return status_response(rpc_status(error))
        except Exception:  # a fault of the gateway itself: logged, answered as INTERNAL like the services do
            _ACCESS.exception("gateway fault", extra={"request_id": request_id})
            return error_response(Internal("internal error"))

    async def _answer(self, request: Request, request_id: str) -> Response:
        path = request.scope["path"]
        found = self.router.match(request.method, path)
        if not isinstance(found, Match):
            if not found:
                raise NotFound(f"no route for {request.method} {path}", reason=reasons.ROUTE_NOT_FOUND)
            raise _MethodNotAllowed(request.method, path, found)
        route = found.route
        options = self._call_options(request, request_id)
        raw = await self._body(request)
        params = request.query_params.multi_items()
        if route.client_streaming:
            given: Message | list[Message] = _stream_body(route, found.bound, raw)
        else:
            body = parse_json(raw, "body") if route.body and raw.strip() else None
            given = unary_request(route.method.input_type, route.body, found.bound, body, params)
        if route.server_streaming:
            return await _streamed(call_stream(self.backends, route, given, options))
        answer = await call_unary(self.backends, route, given, options)
        return JSONResponse(json_format.MessageToDict(answer))

    def _call_options(self, request: Request, request_id: str) -> CallOptions:
        metadata = [(REQUEST_ID_HEADER, request_id)]
        if "authorization" in request.headers:
            metadata.append(("authorization", request.headers["authorization"]))
        return CallOptions(metadata, _timeout(request.headers.get(TIMEOUT_HEADER), self.limits.call_timeout))

    async def _body(self, request: Request) -> bytes:
        """The body, refused (413) past the limit: by its Content-Length, or as its bytes arrive."""
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)


class _MethodNotAllowed(Unimplemented):
    def __init__(self, verb: str, path: str, allowed: list[str]) -> None:
        super().__init__(
            f"{verb} is not allowed on {path}; allowed: {', '.join(allowed)}",
            reason=reasons.METHOD_NOT_ALLOWED,
            metadata={"allow": ", ".join(allowed)},
        )


def _own_http_status(error: SimmeshError) -> int | None:
    """HTTP statuses the gateway's own errors answer where the code's mapping is not the right one."""
    return 413 if error.reason == reasons.BODY_TOO_LARGE else None


def _too_large(limit: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"the request body passed the limit of {limit} bytes", reason=reasons.BODY_TOO_LARGE, metadata={"limit": limit}
    )


def _timeout(header: str | None, default: float) -> float:
    if header is None:
        return default
    try:
        seconds = float(header.strip().removesuffix("s"))
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise InvalidArgument(
            f"X-Server-Timeout must be a positive number of seconds, got {header!r}",
            reason=reasons.INVALID_FIELD_VALUE,
            field="X-Server-Timeout",
        )
    return seconds


def _stream_body(route: Route, bound: dict[str, str], raw: bytes) -> list[Message]:
    """A client stream's messages: newline-delimited JSON, or one JSON object (maybe over several lines)."""
    stripped = raw.strip()
    if stripped.startswith(b"{") and b"\n" in stripped:
        try:
            whole = json.loads(stripped)
        except ValueError:
            whole = None
        if isinstance(whole, dict):
            stripped = json.dumps(whole).encode()
    return stream_requests(route.method.input_type, bound, stripped)


async def _streamed(call: Any) -> Response:
    """A server stream as newline-delimited JSON. An error before the first message answers as an HTTP
    error; one after it ends the stream with a last line `{"error": <Status>}`."""
    try:
        first = await call.read()
    except grpc.aio.AioRpcError as error:
        return status_response(rpc_status(error))

    async def lines() -> AsyncIterator[bytes]:
        message = first
        try:
            while message is not grpc.aio.EOF:
                yield _line(json_format.MessageToDict(message))
                message = await call.read()
        except grpc.aio.AioRpcError as error:
            yield _line({"error": status_json(rpc_status(error))})
        finally:
            call.cancel()

    return StreamingResponse(lines(), media_type=NDJSON)


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"
