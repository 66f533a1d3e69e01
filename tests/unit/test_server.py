"""The service kit's server: errors, auth, health, reflection, metrics, logs and the drain."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request

import grpc
import pytest
from fixtures.status import error_info, fields_of, reason_of
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simmesh.kit import errors
from simmesh.kit.logs import JsonFormatter
from simmesh.kit.server import binding, build_server
from simmesh.kit.settings import ServerSettings
from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc

INDEXER = indexer_pb2.DESCRIPTOR.services_by_name["IndexerService"]


class _Indexer(indexer_pb2_grpc.IndexerServiceServicer):
    """A servicer with a few behaviours to drive the kit through."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def GetCollection(self, request, context):
        if request.name == "collections/missing":
            raise errors.NotFound("collection `missing` does not exist", reason="COLLECTION_NOT_FOUND")
        if request.name == "collections/bad":
            raise errors.InvalidArgument("must start with `collections/`", reason="INVALID_NAME", field="name")
        if request.name == "collections/boom":
            raise RuntimeError("secret internal detail")
        if request.name == "collections/slow":
            self.started.set()
            await self.release.wait()
        return indexer_pb2.Collection(name=request.name, dimension=8)


async def _unimplemented(self, request, context):
    raise errors.Unimplemented("not part of this fake", reason="NOT_IMPLEMENTED")


# The kit's behaviours need one RPC. The fake defines the others as refusals on purpose, since
# `build_server` refuses a servicer that leaves any undefined.
for _method in INDEXER.methods:
    if _method.name not in vars(_Indexer):
        setattr(_Indexer, _method.name, _unimplemented)


@pytest.fixture
async def served():
    """A started server on a free port; yields (app, servicer, channel)."""
    apps = []

    async def start(**overrides):
        servicer = _Indexer()
        settings = ServerSettings(host="127.0.0.1", port=0, metrics_port=0, shutdown_grace=5, **overrides)
        app = build_server(
            settings, [binding(servicer, indexer_pb2, indexer_pb2_grpc, "IndexerService")], service_label="indexer"
        )
        await app.start()
        channel = grpc.aio.insecure_channel(app.address)
        apps.append((app, channel))
        return app, servicer, channel

    yield start
    for app, channel in apps:
        await channel.close()
        await app.stop(grace=0)


async def test_domain_errors_carry_code_reason_and_field(served):
    _, _, channel = await served()
    stub = indexer_pb2_grpc.IndexerServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/missing"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "missing" in caught.value.details()
    info = error_info(caught.value)
    assert (info.reason, info.domain) == ("COLLECTION_NOT_FOUND", "simmesh")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/bad"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value).reason == "INVALID_NAME"
    assert fields_of(caught.value) == ["name"]


