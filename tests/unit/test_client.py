"""The Python SDK and `simctl status` against real in-process gRPC servers."""

from __future__ import annotations

import io
import json
import socket
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from simmesh_client import (
    SERVICES,
    Client,
    ClientConfig,
    FieldViolation,
    PartialFailure,
    ProgressBar,
    ServingStatus,
    SimmeshError,
    from_vector,
    from_vector_batch,
    to_vector,
    to_vector_batch,
    wait_operation,
)
from simmesh_client.cli import main
from simmesh_proto.v1 import (
    common_pb2,
    embedder_pb2,
    embedder_pb2_grpc,
    indexer_pb2,
    indexer_pb2_grpc,
    labeler_pb2,
    labeler_pb2_grpc,
)

EMBEDDER = "simmesh.v1.EmbedderService"
INDEXER = "simmesh.v1.IndexerService"
ENV_VARS = (
    "SIMMESH_MESH_HOST",
    "SIMMESH_EMBEDDER_ADDR",
    "SIMMESH_INDEXER_ADDR",
    "SIMMESH_CATALOG_ADDR",
    "SIMMESH_LABELER_ADDR",
    "SIMMESH_TOKEN",
    "SIMMESH_TIMEOUT",
)

Registrar = Callable[[grpc.Server], None]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start a sync gRPC server on a free port with the given registrations; returns its address."""
    servers: list[grpc.Server] = []

    def start(*registrars: Registrar, interceptors: tuple[grpc.ServerInterceptor, ...] = ()) -> str:
        server = grpc.server(ThreadPoolExecutor(max_workers=4), interceptors=interceptors)
        for register in registrars:
            register(server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(None)


def nothing_listening() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def health_with(statuses: dict[str, int]) -> Registrar:
    def register(server: grpc.Server) -> None:
        servicer = health.HealthServicer()
        for name, status in statuses.items():
            servicer.set(name, status)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)

    return register


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def rich_status(code: grpc.StatusCode, message: str, reason: str, *, field: str | None = None) -> status_pb2.Status:
    details = [pack(error_details_pb2.ErrorInfo(reason=reason, domain="simmesh", metadata={"limit": "1000"}))]
    if field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
        details.append(pack(error_details_pb2.BadRequest(field_violations=[violation])))
    return status_pb2.Status(code=code.value[0], message=message, details=details)


def config_for(**addresses: str) -> ClientConfig:
    """Each named service at its address; the others where nothing listens."""
    dead = nothing_listening()
    return ClientConfig(
        embedder_address=addresses.get("embedder", dead),
        indexer_address=addresses.get("indexer", dead),
        catalog_address=addresses.get("catalog", dead),
        labeler_address=addresses.get("labeler", dead),
    )


# --- health and `simctl status` ---------------------------------------------------------------


@pytest.fixture
def mixed_mesh(serve: Callable[..., str]) -> dict[str, str]:
    """embedder SERVING and indexer NOT_SERVING on one server, catalog down, labeler SERVING
    on a server that only reports its overall status."""
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    shared = serve(health_with({EMBEDDER: serving, INDEXER: not_serving}))
    overall_only = serve(health_with({"": serving}))
    return {"embedder": shared, "indexer": shared, "catalog": nothing_listening(), "labeler": overall_only}


def test_health_reports_each_service(mixed_mesh: dict[str, str]) -> None:
    with Client(config_for(**mixed_mesh)) as client:
        report = client.health()

    assert list(report) == ["embedder", "indexer", "catalog", "labeler"]
    assert {service: h.status for service, h in report.items()} == {
        "embedder": ServingStatus.SERVING,
        "indexer": ServingStatus.NOT_SERVING,
        "catalog": ServingStatus.UNREACHABLE,
        "labeler": ServingStatus.SERVING,
    }
    assert report["catalog"].address == mixed_mesh["catalog"]
    assert report["catalog"].latency_ms is None
    assert report["catalog"].error and report["catalog"].error.startswith("UNAVAILABLE")
    assert report["embedder"].latency_ms is not None and report["embedder"].latency_ms > 0
    assert report["embedder"].error is None and report["indexer"].error is None


def test_status_json_matches_and_fails(mixed_mesh: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["status", "--json"] + [arg for service, address in mixed_mesh.items() for arg in (f"--{service}", address)]

    code = main(argv)

    output = json.loads(capsys.readouterr().out)
    assert code != 0
    assert output["serving"] is False
    assert [(s["service"], s["address"], s["status"]) for s in output["services"]] == [
        ("embedder", mixed_mesh["embedder"], "SERVING"),
        ("indexer", mixed_mesh["indexer"], "NOT_SERVING"),
        ("catalog", mixed_mesh["catalog"], "UNREACHABLE"),
        ("labeler", mixed_mesh["labeler"], "SERVING"),
    ]
    assert output["services"][2]["latency_ms"] is None and "UNAVAILABLE" in output["services"][2]["error"]


def test_status_exits_zero_when_all_serve(serve: Callable[..., str], capsys: pytest.CaptureFixture[str]) -> None:
    address = serve(health_with({"": health_pb2.HealthCheckResponse.SERVING}))

    # Options may come before the verb; the host override points every service at one server.
    code = main(["--host", "127.0.0.1", "--embedder", address, "status", "--indexer", address,
                 "--catalog", address, "--labeler", address])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split()[:4] == ["SERVICE", "ADDRESS", "STATUS", "LATENCY"]
    assert [line.split()[:3] for line in lines[1:]] == [[s, address, "SERVING"] for s in SERVICES]


def test_status_with_nothing_listening_is_quick(capsys: pytest.CaptureFixture[str]) -> None:
    addresses = [arg for service in SERVICES for arg in (f"--{service}", nothing_listening())]
    started = time.monotonic()

    code = main(["status", *addresses])

    assert code == 1
    assert time.monotonic() - started < 5
    assert capsys.readouterr().out.count("UNREACHABLE") == 4


# --- metadata: token and deadline -------------------------------------------------------------


class RecordMetadata(grpc.ServerInterceptor):
    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    def intercept_service(self, continuation, handler_call_details):
        self.seen.append(dict(handler_call_details.invocation_metadata))
        return continuation(handler_call_details)


def test_bearer_token_reaches_the_server(serve: Callable[..., str]) -> None:
    recorder = RecordMetadata()
    address = serve(health_with({"": health_pb2.HealthCheckResponse.SERVING}), interceptors=(recorder,))

    with Client(ClientConfig(embedder_address=address, token="s3cret")) as client:
        assert client.health(["embedder"])["embedder"].serving
    with_token, recorder.seen = recorder.seen, []
    with Client(ClientConfig(embedder_address=address)) as client:
        assert client.health(["embedder"])["embedder"].serving
    without_token = recorder.seen

    assert with_token and all(seen["authorization"] == "Bearer s3cret" for seen in with_token)
    assert without_token and all("authorization" not in seen for seen in without_token)


def test_token_from_cli_and_env(serve: Callable[..., str], monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    recorder = RecordMetadata()
    address = serve(health_with({"": health_pb2.HealthCheckResponse.SERVING}), interceptors=(recorder,))
    monkeypatch.setenv("SIMMESH_MESH_HOST", "127.0.0.1")
    monkeypatch.setenv("SIMMESH_EMBEDDER_ADDR", address)
    monkeypatch.setenv("SIMMESH_TOKEN", "from-env")

    main(["status"])
    from_env, recorder.seen = recorder.seen, []
    main(["status", "--token", "from-flag"])
    from_flag = recorder.seen

    capsys.readouterr()
    assert {seen["authorization"] for seen in from_env} == {"Bearer from-env"}
    assert {seen["authorization"] for seen in from_flag} == {"Bearer from-flag"}


# --- operations -------------------------------------------------------------------------------


def progress_step(progress: float, stage: str) -> operations_pb2.Operation:
    metadata = indexer_pb2.TrainIndexMetadata(collection="collections/products", stage=stage, progress=progress)
    return operations_pb2.Operation(metadata=pack(metadata))


TRAINED = indexer_pb2.Collection(name="collections/products", dimension=4, index_state=indexer_pb2.INDEX_STATE_TRAINED)


class ScriptedOperations(operations_pb2_grpc.OperationsServicer):
    """Each GetOperation answers the next step of the operation's script; the last step repeats."""

    def __init__(self) -> None:
        done_ok = progress_step(1.0, "done")
        done_ok.done = True
        done_ok.response.Pack(TRAINED)
        done_failed = progress_step(0.1, "sampling")
        done_failed.done = True
        done_failed.error.CopyFrom(
            rich_status(
                grpc.StatusCode.FAILED_PRECONDITION, "need at least 1000 vectors to train, have 12", "NEED_MORE_SAMPLES"
            )
        )
        self.scripts: dict[str, list[operations_pb2.Operation]] = {
            "operations/ok": [
                progress_step(0.25, "training"),
                progress_step(0.5, "training"),
                progress_step(0.5, "training"),
                progress_step(0.9, "adding"),
                done_ok,
            ],
            "operations/failed": [progress_step(0.1, "sampling"), done_failed],
            "operations/forever": [progress_step(0.0, "sampling")],
            "operations/slow": [progress_step(0.0, "sampling")],
        }
        self.delays = {"operations/slow": 1.5}
        self.deadlines: list[float | None] = []

    def GetOperation(self, request, context):
        self.deadlines.append(context.time_remaining())
        time.sleep(self.delays.get(request.name, 0.0))
        steps = self.scripts.get(request.name)
        if steps is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no operation {request.name}")
        step = operations_pb2.Operation()
        step.CopyFrom(steps.pop(0) if len(steps) > 1 else steps[0])
        step.name = request.name
        return step


