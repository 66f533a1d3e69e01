"""The gateway in-process (uvicorn on loopback) in front of a real catalog: the mesh's errors as HTTP
statuses with their google.rpc.Status, the gateway's own refusals of bad input (nothing reaches the
catalog), the caller's key and deadline passed on, the console's static files."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from fixtures.sdk_servers import nothing_listening
from google.rpc import code_pb2
from support.apps import AppsThread, started_catalog
from support.gateway import GatewayThread, Reply, http_call

from simmesh.gateway.errors import HTTP_STATUS, error_response
from simmesh.gateway.settings import GatewaySettings
from simmesh.kit import reasons
from simmesh.kit.errors import ResourceExhausted
from simmesh_proto.v1 import labeler_pb2, labeler_pb2_grpc

TOKEN = "gateway-test-token"
LIMIT = 4096
KEY = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def catalog_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("gateway-catalog")

    async def start() -> list:
        return [await started_catalog(data, auth_token=TOKEN)]

    apps = AppsThread(start).start()
    yield apps.addresses[0]
    apps.stop()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("console")
    (folder / "index.html").write_text("<!doctype html><title>console</title>")
    (folder / "app.js").write_text("console.log('hi');")
    (folder / "assets").mkdir()
    (folder / "assets" / "style.css").write_text("body {}")
    return folder


class _SlowLabeler(labeler_pb2_grpc.LabelerServiceServicer):
    """A labeler whose ListProjects answers after 3 s: what a deadline cuts short."""

    def ListProjects(self, request, context):
        time.sleep(3)
        return labeler_pb2.ListProjectsResponse()


@pytest.fixture(scope="module")
def slow() -> Iterator[str]:
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    labeler_pb2_grpc.add_LabelerServiceServicer_to_server(_SlowLabeler(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


@pytest.fixture(scope="module")
def gateway(catalog_address: str, console: Path, slow: str) -> Iterator[str]:
    """The gateway's host:port: the catalog real, the indexer not listening, a slow labeler."""
    down = nothing_listening()
    settings = GatewaySettings(
        catalog_addr=catalog_address,
        embedder_addr=down,
        indexer_addr=down,
        labeler_addr=slow,
        gateway_max_body_bytes=LIMIT,
        console_dir=str(console),
    )
    server = GatewayThread(settings).start()
    yield server.address
    server.stop()


def call(gateway: str, method: str, path: str, body: object = None, **options) -> Reply:
    options.setdefault("headers", KEY)
    return http_call(gateway, method, path, body, timeout=30, **options)


