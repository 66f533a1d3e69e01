"""The Python SDK's hub and `simctl status` against real in-process gRPC servers: health, the
token, vectors, configuration, and the SDK's module layout."""

from __future__ import annotations

import ast
import json
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
from fixtures.sdk_servers import config_for, health_with, nothing_listening
from grpc_health.v1 import health_pb2

import simmesh_client
from simmesh_client import (
    SERVICES,
    Client,
    ClientConfig,
    ServingStatus,
    from_vector,
    from_vector_batch,
    to_vector,
    to_vector_batch,
)
from simmesh_client.cli import main
from simmesh_proto.v1 import common_pb2

EMBEDDER = "simmesh.v1.EmbedderService"
INDEXER = "simmesh.v1.IndexerService"

# --- health and `simctl status` ---------------------------------------------------------------

# No SIMMESH_* variable of the environment running the tests leaks into them.
pytestmark = pytest.mark.usefixtures("clean_env")


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
    code = main(
        [
            "--host",
            "127.0.0.1",
            "--embedder",
            address,
            "status",
            "--indexer",
            address,
            "--catalog",
            address,
            "--labeler",
            address,
        ]
    )

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


def test_token_from_cli_and_env(
    serve: Callable[..., str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
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
    env = {
        "SIMMESH_MESH_HOST": "mesh",
        "SIMMESH_INDEXER_ADDR": "idx:9000",
        "SIMMESH_TIMEOUT": "2.5",
        "SIMMESH_TOKEN": "t",
    }

    config = ClientConfig.from_env(env, catalog="cat:1")

    assert [config.address(s) for s in ("embedder", "indexer", "catalog", "labeler")] == [
        "mesh:50051",
        "idx:9000",
        "cat:1",
        "mesh:50054",
    ]
    assert (config.timeout, config.token) == (2.5, "t")
    assert ClientConfig.from_env({}).address("labeler") == "localhost:50054"
    with pytest.raises(ValueError, match="SIMMESH_TIMEOUT"):
        ClientConfig.from_env({"SIMMESH_TIMEOUT": "soon"})


# --- module layout ----------------------------------------------------------------------------

SDK = Path(simmesh_client.__file__).parent
# The hub and the modules built on it: the package's front door and the command line.
ABOVE_THE_HUB = {"simmesh_client", "simmesh_client.client", "simmesh_client.cli"}


def sdk_imports(path: Path) -> set[str]:
    """The `simmesh_client` modules a module imports at its top level."""
    tree = ast.parse(path.read_text())
    named = {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    named |= {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    return {name for name in named if name.startswith("simmesh_client")}


def sdk_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(SDK.rglob("*.py")):
        parts = path.relative_to(SDK.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def test_no_sdk_module_below_the_hub_imports_it_and_imports_form_no_circle() -> None:
    modules = sdk_modules()
    graph = {name: sdk_imports(path) & set(modules) - {"simmesh_client"} for name, path in modules.items()}
    below_the_hub = {name: imported for name, imported in graph.items() if name not in ABOVE_THE_HUB}
    assert [name for name, imported in below_the_hub.items() if "simmesh_client.client" in imported] == []
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import circle: {' -> '.join((*path, name))}"
        if name not in done:
            for imported in graph[name]:
                visit(imported, (*path, name))
            done.add(name)

    for name in graph:
        visit(name, ())


@pytest.mark.parametrize(
    "module",
    [
        "simmesh_client.base",
        "simmesh_client.embedder",
        "simmesh_client.indexer",
        "simmesh_client.catalog",
        "simmesh_client.catalog_training",
        "simmesh_client.labeler",
        "simmesh_client.client",
    ],
)
def test_each_client_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    run = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
