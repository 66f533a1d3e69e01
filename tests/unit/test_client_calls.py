"""The Python SDK's service calls against real in-process gRPC servers: operations, error
translation, search and embedding."""

from __future__ import annotations

import io
import itertools
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from fixtures.sdk_servers import pack, rich_status
from google.longrunning import operations_pb2, operations_pb2_grpc
from grpc_status import rpc_status

from simmesh_client import (
    Client,
    ClientConfig,
    FieldViolation,
    PartialFailure,
    ProgressBar,
    SimmeshError,
    from_vector,
    to_vector_batch,
    wait_operation,
)
from simmesh_proto.v1 import (
    common_pb2,
    embedder_pb2,
    embedder_pb2_grpc,
    indexer_pb2,
    indexer_pb2_grpc,
    labeler_pb2,
    labeler_pb2_grpc,
)

# No SIMMESH_* variable of the environment running the tests leaks into them.
pytestmark = pytest.mark.usefixtures("clean_env")


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
        batch = request.query_vectors
        rows = np.frombuffer(batch.data, "<f4").reshape(batch.count, -1) if batch.count else []
        vectors = [from_vector(q.vector) for q in request.queries] or rows
        hits = [
            indexer_pb2.QueryResult(hits=[indexer_pb2.Hit(id=f"q{i}", score=float(v.sum()))])
            for i, v in enumerate(vectors)
        ]
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
    assert all(a < b for a, b in itertools.pairwise(progress))
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
        wait_operation(
            client.operations("indexer"), name, response_type=indexer_pb2.Collection, timeout=0.2, poll_interval=0.05
        )

    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.reason == "OPERATION_TIMEOUT"
    assert caught.value.metadata["operation"] == name
    assert time.monotonic() - started < 1.2


def test_wait_operation_poll_timeout_is_not_the_wait_timing_out(indexer: IndexerMesh) -> None:
    client, _, _ = indexer

    with pytest.raises(SimmeshError) as caught:
        wait_operation(
            client.operations("indexer"),
            "operations/slow",
            response_type=indexer_pb2.Collection,
            timeout=30,
            rpc_timeout=0.1,
        )

    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.reason != "OPERATION_TIMEOUT"


def test_wait_operation_unknown_name_and_wrong_type(indexer: IndexerMesh) -> None:
    client, _, _ = indexer

    with pytest.raises(SimmeshError) as caught:
        wait_operation(client.operations("indexer"), "operations/nope", response_type=indexer_pb2.Collection)
    assert caught.value.code is grpc.StatusCode.NOT_FOUND

    with pytest.raises(TypeError, match=r"simmesh\.v1\.Collection"):
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
        client.indexer.search_batch("products", np.ones(4), k=5000)

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
    with Client(ClientConfig(labeler_address=address)) as client, pytest.raises(SimmeshError) as caught:
        for chunk in client.labeler.rpc.ExportLabels(labeler_pb2.ExportLabelsRequest(project="projects/p")):
            chunks.append(chunk)

    assert [c.data for c in chunks] == [b"id,label\n"]
    assert caught.value.reason == "SHARD_UNAVAILABLE"
    assert caught.value.retriable


# --- convenience methods ----------------------------------------------------------------------


def test_search_batch_packs_float32_and_filter(indexer: IndexerMesh) -> None:
    client, servicer, _ = indexer
    queries = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, 0.0, 0.0, 0.0]])

    color_filter = {"color": {"$in": ["red", "blue"]}}

    response = client.indexer.search_batch("products", queries, k=3, filter=color_filter, nprobe=8)

    request = servicer.searches[-1]
    assert request.collection == "collections/products" and request.k == 3 and request.nprobe == 8
    # The batch goes as one matrix of float32 rows (`query_vectors`), not one message per query.
    assert not request.queries and (request.query_vectors.count, request.query_vectors.dimension) == (2, 4)
    assert request.query_vectors.data == struct.pack("<8f", 1, 2, 3, 4, 0.5, 0, 0, 0)
    assert dict(request.filter["color"]) == {"$in": ["red", "blue"]}
    assert [r.hits[0].score for r in response.results] == [10.0, 0.5]


def test_search_vectors_still_answers_as_search_batch_and_warns(indexer: IndexerMesh) -> None:
    client, _, _ = indexer
    queries = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, 0.0, 0.0, 0.0]])

    with pytest.warns(DeprecationWarning, match="search_batch"):
        old = client.indexer.search_vectors("products", queries, k=3, filter={"color": "red"})

    assert old == client.indexer.search_batch("products", queries, k=3, filter={"color": "red"})


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
            return embedder_pb2.EmbedResponse(
                model_version=request.model + "/versions/1", vectors=to_vector_batch(rows), errors=errors
            )

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