class FakeIndexer(indexer_pb2_grpc.IndexerServiceServicer):
    def __init__(self) -> None:
        self.searches: list[indexer_pb2.SearchRequest] = []

    def Search(self, request, context):
        self.searches.append(request)
        if request.collection == "collections/missing":
            context.abort(grpc.StatusCode.NOT_FOUND, "collection missing does not exist")
        if request.k > 1000:
            context.abort_with_status(
                rpc_status.to_status(
                    rich_status(grpc.StatusCode.INVALID_ARGUMENT, "k must be 1..1000", "INVALID_K", field="k")
                )
            )
        hits = [indexer_pb2.QueryResult(hits=[indexer_pb2.Hit(id=f"q{i}", score=float(from_vector(q.vector).sum()))])
                for i, q in enumerate(request.queries)]
        return indexer_pb2.SearchResponse(results=hits)

    def TrainIndex(self, request, context):
        return operations_pb2.Operation(name="operations/ok", metadata=progress_step(0.0, "sampling").metadata)


IndexerMesh = tuple[Client, FakeIndexer, ScriptedOperations]


@pytest.fixture
def indexer(serve: Callable[..., str]) -> Iterator[IndexerMesh]:
    servicer, operations = FakeIndexer(), ScriptedOperations()
    address = serve(
        lambda server: indexer_pb2_grpc.add_IndexerServiceServicer_to_server(servicer, server),
        lambda server: operations_pb2_grpc.add_OperationsServicer_to_server(operations, server),
    )
    with Client(ClientConfig(indexer_address=address, timeout=7)) as client:
        yield client, servicer, operations


