"""The REST gateway of a real local mesh (etcd, S3 server, shard nodes, router, embedder, catalog,
labeler and the gateway as `python -m simmesh.gateway`), called over HTTP on loopback."""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.chaos import mesh_client
from google.protobuf.json_format import MessageToDict
from support.gateway import Reply, http_call
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh.devstack.mesh import Mesh, MeshConfig
from simmesh_client import Client

pytestmark = pytest.mark.integration

NDJSON = "application/x-ndjson"
BODY_LIMIT = 100_000  # bytes; the gateway's limit in this mesh
DIM = 4
VECTORS = {"a": [1.0, 0.0, 0.0, 0.0], "b": [0.9, 0.1, 0.0, 0.0], "c": [0.0, 1.0, 0.0, 0.0], "d": [0.0, 0.0, 1.0, 0.0]}


@pytest.fixture(scope="module")
def gateway_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A local mesh on free ports with the gateway started by the mesh itself."""
    config = MeshConfig(
        data_dir=tmp_path_factory.mktemp("gateway") / "mesh",
        ports="auto",
        with_triton=False,
        shard_nodes=1,
        env={"SIMMESH_BUILTIN_MODELS": "false", "SIMMESH_GATEWAY_MAX_BODY_BYTES": str(BODY_LIMIT)},
    )
    with Mesh(config) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def sdk(gateway_mesh: Mesh) -> Iterator[Client]:
    with mesh_client(gateway_mesh) as client:
        yield client


@pytest.fixture(scope="module")
def collection(gateway_mesh: Mesh) -> str:
    """`collections/gw`: four 4-d vectors inserted over HTTP."""
    created = call(gateway_mesh, "POST", "/v1/collections?collectionId=gw", {"dimension": DIM, "metric": "METRIC_L2"})
    assert created.status == 200, created.body
    assert created.json()["name"] == "collections/gw"
    records = [{"id": key, "vector": vector_json(v), "metadata": {"shade": key}} for key, v in VECTORS.items()]
    inserted = call(gateway_mesh, "POST", "/v1/collections/gw/records:insert", {"records": records})
    assert inserted.status == 200, inserted.body
    assert inserted.json()["insertedCount"] == len(VECTORS)
    return "collections/gw"


def call(mesh: Mesh, method: str, path: str, body: Any = None, **options: Any) -> Reply:
    return http_call(mesh.addresses["gateway"], method, path, body, **options)


def vector_json(values: list[float]) -> dict[str, Any]:
    return {"dimension": len(values), "data": base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()}


def test_collections_are_listed_and_searched_by_record_id(gateway_mesh: Mesh, collection: str) -> None:
    listed = call(gateway_mesh, "GET", "/v1/collections")
    assert listed.status == 200
    [shown] = [c for c in listed.json()["collections"] if c["name"] == collection]
    assert shown["dimension"] == DIM and shown["metric"] == "METRIC_L2"

    found = call(gateway_mesh, "POST", f"/v1/{collection}:search", {"queries": [{"recordId": "a"}], "k": 2})
    assert found.status == 200, found.body
    [result] = found.json()["results"]
    assert result["hits"][0]["id"] == "b"  # the nearest other record to `a`


def test_records_are_read_by_id_and_listed(gateway_mesh: Mesh, collection: str) -> None:
    got = call(gateway_mesh, "GET", f"/v1/{collection}/records:batchGet?ids=a&ids=zz&includeVectors=true")
    assert got.status == 200, got.body
    assert [r["id"] for r in got.json()["records"]] == ["a"]
    assert got.json()["missingIds"] == ["zz"]
    assert got.json()["records"][0]["vector"] == vector_json(VECTORS["a"])
    page = call(gateway_mesh, "GET", f"/v1/{collection}/records?pageSize=3")
    assert page.status == 200 and len(page.json()["records"]) == 3 and page.json()["nextPageToken"]


def test_an_index_trained_over_http_is_polled_to_done(gateway_mesh: Mesh, collection: str) -> None:
    started = call(
        gateway_mesh,
        "POST",
        f"/v1/{collection}:trainIndex",
        {"index": {"kind": "INDEX_KIND_IVF_FLAT", "nlist": 1, "minTrainVectors": 1}},
    )
    assert started.status == 200, started.body
    name = started.json()["name"]
    deadline = time.monotonic() + 60
    operation = started.json()
    while not operation.get("done") and time.monotonic() < deadline:
        time.sleep(0.2)
        polled = call(gateway_mesh, "GET", f"/v1/{name}")
        assert polled.status == 200, polled.body
        operation = polled.json()
    assert operation.get("done") and "error" not in operation, operation
    assert operation["response"]["@type"] == "type.googleapis.com/simmesh.v1.Collection"
    listed = call(gateway_mesh, "GET", "/v1/operations")
    assert name in [o["name"] for o in listed.json()["operations"]]


def test_a_stream_of_inserts_answers_newline_delimited_json(gateway_mesh: Mesh, collection: str, sdk: Client) -> None:
    lines = b"\n".join(
        b'{"records": [{"id": "s%d", "vector": %s}]}'
        % (i, str(vector_json([0.5, 0.5, 0.0, i])).replace("'", '"').encode())
        for i in range(3)
    )
    before = sdk.indexer.get_collection("gw").record_count
    streamed = call(
        gateway_mesh,
        "POST",
        f"/v1/{collection}/records:streamInsert",
        raw=lines,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert streamed.status == 200, streamed.body
    assert streamed.headers["content-type"].startswith("application/x-ndjson")
    assert [line["ids"] for line in streamed.lines()] == [["s0"], ["s1"], ["s2"]]
    assert sdk.indexer.get_collection("gw").record_count == before + 3


def test_an_error_of_the_mesh_answers_its_http_status_and_reason(gateway_mesh: Mesh) -> None:
    missing = call(gateway_mesh, "GET", "/v1/collections/nope")
    assert missing.status == 404
    assert missing.json()["code"] == 5
    [info] = [d for d in missing.json()["details"] if d["@type"].endswith("ErrorInfo")]
    assert info["reason"] == "COLLECTION_NOT_FOUND" and info["domain"] == "simmesh"


BAD_INPUTS = {
    "malformed JSON": (b'{"records": [', 400, "MALFORMED_JSON", "line 1 column 14"),
    "unknown field": (
        b'{"records": [{"id": "x1", "colour": 1}]}',
        400,
        "UNKNOWN_FIELD",
        "unknown field `records[0].colour`",
    ),
    "wrong type": (b'{"records": [{"id": 7}]}', 400, "INVALID_FIELD_VALUE", "`records.id`"),
    "body over the limit": (b'{"records": [], "pad": "' + b"x" * BODY_LIMIT + b'"}', 413, "BODY_TOO_LARGE", "limit"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_precisely_and_nothing_is_stored(
    gateway_mesh: Mesh, collection: str, sdk: Client, case: str
) -> None:
    raw, status, reason, said = BAD_INPUTS[case]
    before = sdk.indexer.get_collection("gw").record_count
    answer = call(gateway_mesh, "POST", f"/v1/{collection}/records:insert", raw=raw)
    assert answer.status == status, answer.body
    assert said in answer.json()["message"]
    assert [d["reason"] for d in answer.json()["details"] if d["@type"].endswith("ErrorInfo")] == [reason]
    assert sdk.indexer.get_collection("gw").record_count == before


def test_an_unknown_route_answers_404_and_a_wrong_method_405(gateway_mesh: Mesh) -> None:
    unknown = call(gateway_mesh, "GET", "/v1/colections")
    assert unknown.status == 404 and "no route for GET /v1/colections" in unknown.json()["message"]
    wrong = call(gateway_mesh, "DELETE", "/v1/collections")
    assert wrong.status == 405 and wrong.headers["allow"] == "GET, POST"


@pytest.fixture(scope="module")
def tiny_model(gateway_mesh: Mesh) -> str:
    """`models/tiny`, imported over HTTP: a client stream of a header line and a chunk line."""
    model = tiny_embedding_model(dimension=8)
    header = {"modelId": "tiny", "manifest": MessageToDict(tiny_manifest(dimension=8)), "sizeBytes": str(len(model))}
    lines = [json.dumps({"header": header}), json.dumps({"chunk": base64.b64encode(model).decode()})]
    imported = call(
        gateway_mesh, "POST", "/v1/models:import", raw="\n".join(lines).encode(), headers={"Content-Type": NDJSON}
    )
    assert imported.status == 200, imported.body
    assert imported.json()["name"].startswith("models/tiny/versions/")
    return "models/tiny"


def png_json(colour: tuple[int, int, int]) -> dict[str, str]:
    return {"content": base64.b64encode(png_bytes(colour)).decode()}


def test_a_stream_that_fails_midway_ends_with_an_error_line(gateway_mesh: Mesh, tiny_model: str) -> None:
    both = {"images": [png_json((10, 10, 200))], "texts": ["blue"]}  # refused: a request embeds one kind
    lines = [{"images": [png_json((10, 200, 10))]}, both]
    raw = "\n".join(json.dumps(line) for line in lines).encode()
    streamed = call(gateway_mesh, "POST", f"/v1/{tiny_model}:streamEmbed", raw=raw, headers={"Content-Type": NDJSON})
    assert streamed.status == 200, streamed.body
    first, *rest = streamed.lines()
    assert first["vectors"]["count"] == 1, first
    [last] = rest
    assert last["error"]["code"] == 3, last
    assert last["error"]["details"][0]["reason"] == "IMAGES_AND_TEXTS"


def test_labeled_images_are_exported_as_a_stream(gateway_mesh: Mesh, tiny_model: str) -> None:
    project = call(gateway_mesh, "POST", "/v1/projects?projectId=colours", {"model": tiny_model})
    assert project.status == 200, project.body
    images = [
        {"id": f"i{n}", "image": png_json(colour), "labels": [label]}
        for n, (colour, label) in enumerate([((250, 0, 0), "red"), ((0, 0, 250), "blue")])
    ]
    added = call(gateway_mesh, "POST", "/v1/projects/colours/images:add", {"images": images})
    assert added.status == 200, added.body

    exported = call(gateway_mesh, "GET", "/v1/projects/colours/labels:export?format=EXPORT_FORMAT_CSV")
    assert exported.status == 200, exported.body
    assert exported.headers["content-type"].startswith(NDJSON)
    chunks = exported.lines()
    assert chunks and all("error" not in chunk for chunk in chunks)
    text = b"".join(base64.b64decode(chunk.get("data", "")) for chunk in chunks).decode()
    assert "i0" in text and "red" in text and "i1" in text and "blue" in text


def test_each_services_database_backups_have_their_own_routes(gateway_mesh: Mesh) -> None:
    made = call(gateway_mesh, "POST", "/v1/labeler/databaseBackups", {"backupId": "before-review"})
    assert made.status == 200, made.body
    labeler = call(gateway_mesh, "GET", "/v1/labeler/databaseBackups").json()
    catalog = call(gateway_mesh, "GET", "/v1/catalog/databaseBackups").json()
    assert made.json()["name"] in [b["name"] for b in labeler["backups"]]
    assert made.json()["name"] not in [b["name"] for b in catalog.get("backups", [])]


def test_an_operation_no_service_knows_is_not_found(gateway_mesh: Mesh) -> None:
    missing = call(gateway_mesh, "GET", "/v1/operations/00000000-0000-0000-0000-000000000000")
    assert missing.status == 404 and missing.json()["code"] == 5
