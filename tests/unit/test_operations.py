"""The Operations service over a real grpc.aio server: progress, wait, cancel, errors, listing,
deletion, and operations outliving the process that ran them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from fixtures.status import error_info
from google.longrunning import operations_pb2_grpc
from google.longrunning import operations_proto_pb2 as ops_pb2
from google.protobuf import duration_pb2, empty_pb2, struct_pb2, wrappers_pb2
from grpc_status import rpc_status

from simmesh.kit.errors import FailedPrecondition, SimmeshError, from_rpc_error
from simmesh.kit.operations import JobContext, JobFn, OperationManager, OperationStore, RecoveryReport
from simmesh.kit.operations_service import add_to_server

Operation = ops_pb2.Operation


async def abort_with(context: grpc.aio.ServicerContext, error: SimmeshError) -> None:
    await context.abort_with_status(rpc_status.to_status(error.to_status()))


class _CatalogueErrorsToStatus(grpc.aio.ServerInterceptor):
    """Turns the catalogue's exceptions into gRPC statuses, as the server's error interceptor does."""

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary

        async def guarded(request, context):  # type: ignore[no-untyped-def]
            try:
                return await behavior(request, context)
            except SimmeshError as err:
                await abort_with(context, err)

        return grpc.unary_unary_rpc_method_handler(
            guarded, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )


@dataclass
class Serving:
    manager: OperationManager
    stub: operations_pb2_grpc.OperationsStub
    recovery: RecoveryReport


@contextlib.asynccontextmanager
async def serving(
    store: OperationStore,
    *,
    report_interval: float = 0.2,
    resumable: dict[str, JobFn] | None = None,
    ttl: float = 0.0,
    sweep_interval: float = 60.0,
) -> AsyncIterator[Serving]:
    manager = OperationManager(store, report_interval=report_interval, ttl=ttl, sweep_interval=sweep_interval)
    for kind, resume in (resumable or {}).items():
        manager.register_resumable(kind, resume)
    recovery = manager.recover()
    server = grpc.aio.server(interceptors=[_CatalogueErrorsToStatus()])
    add_to_server(manager, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Serving(manager, operations_pb2_grpc.OperationsStub(channel), recovery)
    finally:
        await channel.close()
        await manager.shutdown()
        await server.stop(None)
        store.close()


@pytest.fixture
async def ops(tmp_path: Path) -> AsyncIterator[Serving]:
    async with serving(OperationStore(tmp_path / "operations.db")) as served:
        yield served


def progress(value: float, **counts: float) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update({"progress": value, **counts})
    return message


def metadata_of(operation: Operation) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    assert operation.metadata.Unpack(message)
    return message


async def get(stub: operations_pb2_grpc.OperationsStub, name: str) -> Operation:
    return await stub.GetOperation(ops_pb2.GetOperationRequest(name=name))


async def get_until(
    stub: operations_pb2_grpc.OperationsStub, name: str, predicate: Callable[[Operation], bool], timeout: float = 5.0
) -> Operation:
    deadline = time.monotonic() + timeout
    while True:
        operation = await get(stub, name)
        if predicate(operation):
            return operation
        if time.monotonic() > deadline:
            raise AssertionError(f"operation never reached the expected state: {operation}")
        await asyncio.sleep(0.02)


async def blocked(ctx: JobContext) -> empty_pb2.Empty:
    await asyncio.Event().wait()
    return empty_pb2.Empty()


async def finished(ctx: JobContext) -> wrappers_pb2.StringValue:
    return wrappers_pb2.StringValue(value=ctx.name)


async def test_progress_is_visible_and_wait_returns_the_response(ops: Serving) -> None:
    gates = [asyncio.Event(), asyncio.Event()]

    async def train(ctx: JobContext) -> wrappers_pb2.StringValue:
        ctx.report(progress(0.25))
        await gates[0].wait()
        ctx.report(progress(0.5))
        await gates[1].wait()
        ctx.report(progress(1.0))
        return wrappers_pb2.StringValue(value="models/m/versions/1")

    started = ops.manager.start("train", progress(0.0), train)
    assert started.name.startswith("operations/") and not started.done

    await get_until(ops.stub, started.name, lambda op: metadata_of(op)["progress"] == 0.25)
    gates[0].set()
    seen = await get_until(ops.stub, started.name, lambda op: metadata_of(op)["progress"] == 0.5)
    assert not seen.done
    gates[1].set()

    done = await ops.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=started.name), timeout=10)
    assert done.done and done.WhichOneof("result") == "response"
    response = wrappers_pb2.StringValue()
    assert done.response.Unpack(response)
    assert response.value == "models/m/versions/1"
    assert metadata_of(done)["progress"] == 1.0  # the last report is kept even when throttled
    assert await get(ops.stub, started.name) == done


class CountingStore(OperationStore):
    writes = 0

    def update_metadata(self, name: str, metadata) -> bool:  # type: ignore[no-untyped-def]
        self.writes += 1
        return super().update_metadata(name, metadata)


async def test_progress_reports_are_throttled(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "operations.db")
    async with serving(store, report_interval=0.2) as served:

        async def chatty(ctx: JobContext) -> empty_pb2.Empty:
            for step in range(1, 301):
                ctx.report(progress(step / 300, step=step))
                await asyncio.sleep(0.002)
            return empty_pb2.Empty()

        began = time.monotonic()
        started = served.manager.start("reembed", progress(0.0), chatty)
        done = await served.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=started.name), timeout=10)
        elapsed = time.monotonic() - began
        assert metadata_of(done)["step"] == 300
        assert store.writes <= elapsed / 0.2 + 2


async def test_wait_times_out_with_the_running_operation(ops: Serving) -> None:
    started = ops.manager.start("build", progress(0.0), blocked)

    began = time.monotonic()
    waited = await ops.stub.WaitOperation(
        ops_pb2.WaitOperationRequest(name=started.name, timeout=duration_pb2.Duration(nanos=200_000_000)), timeout=5
    )
    assert not waited.done and 0.15 < time.monotonic() - began < 2

    began = time.monotonic()  # no timeout in the request: the call's deadline bounds the wait
    waited = await ops.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=started.name), timeout=0.5)
    assert not waited.done and time.monotonic() - began < 0.5


async def test_cancel_stops_a_running_job(ops: Serving) -> None:
    started = ops.manager.start("train", progress(0.0), blocked)
    await ops.stub.CancelOperation(ops_pb2.CancelOperationRequest(name=started.name))

    cancelled = await get(ops.stub, started.name)
    assert cancelled.done and cancelled.error.code == grpc.StatusCode.CANCELLED.value[0]
    assert error_info(cancelled.error).reason == "OPERATION_CANCELLED"


async def test_cancel_reaches_a_job_working_in_a_thread(ops: Serving) -> None:
    stopped = threading.Event()

    def work(ctx: JobContext) -> None:
        step = 0
        while not ctx.cancelled:
            step += 1
            ctx.report(progress(0.01, step=step))
            time.sleep(0.01)
        stopped.set()

    async def job(ctx: JobContext) -> empty_pb2.Empty:
        await asyncio.to_thread(work, ctx)
        return empty_pb2.Empty()

    started = ops.manager.start("reembed", progress(0.0), job)
    await get_until(ops.stub, started.name, lambda op: metadata_of(op)["step"] > 0)
    await ops.stub.CancelOperation(ops_pb2.CancelOperationRequest(name=started.name))

    cancelled = await get(ops.stub, started.name)
    assert cancelled.done and cancelled.error.code == grpc.StatusCode.CANCELLED.value[0]
    assert await asyncio.to_thread(stopped.wait, 5)


async def test_cancel_of_a_done_operation_changes_nothing(ops: Serving) -> None:
    started = ops.manager.start("quick", progress(0.0), finished)
    done = await ops.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=started.name), timeout=5)

    await ops.stub.CancelOperation(ops_pb2.CancelOperationRequest(name=started.name))
    assert await get(ops.stub, started.name) == done


async def test_a_failing_job_carries_its_error_reason(ops: Serving) -> None:
    async def train(ctx: JobContext) -> empty_pb2.Empty:
        raise FailedPrecondition("need at least 1000 vectors to train, have 12", reason="NEED_MORE_SAMPLES")

    started = ops.manager.start("train", progress(0.0), train)
    failed = await ops.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=started.name), timeout=5)
    assert failed.done and failed.WhichOneof("result") == "error"
    assert failed.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert failed.error.message == "need at least 1000 vectors to train, have 12"
    info = error_info(failed.error)
    assert (info.reason, info.domain) == ("NEED_MORE_SAMPLES", "simmesh")


async def test_an_unexpected_exception_is_internal_and_logged(ops: Serving, caplog: pytest.LogCaptureFixture) -> None:
    async def train(ctx: JobContext) -> empty_pb2.Empty:
        raise RuntimeError("secret path /srv/keys leaked")

    started = ops.manager.start("train", progress(0.0), train)
    failed = await ops.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=started.name), timeout=5)
    assert failed.error.code == grpc.StatusCode.INTERNAL.value[0]
    assert "secret" not in failed.error.message
    assert any(r.exc_info and "secret path" in str(r.exc_info[1]) for r in caplog.records)


async def test_list_filters_and_pages_newest_first(ops: Serving) -> None:
    quick = [ops.manager.start("quick", progress(0.0), finished).name for _ in range(5)]
    slow = [ops.manager.start("slow", progress(0.0), blocked).name for _ in range(2)]
    for name in quick:
        await ops.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=name), timeout=5)

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await ops.stub.ListOperations(
            ops_pb2.ListOperationsRequest(name="operations", filter="done=true", page_size=2, page_token=token)
        )
        assert len(page.operations) <= 2 and all(op.done for op in page.operations)
        seen += [op.name for op in page.operations]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == quick[::-1] and pages == 3

    running = await ops.stub.ListOperations(ops_pb2.ListOperationsRequest(filter="done = false"))
    assert [op.name for op in running.operations] == slow[::-1] and not running.next_page_token
    by_kind = await ops.stub.ListOperations(ops_pb2.ListOperationsRequest(filter='kind="quick" AND done=true'))
    assert [op.name for op in by_kind.operations] == quick[::-1]
    everything = await ops.stub.ListOperations(ops_pb2.ListOperationsRequest())
    assert len(everything.operations) == 7


async def test_list_refuses_bad_tokens_filters_and_sizes(ops: Serving) -> None:
    for _ in range(3):
        ops.manager.start("slow", progress(0.0), blocked)
    first = await ops.stub.ListOperations(ops_pb2.ListOperationsRequest(filter="done=false", page_size=1))
    assert first.next_page_token

    bad_requests = [
        (ops_pb2.ListOperationsRequest(page_token="garbage!"), "INVALID_PAGE_TOKEN", "page_token"),
        (
            ops_pb2.ListOperationsRequest(filter="kind=quick", page_token=first.next_page_token),
            "INVALID_PAGE_TOKEN",
            "page_token",
        ),
        (ops_pb2.ListOperationsRequest(filter="state=RUNNING"), "INVALID_FILTER", "filter"),
        (ops_pb2.ListOperationsRequest(filter="done=maybe"), "INVALID_FILTER", "filter"),
        (ops_pb2.ListOperationsRequest(page_size=-1), "INVALID_PAGE_SIZE", "page_size"),
    ]
    for request, reason, field in bad_requests:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await ops.stub.ListOperations(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        error = from_rpc_error(caught.value)
        assert error.reason == reason and error.violations[0][0] == field


async def test_delete(ops: Serving) -> None:
    running = ops.manager.start("slow", progress(0.0), blocked)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ops.stub.DeleteOperation(ops_pb2.DeleteOperationRequest(name=running.name))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert from_rpc_error(caught.value).reason == "OPERATION_RUNNING"
    assert not (await get(ops.stub, running.name)).done

    done = ops.manager.start("quick", progress(0.0), finished)
    await ops.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=done.name), timeout=5)
    await ops.stub.DeleteOperation(ops_pb2.DeleteOperationRequest(name=done.name))
    for call in (
        ops.stub.GetOperation(ops_pb2.GetOperationRequest(name=done.name)),
        ops.stub.DeleteOperation(ops_pb2.DeleteOperationRequest(name=done.name)),
        ops.stub.CancelOperation(ops_pb2.CancelOperationRequest(name=done.name)),
        ops.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=done.name)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert from_rpc_error(caught.value).reason == "OPERATION_NOT_FOUND"


async def test_done_operations_expire_after_the_ttl_and_running_ones_never(tmp_path: Path) -> None:
    async with serving(OperationStore(tmp_path / "operations.db"), ttl=0.3, sweep_interval=0.05) as ops:
        running = ops.manager.start("slow", progress(0.0), blocked).name
        done = ops.manager.start("quick", progress(0.0), finished).name
        assert (await ops.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=done), timeout=5)).done
        await asyncio.sleep(0.6)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await get(ops.stub, done)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert from_rpc_error(caught.value).reason == "OPERATION_NOT_FOUND"
        assert not (await get(ops.stub, running)).done
        listed = await ops.stub.ListOperations(ops_pb2.ListOperationsRequest())
        assert [operation.name for operation in listed.operations] == [running]


async def test_operations_are_kept_for_ever_without_a_ttl(ops: Serving) -> None:
    done = ops.manager.start("quick", progress(0.0), finished).name
    await ops.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=done), timeout=5)
    assert ops.manager.expire() == 0
    assert ops.manager.store.expire(3600.0) == 0
    assert ops.manager.store.expire(0.0, now=time.time() + 1) == 1


async def test_shutdown_leaves_jobs_for_the_next_manager(tmp_path: Path) -> None:
    path = tmp_path / "operations.db"
    async with serving(OperationStore(path)) as first:
        interrupted = first.manager.start("slow", progress(0.0), blocked).name
        cancel_pending = first.manager.start("slow", progress(0.0), blocked).name
        first.manager.store.request_cancel(cancel_pending)  # cancel asked for, process stopped first
    async with serving(OperationStore(path)) as second:
        assert second.recovery.aborted == (interrupted,)
        assert second.recovery.cancelled == (cancel_pending,)
        assert (await get(second.stub, interrupted)).error.code == grpc.StatusCode.ABORTED.value[0]
        assert (await get(second.stub, cancel_pending)).error.code == grpc.StatusCode.CANCELLED.value[0]


_OWNER_SCRIPT = """
import asyncio, json, sys