def reason_of(reply: Reply) -> str:
    [info] = [d for d in reply.json()["details"] if d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"]
    return info["reason"]


def types_listed(gateway: str) -> list[str]:
    return [t["name"] for t in call(gateway, "GET", "/v1/similarityTypes").json().get("similarityTypes", [])]


def test_created_read_and_listed_over_http_with_the_callers_key(gateway: str) -> None:
    created = call(gateway, "POST", "/v1/similarityTypes?similarityTypeId=shoes", {"displayName": "Shoes"})
    assert created.status == 200, created.body
    assert created.json()["name"] == "similarityTypes/shoes" and created.json()["displayName"] == "Shoes"
    got = call(gateway, "GET", "/v1/similarityTypes/shoes", headers=KEY | {"X-Request-Id": "req-42"})
    assert got.json()["displayName"] == "Shoes" and got.headers["x-request-id"] == "req-42"
    assert call(gateway, "GET", "/v1/similarityTypes/shoes").headers["x-request-id"]  # one made up
    assert "similarityTypes/shoes" in types_listed(gateway)


def test_the_mesh_errors_come_back_as_their_http_status_and_reason(gateway: str) -> None:
    missing = call(gateway, "GET", "/v1/similarityTypes/nope")
    assert (missing.status, missing.json()["code"]) == (404, code_pb2.NOT_FOUND)
    assert reason_of(missing) == "SIMILARITY_TYPE_NOT_FOUND"
    call(gateway, "POST", "/v1/similarityTypes?similarityTypeId=twice", {})
    again = call(gateway, "POST", "/v1/similarityTypes?similarityTypeId=twice", {})
    assert again.status == 409 and again.json()["code"] == code_pb2.ALREADY_EXISTS


def test_a_call_without_the_key_is_unauthenticated(gateway: str) -> None:
    refused = call(gateway, "GET", "/v1/similarityTypes", headers={})
    assert refused.status == 401 and refused.json()["code"] == code_pb2.UNAUTHENTICATED


def test_the_deadline_comes_from_x_server_timeout(gateway: str) -> None:
    started = time.monotonic()
    late = call(gateway, "GET", "/v1/projects", headers=KEY | {"X-Server-Timeout": "0.3"})
    assert late.status == 504 and late.json()["code"] == code_pb2.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 5
    wrong = call(gateway, "GET", "/v1/similarityTypes", headers=KEY | {"X-Server-Timeout": "soon"})
    assert wrong.status == 400 and "X-Server-Timeout must be a positive number of seconds" in wrong.json()["message"]


def test_a_backend_that_does_not_answer_is_unavailable(gateway: str) -> None:
    down = call(gateway, "GET", "/v1/collections")
    assert down.status == 503 and down.json()["code"] == code_pb2.UNAVAILABLE


@pytest.mark.parametrize(
    ("raw", "status", "reason", "said"),
    [
        (b'{"displayName": ', 400, "MALFORMED_JSON", "body is not valid JSON: Expecting value: line 1 column 17"),
        (b'{"displayName": "x", "colour": 1}', 400, "UNKNOWN_FIELD", "body: unknown field `colour`"),
        (b'{"displayName": 5}', 400, "INVALID_FIELD_VALUE", "body: invalid value for `displayName`"),
        (b'{"metadata": []}', 400, "INVALID_FIELD_VALUE", "body: invalid value for `metadata`"),
        (b"[1, 2]", 400, "MALFORMED_JSON", "body must be a JSON object (simmesh.v1.SimilarityType), got list"),
        (b'{"displayName": "' + b"x" * LIMIT + b'"}', 413, "BODY_TOO_LARGE", f"limit of {LIMIT} bytes"),
    ],
)
def test_bad_input_is_refused_by_the_gateway_and_nothing_is_stored(
    gateway: str, raw: bytes, status: int, reason: str, said: str
) -> None:
    answer = call(gateway, "POST", "/v1/similarityTypes?similarityTypeId=bad", raw=raw)
    assert answer.status == status, answer.body
    assert answer.json()["code"] == (code_pb2.RESOURCE_EXHAUSTED if status == 413 else code_pb2.INVALID_ARGUMENT)
    assert said in answer.json()["message"] and reason_of(answer) == reason
    assert "similarityTypes/bad" not in types_listed(gateway)


def test_a_streamed_body_is_refused_once_it_passes_the_limit(gateway: str) -> None:
    connection = http.client.HTTPConnection(gateway, timeout=30)
    chunks = (b"x" * 1024 for _ in range(2 * LIMIT // 1024))
    connection.request(
        "POST", "/v1/similarityTypes?similarityTypeId=big", body=chunks, headers=KEY, encode_chunked=True
    )
    answer = connection.getresponse()
    assert answer.status == 413 and b"BODY_TOO_LARGE" in answer.read()
    connection.close()
    assert "similarityTypes/big" not in types_listed(gateway)


def test_an_unknown_route_is_404_and_a_wrong_verb_405_with_allow(gateway: str) -> None:
    unknown = call(gateway, "GET", "/v1/similarityTypes/a/b")
    assert unknown.status == 404 and reason_of(unknown) == "ROUTE_NOT_FOUND"
    assert unknown.json()["message"] == "no route for GET /v1/similarityTypes/a/b"
    wrong = call(gateway, "PUT", "/v1/similarityTypes/a")
    assert wrong.status == 405 and wrong.headers["allow"] == "DELETE, GET, PATCH"
    assert reason_of(wrong) == "METHOD_NOT_ALLOWED"


def test_codes_map_to_the_standard_http_statuses_and_retry_info_to_retry_after() -> None:
    expected = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "UNAUTHENTICATED": 401}
    expected |= {"PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "ABORTED": 409}
    expected |= {"RESOURCE_EXHAUSTED": 429, "CANCELLED": 499, "INTERNAL": 500, "UNIMPLEMENTED": 501}
    expected |= {"UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}
    assert {name: HTTP_STATUS[code_pb2.Code.Value(name)] for name in expected} == expected
    busy = ResourceExhausted("too many calls", reason=reasons.SERVER_BUSY, retry_after=2.5)
    answer = error_response(busy)
    assert answer.status_code == 429 and answer.headers["retry-after"] == "3"
    assert b"google.rpc.RetryInfo" in answer.body and b'"retryDelay":"2.500s"' in answer.body


def test_the_console_is_served_at_the_root_with_cache_headers_and_no_listing(gateway: str) -> None:
    page = call(gateway, "GET", "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache" and b"<title>console</title>" in page.body
    script = call(gateway, "GET", "/app.js")
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert script.headers["cache-control"].startswith("public, max-age=")
    assert call(gateway, "GET", "/assets/style.css").headers["content-type"].startswith("text/css")
    assert call(gateway, "GET", "/assets/").status == 404
    assert call(gateway, "GET", "/missing.js").status == 404
    assert call(gateway, "GET", "/healthz").json() == {"status": "SERVING"}
    assert len(call(gateway, "GET", "/openapi.json").json()["paths"]) > 50