def test_wait_operation_reports_progress_and_returns_response(indexer: IndexerMesh) -> None:
    client, _, _ = indexer
    seen: list[indexer_pb2.TrainIndexMetadata] = []

    result = wait_operation(
        client.operations("indexer"),
        "operations/ok",
        response_type=indexer_pb2.Collection,
        metadata_type=indexer_pb2.TrainIndexMetadata,
        poll_interval=0.01,
        on_progress=seen.append,
    )

    assert result == TRAINED
    progress = [m.progress for m in seen]
    assert progress == [0.25, 0.5, 0.9, 1.0]
    assert all(a < b for a, b in zip(progress, progress[1:]))
    assert seen[-1].stage == "done"


def test_wait_operation_raises_the_operation_error(indexer: IndexerMesh) -> None:
    client, _, _ = indexer
    seen: list[float] = []

    with pytest.raises(SimmeshError) as caught:
        wait_operation(
            client.operations("indexer"),
            "operations/failed",
            response_type=indexer_pb2.Collection,
            metadata_type=indexer_pb2.TrainIndexMetadata,
            poll_interval=0.01,
            on_progress=lambda m: seen.append(m.progress),
        )

    error = caught.value
    assert error.code is grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "NEED_MORE_SAMPLES"
    assert error.message == "need at least 1000 vectors to train, have 12"
    assert error.metadata["operation"] == "operations/failed"
    assert seen == [pytest.approx(0.1)]