import grpc
from google.protobuf import struct_pb2, wrappers_pb2

from simmesh.kit.operations import OperationManager, OperationStore
from simmesh.kit.operations_service import add_to_server


def progress(value, **counts):
    message = struct_pb2.Struct()
    message.update({"progress": value, **counts})
    return message


async def quick(ctx):
    return wrappers_pb2.StringValue(value="quick result")


async def slow(ctx):
    ctx.report(progress(0.5, done_records=40))
    await asyncio.Event().wait()


async def main():
    manager = OperationManager(OperationStore(sys.argv[1]))
    manager.recover()
    server = grpc.aio.server()
    add_to_server(manager, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    finished = manager.start("quick", progress(0.0), quick)
    await manager.wait(finished.name)
    interrupted = manager.start("train", progress(0.0), slow)
    resumable = manager.start("reembed", progress(0.0, done_records=0), slow)
    names = {"quick": finished.name, "train": interrupted.name, "reembed": resumable.name}
    print(json.dumps({"port": port, **names}), flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
"""


async def test_operations_survive_the_owning_process_being_killed(tmp_path: Path) -> None:
    path = tmp_path / "operations.db"
    owner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _OWNER_SCRIPT, str(path), stdout=asyncio.subprocess.PIPE
    )
    try:
        line = await asyncio.wait_for(owner.stdout.readline(), timeout=30)  # type: ignore[union-attr]
        started = json.loads(line)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{started['port']}") as channel:
            stub = operations_pb2_grpc.OperationsStub(channel)
            assert (await get(stub, started["quick"])).done
            for name in (started["train"], started["reembed"]):
                running = await get_until(stub, name, lambda op: metadata_of(op)["progress"] == 0.5)
                assert not running.done
        os.kill(owner.pid, signal.SIGKILL)
        assert await owner.wait() == -signal.SIGKILL
    finally:
        if owner.returncode is None:
            os.kill(owner.pid, signal.SIGKILL)
            await owner.wait()

    async def resume_reembed(ctx: JobContext) -> struct_pb2.Struct:
        done_records = ctx.metadata_as(struct_pb2.Struct)["done_records"]
        ctx.report(progress(1.0, done_records=100))
        result = struct_pb2.Struct()
        result.update({"resumed_from": done_records})
        return result

    async with serving(OperationStore(path), resumable={"reembed": resume_reembed}) as restarted:
        assert restarted.recovery.aborted == (started["train"],)
        assert restarted.recovery.resumed == (started["reembed"],)

        quick = await get(restarted.stub, started["quick"])
        response = wrappers_pb2.StringValue()
        assert quick.done and quick.response.Unpack(response) and response.value == "quick result"

        interrupted = await get(restarted.stub, started["train"])
        assert interrupted.done and interrupted.error.code == grpc.StatusCode.ABORTED.value[0]
        assert error_info(interrupted.error).reason == "OPERATION_INTERRUPTED"
        assert "start it again" in interrupted.error.message
        assert metadata_of(interrupted)["progress"] == 0.5

        resumed = await restarted.stub.WaitOperation(ops_pb2.WaitOperationRequest(name=started["reembed"]), timeout=10)
        result = struct_pb2.Struct()
        assert resumed.done and resumed.response.Unpack(result)
        assert result["resumed_from"] == 40
        assert metadata_of(resumed)["done_records"] == 100