async def test_unexpected_errors_become_internal_without_leaking(served, caplog):
    _, _, channel = await served()
    stub = indexer_pb2_grpc.IndexerServiceStub(channel)
    with caplog.at_level(logging.ERROR, logger="simmesh.access"), pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/boom"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret internal detail" not in caught.value.details()
    info = error_info(caught.value)
    assert info.reason == "INTERNAL" and info.metadata["request_id"]
    assert any("secret internal detail" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_a_servicer_that_leaves_rpcs_undefined_is_refused_at_build_naming_them():
    class OneRpc(indexer_pb2_grpc.IndexerServiceServicer):
        async def GetCollection(self, request, context):
            return indexer_pb2.Collection(name=request.name)

    settings = ServerSettings(host="127.0.0.1", port=0, metrics_port=-1)
    with pytest.raises(TypeError) as caught:
        build_server(settings, [binding(OneRpc(), indexer_pb2, indexer_pb2_grpc, "IndexerService")])
    named = set(str(caught.value).split("implement ", 1)[1].split(", "))
    assert {"simmesh.v1.IndexerService.TrainIndex", "simmesh.v1.IndexerService.StreamInsertRecords"} <= named
    assert "simmesh.v1.IndexerService.GetCollection" not in named


async def test_token_auth_guards_everything_but_health(served):
    _, _, channel = await served(auth_token="s3cret")
    stub = indexer_pb2_grpc.IndexerServiceStub(channel)
    request = indexer_pb2.GetCollectionRequest(name="collections/a")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCollection(request)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason_of(caught.value) == "TOKEN_MISSING"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCollection(request, metadata=[("authorization", "Bearer wrong")])
    assert reason_of(caught.value) == "TOKEN_INVALID"
    ok = await stub.GetCollection(request, metadata=[("authorization", "Bearer s3cret")])
    assert ok.dimension == 8
    health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_metrics_count_rpcs_by_method_and_code(served):
    app, _, channel = await served()
    stub = indexer_pb2_grpc.IndexerServiceStub(channel)
    await stub.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/a"))
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/missing"))
    url = f"http://127.0.0.1:{app.metrics.http_port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'simmesh_rpc_requests_total{code="OK",method="GetCollection",service="indexer"} 1.0' in text
    assert 'simmesh_rpc_requests_total{code="NOT_FOUND",method="GetCollection",service="indexer"} 1.0' in text
    assert 'simmesh_rpc_latency_seconds_count{method="GetCollection",service="indexer"} 2.0' in text


async def test_an_error_is_counted_before_the_caller_sees_it(served):
    # Aborting sends the status at once; the count must not trail behind it. Without the
    # ordering, a few calls in a few hundred came back before their count.
    app, _, channel = await served()
    stub = indexer_pb2_grpc.IndexerServiceStub(channel)
    behind = []
    for calls in range(1, 301):
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/missing"))
        counted = f'simmesh_rpc_requests_total{{code="NOT_FOUND",method="GetCollection",service="indexer"}} {calls}.0'
        if counted not in app.metrics.text():
            behind.append(calls)
    assert behind == []


async def test_access_log_is_one_json_line_per_rpc(served, caplog):
    _, _, channel = await served()
    stub = indexer_pb2_grpc.IndexerServiceStub(channel)
    with caplog.at_level(logging.INFO, logger="simmesh.access"):
        await stub.GetCollection(
            indexer_pb2.GetCollectionRequest(name="collections/a"), metadata=[("x-request-id", "req-42")]
        )
    lines = [json.loads(JsonFormatter("indexer").format(r)) for r in caplog.records if r.name == "simmesh.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "GetCollection" and line["code"] == "OK" and line["request_id"] == "req-42"
    assert line["rpc_service"] == "simmesh.v1.IndexerService" and line["latency_ms"] >= 0


async def test_drain_finishes_in_flight_calls_and_reports_not_serving(served):
    app, servicer, channel = await served()
    stub = indexer_pb2_grpc.IndexerServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    slow = asyncio.ensure_future(stub.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/slow")))
    await asyncio.wait_for(servicer.started.wait(), 5)
    stopping = asyncio.ensure_future(app.stop(grace=5))
    await asyncio.sleep(0.2)
    assert not stopping.done(), "stop() must wait for the in-flight call"
    status = await app.health.Check(health_pb2.HealthCheckRequest(service=""), None)
    assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
    servicer.release.set()
    reply = await asyncio.wait_for(slow, 5)
    assert reply.name == "collections/slow"
    await asyncio.wait_for(stopping, 10)
    with pytest.raises(grpc.aio.AioRpcError):
        await health.Check(health_pb2.HealthCheckRequest(), timeout=1)


def test_error_round_trips_through_status():
    original = errors.FailedPrecondition(
        "need at least 1000 vectors to train, have 12", reason="NEED_MORE_SAMPLES", metadata={"have": 12, "need": 1000}
    )
    back = errors.from_status(original.to_status())
    assert isinstance(back, errors.FailedPrecondition)
    assert (back.reason, back.message, back.metadata) == (
        original.reason,
        original.message,
        {"have": "12", "need": "1000"},
    )