@pytest.mark.parametrize("name", ["operations/forever", "operations/slow"])
def test_wait_operation_times_out(indexer: IndexerMesh, name: str) -> None:
    # "slow": the wait's time runs out while a GetOperation is still in flight. That is the same
    # timeout as finding the operation unfinished, not the poll's own bare DEADLINE_EXCEEDED.
    client, _, _ = indexer
    started = time.monotonic()

    with pytest.raises(SimmeshError) as caught:
        wait_operation(client.operations("indexer"), name, response_type=indexer_pb2.Collection,
                       timeout=0.2, poll_interval=0.05)

    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.reason == "OPERATION_TIMEOUT"
    assert caught.value.metadata["operation"] == name
    assert time.monotonic() - started < 1.2


def test_wait_operation_poll_timeout_is_not_the_wait_timing_out(indexer: IndexerMesh) -> None:
    client, _, _ = indexer

    with pytest.raises(SimmeshError) as caught:
        wait_operation(client.operations("indexer"), "operations/slow", response_type=indexer_pb2.Collection,
                       timeout=30, rpc_timeout=0.1)

    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.reason != "OPERATION_TIMEOUT"


def test_wait_operation_unknown_name_and_wrong_type(indexer: IndexerMesh) -> None:
    client, _, _ = indexer

    with pytest.raises(SimmeshError) as caught:
        wait_operation(client.operations("indexer"), "operations/nope", response_type=indexer_pb2.Collection)
    assert caught.value.code is grpc.StatusCode.NOT_FOUND

    with pytest.raises(TypeError, match="simmesh.v1.Collection"):
        wait_operation(
            client.operations("indexer"), "operations/ok", response_type=labeler_pb2.Project, poll_interval=0.01
        )


def test_train_index_waits_with_a_progress_bar(indexer: IndexerMesh) -> None:
    client, _, operations = indexer
    out = io.StringIO()

    with ProgressBar("training", file=out, disable=False) as bar:
        result = client.indexer.train_index("products", poll_interval=0.01, on_progress=bar)

    assert result == TRAINED
    assert bar.percent == 100.0
    assert "done" in out.getvalue()
    # Every poll carried the client's default deadline.
    assert operations.deadlines and all(d is not None and 0 < d < 7.5 for d in operations.deadlines)


# --- errors -----------------------------------------------------------------------------------


def test_rich_status_becomes_simmesh_error(indexer: IndexerMesh) -> None:
    client, _, _ = indexer

    with pytest.raises(SimmeshError) as caught:
        client.indexer.search_vectors("products", np.ones(4), k=5000)

    error = caught.value
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == "k must be 1..1000"
    assert error.reason == "INVALID_K"
    assert error.domain == "simmesh"
    assert error.violations == (FieldViolation("k", "k must be 1..1000"),)
    assert error.metadata == {"limit": "1000"}
    assert not error.retriable
    assert str(error) == "INVALID_ARGUMENT (INVALID_K): k must be 1..1000 [k: k must be 1..1000]"


