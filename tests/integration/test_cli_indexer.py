"""`simctl` collections, insert, search, get, delete and train-index against a real indexer cluster
(router and two shard processes on real etcd and S3), and the SDK calls underneath."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simmesh_client import Client, ClientConfig, SimmeshError
from simmesh_client.cli import main
from simmesh_client.records import InsertBatch
from simmesh_proto.v1 import common_pb2, indexer_pb2

pytestmark = pytest.mark.integration

DIM = 8
COLORS = ("red", "green", "blue")


@pytest.fixture
def router(indexer_cluster) -> str:
    return indexer_cluster(shards=2).router_address


def simctl(router: str, *args: str) -> int:
    return main(["--indexer", router, *args])


def search(router: str, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What a successful `simctl search --collection vecs ARGS` printed."""
    assert simctl(router, "search", "--collection", "vecs", *args) == 0
    return capsys.readouterr().out


def search_json(router: str, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    return json.loads(search(router, capsys, *args, "--json"))


def good_record(n: int, vector: np.ndarray) -> dict:
    record = {
        "_id": f"r{n}",
        "_vector": [float(v) for v in vector],
        "color": COLORS[n % 3],
        "price": n,
        "pid": f"p{n // 3}",
        "tags": [f"t{n % 4}"],
    }
    if n % 2 == 0:
        record["_url"] = f"https://shop.example/{n}.jpg"
    return record


def write_jsonl(path: Path, data: np.ndarray) -> dict[int, str]:
    """40 good records in batches of 16, with bad lines between; returns the bad lines' reasons by line."""
    lines: list[str] = []
    bad: dict[int, str] = {}

    def add(value: object, reason: str | None = None) -> None:
        lines.append(value if isinstance(value, str) else json.dumps(value))
        if reason:
            bad[len(lines)] = reason

    for n in range(40):
        add(good_record(n, data[n]))
        if n == 2:
            add('{"_id": "broken", "_vector": [1, 2', "INVALID_JSON")
        if n == 4:
            add("")
            add([1, 2, 3], "INVALID_JSON")
        if n == 6:
            add({"_id": "short", "_vector": [0.5, 0.5, 0.5], "color": "red"}, "DIMENSION_MISMATCH")
        if n == 8:
            add({**good_record(0, data[1]), "price": -1}, "DUPLICATE_ID")
        if n == 20:
            add({**good_record(5, data[1]), "price": -1}, "RECORD_EXISTS")
        if n == 22:
            add({"_id": "words", "_vector": ["a", "b"]}, "INVALID_VECTOR")
        if n == 24:
            add({"_id": "empty", "color": "red"}, "NO_VECTOR_OR_IMAGE")
        if n == 26:
            add({"_id": "hidden", "_vector": [0.0] * (DIM - 1) + [1.0], "_secret": 1}, "RESERVED_FIELD")
    path.write_text("\n".join(lines) + "\n")
    return bad


def cosine_ranking(data: np.ndarray, query: np.ndarray, allowed: list[int]) -> list[str]:
    normed = data / np.linalg.norm(data, axis=1, keepdims=True)
    scores = normed[allowed] @ (query / np.linalg.norm(query))
    return [f"r{allowed[i]}" for i in np.argsort(-scores)]


def test_insert_a_jsonl_file_then_search_get_and_delete(router, tmp_path, capsys):
    assert (
        simctl(
            router,
            "collections",
            "create",
            "vecs",
            "--dimension",
            str(DIM),
            "--shards",
            "2",
            "--product-field",
            "pid",
            "--tags-field",
            "tags",
            "--index-field",
            "color",
            "--index-field",
            "price",
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("created collections/vecs\n")

    data = np.random.default_rng(7).standard_normal((40, DIM)).astype(np.float32)
    jsonl = tmp_path / "records.jsonl"
    bad_lines = write_jsonl(jsonl, data)

    code = simctl(router, "insert", str(jsonl), "--collection", "vecs", "--batch-size", "16")
    out = capsys.readouterr().out
    assert code == 1, out
    lines = out.splitlines()
    assert lines[0] == f"inserted 40, updated 0, failed {len(bad_lines)} of {40 + len(bad_lines)} records"
    assert lines[1] == "failures by reason:"
    assert lines[2].split() == ["INVALID_JSON", "2"]
    listed = {int(line.split()[1].rstrip(":")): line for line in lines if line.startswith("  line ")}
    assert {number: line.split(": ")[1] for number, line in listed.items()} == bad_lines
    duplicate_line = next(number for number, reason in bad_lines.items() if reason == "DUPLICATE_ID")
    assert "(r0): DUPLICATE_ID: id 'r0' appears earlier in the same batch" in listed[duplicate_line]

    with Client(ClientConfig(indexer_address=router)) as client:
        stored = {record.id: record for record in client.indexer.list_records("vecs", page_size=7)}
        assert sorted(stored) == sorted(f"r{n}" for n in range(40))
        # The first of a repeated id is kept; the repeats changed nothing.
        assert stored["r0"].metadata["price"] == 0 and stored["r5"].metadata["price"] == 5
        assert stored["r4"].url == "https://shop.example/4.jpg" and stored["r3"].url == ""
        assert "_url" not in stored["r4"].metadata and stored["r4"].metadata["tags"] == ["t0"]

    # By id with a filter: exact cosine ranking among the red records, the query record left out.
    hits = search_json(router, capsys, "--id", "r0", "-k", "5", "--filter", '{"color": "red"}')["hits"]
    red = [n for n in range(1, 40) if n % 3 == 0]
    assert [hit["id"] for hit in hits] == cosine_ranking(data, data[0], red)[:5]
    assert [hit["rank"] for hit in hits] == [1, 2, 3, 4, 5]
    assert all(hit["metadata"]["color"] == "red" for hit in hits)
    assert hits == sorted(hits, key=lambda hit: -hit["score"])

    # By vector: the record with that vector first, scoring 1; the table shows url and metadata.
    vector = ",".join(f"{v:.7f}" for v in data[10])
    table = search(router, capsys, f"--vector={vector}", "-k", "3", "--filter", '{"price": {"$lt": 20}}').splitlines()
    assert table[0].split() == ["RANK", "ID", "SCORE", "URL", "METADATA"]
    assert table[1].split()[:4] == ["1", "r10", "1.0000", "https://shop.example/10.jpg"]
    assert "color=green pid=p3 price=10 …" in table[1] and len(table) == 4
    hits = search_json(router, capsys, f"--vector={vector}", "-k", "40", "--filter", '{"price": {"$lt": 20}}')["hits"]
    assert [hit["id"] for hit in hits] == cosine_ranking(data, data[10], list(range(20)))

    # Grouped by product: best record per product, two at most per group.
    groups = search_json(router, capsys, "--id", "r9", "-k", "4", "--group-by", "--group-size", "2")["groups"]
    assert len(groups) == 4 and len({group["product_id"] for group in groups}) == 4
    assert all(
        1 <= len(group["hits"]) <= 2 and all(h["metadata"]["pid"] == group["product_id"] for h in group["hits"])
        for group in groups
    )

    assert simctl(router, "get", "--collection", "vecs", "--id", "r1", "ghost", "--json") == 1
    captured = capsys.readouterr()
    got = json.loads(captured.out)
    assert got["missing_ids"] == ["ghost"]
    assert got["records"] == [{"_id": "r1", "color": "green", "price": 1, "pid": "p0", "tags": ["t1"]}]

    blue = [n for n in range(40) if n % 3 == 2]
    assert simctl(router, "delete", "--collection", "vecs", "--filter", '{"color": "blue"}') == 0
    assert capsys.readouterr().out == f"deleted {len(blue)} records\n"
    assert simctl(router, "delete", "--collection", "vecs", "--id", "r0", "ghost") == 0
    assert capsys.readouterr().out == "deleted 1 records\nnot found: ghost\n"

    assert simctl(router, "collections", "stats", "vecs", "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert int(stats["record_count"]) == 40 - len(blue) - 1 and len(stats["shards"]) == 2
    assert simctl(router, "collections", "list") == 0
    rows = capsys.readouterr().out.splitlines()
    # RECORDS there comes from the shards' registrations, which catch up on their own schedule.
    assert rows[0].split() == ["NAME", "TYPE", "DIMENSION", "METRIC", "MODEL", "SHARDS", "RECORDS", "INDEX"]
    assert rows[1].split()[:6] == ["collections/vecs", "-", str(DIM), "cosine", "-", "2"]
    assert rows[1].split()[7:] == ["ivf_flat", "(exact)"]


def test_train_index_on_a_small_collection_is_refused(router, tmp_path, capsys):
    with Client(ClientConfig(indexer_address=router)) as client:
        collection = client.indexer.create_collection("small", DIM, shard_count=2, index_kind="ivf_flat")
        assert collection.dimension == DIM and collection.metric == indexer_pb2.METRIC_COSINE
        vectors = np.random.default_rng(3).standard_normal((30, DIM))
        summary = client.indexer.insert("small", [{"_id": f"s{n}", "_vector": v} for n, v in enumerate(vectors)])
        assert (summary.inserted, summary.failed) == (30, 0)

    assert simctl(router, "train-index", "--collection", "small", "--kind", "ivf_flat", "--wait") == 1
    captured = capsys.readouterr()
    assert (
        captured.err == "simctl: FAILED_PRECONDITION (NEED_MORE_SAMPLES): need at least 1000 vectors to train, "
        "have 30\n"
    )
    assert simctl(router, "train-index", "--collection", "small") == 1
    assert "NEED_MORE_SAMPLES" in capsys.readouterr().err

    assert simctl(router, "collections", "show", "small", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["index_state"] == "INDEX_STATE_EXACT" and shown["index"]["kind"] == "INDEX_KIND_IVF_FLAT"
    assert shown["record_count"] == "30" and shown["shard_count"] == 2
    assert simctl(router, "collections", "delete", "small") == 0
    assert simctl(router, "collections", "show", "small") == 1
    assert capsys.readouterr().err.startswith("simctl: NOT_FOUND (COLLECTION_NOT_FOUND): ")


def test_sdk_insert_reports_each_batch_and_upserts(router, tmp_path):
    with Client(ClientConfig(indexer_address=router)) as client:
        indexer = client.indexer
        indexer.create_collection("items", DIM, shard_count=2)
        vectors = np.random.default_rng(4).standard_normal((10, DIM)).astype(np.float32)
        batches: list[InsertBatch] = []
        records = [
            *({"_id": f"i{n}", "_vector": vectors[n].tolist(), "n": n} for n in range(6)),
            indexer_pb2.RecordInput(id="i6", vector=common_pb2.Vector(dimension=DIM, data=vectors[6].tobytes())),
            {"_id": "i7", "_file": str(tmp_path / "missing.jpg")},
            {"_vector": vectors[8].tolist(), "n": 8},
        ]
        summary = indexer.insert("items", records, batch_size=4, on_batch=batches.append)
        assert [(b.start, b.count, b.inserted) for b in batches] == [(0, 4, 4), (4, 4, 3), (8, 1, 1)]
        assert batches[0].ids == ("i0", "i1", "i2", "i3") and batches[1].ids[3] == ""
        generated = batches[2].ids[0]
        assert len(generated) == 32
        assert (summary.total, summary.inserted, summary.updated) == (9, 8, 0)
        assert [(f.index, f.id, f.reason) for f in summary.failures] == [(7, "i7", "FILE_UNREADABLE")]

        again = indexer.insert(
            "items",
            [{"_id": "i0", "_vector": vectors[9].tolist(), "n": 90}, {"_id": "i1", "_vector": vectors[1].tolist()}],
        )
        assert [(f.index, f.reason) for f in again.failures] == [(0, "RECORD_EXISTS"), (1, "RECORD_EXISTS")]
        replaced = indexer.insert("items", [{"_id": "i0", "_vector": vectors[9].tolist(), "n": 90}], upsert=True)
        assert (replaced.inserted, replaced.updated, replaced.failed) == (0, 1, 0)
        record = indexer.get_records("items", ["i0"], include_vectors=True).records[0]
        assert record.metadata["n"] == 90
        np.testing.assert_allclose(
            np.frombuffer(record.vector.data, "<f4"), vectors[9] / np.linalg.norm(vectors[9]), atol=1e-6
        )

        result = indexer.search("items", vector=vectors[3], k=2, filter={"n": {"$gte": 2}})
        assert result.hits[0].id == "i3" and result.hits[0].metadata["n"] == 3
        assert indexer.search("items", record_id="i3", k=1, include_metadata=False).hits[0].metadata.fields == {}
        assert indexer.delete_records("items", filter={"n": {"$lt": 3}}).deleted_count == 2
        assert sorted(r.id for r in indexer.list_records("items")) == sorted(["i3", "i4", "i5", "i6", "i0", generated])
        with pytest.raises(SimmeshError) as raised:
            indexer.insert("nope", [{"_id": "x", "_vector": vectors[0].tolist()}])
        assert raised.value.reason == "COLLECTION_NOT_FOUND"
        with pytest.raises(ValueError, match="exactly one of vector, record_id, image or text"):
            indexer.search("items", vector=vectors[0], record_id="i3")