def test_raw_stub_raises_grpc_error_and_converts(indexer: IndexerMesh) -> None:
    client, _, _ = indexer
    request = indexer_pb2.SearchRequest(collection="collections/missing", queries=[indexer_pb2.Query(record_id="a")])

    with pytest.raises(grpc.RpcError) as raw:
        client.indexer.stub.Search(request)
    with pytest.raises(SimmeshError) as wrapped:
        client.indexer.rpc.Search(request)

    converted = SimmeshError.from_rpc_error(raw.value)
    for error in (converted, wrapped.value):
        assert error.code is grpc.StatusCode.NOT_FOUND
        assert error.message == "collection missing does not exist"
        assert error.reason == "" and error.violations == ()


def test_stream_errors_are_translated_while_iterating(serve: Callable[..., str]) -> None:
    class Labeler(labeler_pb2_grpc.LabelerServiceServicer):
        def ExportLabels(self, request, context):
            yield labeler_pb2.ExportLabelsChunk(content_type="text/csv", data=b"id,label\n")
            context.abort_with_status(
                rpc_status.to_status(rich_status(grpc.StatusCode.UNAVAILABLE, "shard 2 is down", "SHARD_UNAVAILABLE"))
            )

    address = serve(lambda server: labeler_pb2_grpc.add_LabelerServiceServicer_to_server(Labeler(), server))
    chunks = []
    with Client(ClientConfig(labeler_address=address)) as client:
        with pytest.raises(SimmeshError) as caught:
            for chunk in client.labeler.rpc.ExportLabels(labeler_pb2.ExportLabelsRequest(project="projects/p")):
                chunks.append(chunk)

    assert [c.data for c in chunks] == [b"id,label\n"]
    assert caught.value.reason == "SHARD_UNAVAILABLE"
    assert caught.value.retriable


# --- convenience methods ----------------------------------------------------------------------


def test_search_vectors_packs_float32_and_filter(indexer: IndexerMesh) -> None:
    client, servicer, _ = indexer
    queries = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, 0.0, 0.0, 0.0]])

    color_filter = {"color": {"$in": ["red", "blue"]}}

    response = client.indexer.search_vectors("products", queries, k=3, filter=color_filter, nprobe=8)

    request = servicer.searches[-1]
    assert request.collection == "collections/products" and request.k == 3 and request.nprobe == 8
    assert request.queries[0].vector.data == struct.pack("<4f", 1, 2, 3, 4)
    assert dict(request.filter["color"]) == {"$in": ["red", "blue"]}
    assert [r.hits[0].score for r in response.results] == [10.0, 0.5]


def test_embed_returns_rows_and_reports_failed_items(serve: Callable[..., str], tmp_path: Path) -> None:
    class Embedder(embedder_pb2_grpc.EmbedderServiceServicer):
        def Embed(self, request, context):
            rows = np.zeros((len(request.images), 3), dtype=np.float32)
            errors = []
            for i, image in enumerate(request.images):
                if image.content == b"bad":
                    status = rich_status(grpc.StatusCode.INVALID_ARGUMENT, "not an image", "IMAGE_UNDECODABLE")
                    item_id = request.ids[i] if request.ids else ""
                    errors.append(common_pb2.ItemError(index=i, id=item_id, status=status))
                else:
                    rows[i] = [i, len(image.content) + len(image.url), 1]
            return embedder_pb2.EmbedResponse(model_version=request.model + "/versions/1",
                                              vectors=to_vector_batch(rows), errors=errors)

    address = serve(lambda server: embedder_pb2_grpc.add_EmbedderServiceServicer_to_server(Embedder(), server))
    image_file = tmp_path / "a.jpg"
    image_file.write_bytes(b"12345")

    with Client(ClientConfig(embedder_address=address)) as client:
        vectors = client.embedder.embed("color", [b"xy", image_file, "https://example.com/b.png"])
        with pytest.raises(PartialFailure) as caught:
            client.embedder.embed("models/color", [b"ok", b"bad"], ids=["first", "second"])

    assert vectors.dtype == np.float32 and vectors.shape == (3, 3)
    assert vectors[:, 1].tolist() == [2, 5, len("https://example.com/b.png")]
    failure = caught.value
    assert [(f.index, f.id, f.error.reason) for f in failure.failures] == [(1, "second", "IMAGE_UNDECODABLE")]
    assert failure.reason == "IMAGE_UNDECODABLE" and "1 of 2 items failed" in failure.message
    assert failure.result.shape == (2, 3)


# --- vectors ----------------------------------------------------------------------------------


def test_vectors_round_trip_as_little_endian_float32() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((5, 7)).astype(np.float32)

    batch = to_vector_batch(matrix)

    assert (batch.count, batch.dimension, len(batch.data)) == (5, 7, 5 * 7 * 4)
    np.testing.assert_array_equal(from_vector_batch(batch), matrix)
    np.testing.assert_array_equal(from_vector_batch(to_vector_batch(matrix.astype(">f4"))), matrix)
    np.testing.assert_array_equal(from_vector_batch(to_vector_batch(matrix.astype(np.float64))), matrix)
    assert to_vector([1.0, -2.0]).data == struct.pack("<2f", 1.0, -2.0)
    assert from_vector(to_vector([1, 2, 3])).tolist() == [1.0, 2.0, 3.0]
    assert from_vector_batch(to_vector_batch(np.zeros((0, 4)))).shape == (0, 4)


def test_decoded_vectors_are_writable_unless_asked_for_a_view() -> None:
    vector = to_vector(np.arange(4))

    from_vector(vector)[0] = 9.0
    view = from_vector(vector, copy=False)

    assert not view.flags.writeable
    assert view.tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("encode", "value", "error"),
    [
        (to_vector, np.zeros((2, 3)), ValueError),
        (to_vector, np.zeros(0), ValueError),
        (to_vector_batch, np.zeros(3), ValueError),
        (to_vector_batch, np.zeros((2, 2, 2)), ValueError),
        (to_vector_batch, np.zeros((2, 0)), ValueError),
        (to_vector, np.array([1 + 2j]), TypeError),
        (to_vector, np.array([True, False]), TypeError),
        (to_vector, np.array(["1.0"]), TypeError),
        (to_vector, np.array([1.0, np.nan]), ValueError),
        (to_vector_batch, np.array([[np.inf, 0.0]]), ValueError),
        (to_vector, np.array([1e39]), ValueError),
    ],
)
def test_vectors_refuse_bad_input(encode, value, error) -> None:
    with pytest.raises(error):
        encode(value)


def test_vectors_refuse_wrong_byte_counts() -> None:
    with pytest.raises(ValueError, match="needs 24 bytes, has 20"):
        from_vector_batch(common_pb2.VectorBatch(dimension=3, count=2, data=b"\0" * 20))
    with pytest.raises(ValueError):
        from_vector(common_pb2.Vector(dimension=0))


# --- configuration ----------------------------------------------------------------------------


def test_config_resolves_specific_address_then_host_then_default() -> None:
    env = {"SIMMESH_MESH_HOST": "mesh", "SIMMESH_INDEXER_ADDR": "idx:9000", "SIMMESH_TIMEOUT": "2.5", "SIMMESH_TOKEN": "t"}

    config = ClientConfig.from_env(env, catalog="cat:1")

    assert [config.address(s) for s in ("embedder", "indexer", "catalog", "labeler")] == [
        "mesh:50051", "idx:9000", "cat:1", "mesh:50054"
    ]
    assert (config.timeout, config.token) == (2.5, "t")
    assert ClientConfig.from_env({}).address("labeler") == "localhost:50054"
    with pytest.raises(ValueError, match="SIMMESH_TIMEOUT"):
        ClientConfig.from_env({"SIMMESH_TIMEOUT": "soon"})
