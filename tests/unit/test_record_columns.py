"""Record columns: ids found by hash through collisions, deletes and re-inserts; rows kept in id order."""

from __future__ import annotations

import json

import numpy as np

from simmesh.indexer.query import compile_filter
from simmesh.indexer.record_columns import BytesColumn, IdLookup, RowOrder
from simmesh.indexer.shard_records import RecordTable
from simmesh_proto.internal.v1 import shard_pb2


class Colliding(str):
    """An id whose hash is that of every other `Colliding` id."""

    def __hash__(self) -> int:
        return 7


def test_ids_with_the_same_hash_find_their_own_rows_after_folding_and_deletes() -> None:
    ids = BytesColumn()

    def id_at(row: int) -> str | None:
        raw = ids.get(row)
        return None if raw is None else raw.decode()

    def alive(rows: np.ndarray) -> np.ndarray:
        return np.asarray([ids.has(int(r)) for r in rows], dtype=bool)

    lookup = IdLookup(id_at, alive)
    names = [Colliding(f"c{i}") for i in range(5)] + [f"plain-{i}" for i in range(6000)]
    for row, name in enumerate(names):  # past the dict's size, so most are folded into the hash array
        ids.set(row, name.encode())
        lookup.add(name, row)
    assert [lookup.get(name) for name in names[:5]] == [0, 1, 2, 3, 4]
    assert lookup.rows_of([Colliding("c3"), Colliding("nope"), "plain-10", "missing"]).tolist() == [3, -1, 15, -1]

    ids.set(2, None)  # c2 deleted, then stored again at a new row
    lookup.remove(names[2])
    assert lookup.get(Colliding("c2")) == -1
    ids.set(len(names), b"c2")
    lookup.add(Colliding("c2"), len(names))
    assert lookup.get(Colliding("c2")) == len(names)
    assert lookup.rows_of([Colliding("c2"), Colliding("c4")]).tolist() == [len(names), 4]


def test_rows_come_in_id_order_without_the_deleted_ones() -> None:
    ids = BytesColumn()
    order = RowOrder(
        lambda row: None if ids.get(row) is None else ids.get(row).decode(),  # type: ignore[union-attr]
        lambda rows: np.asarray([ids.has(int(r)) for r in rows], dtype=bool),
    )
    for row, name in enumerate(["m", "c", "x", "a"]):
        ids.set(row, name.encode())
    order.add_many([0, 1, 2, 3])
    assert order.rows().tolist() == [3, 1, 0, 2]
    ids.set(1, None)
    order.removed(1)
    ids.set(4, b"b")
    order.add_many([4])
    assert order.rows().tolist() == [3, 4, 0, 2]


def test_replaced_values_are_compacted_away() -> None:
    column = BytesColumn()
    for round_ in range(40):
        for row in range(1000):
            column.set(row, f"{row}-{round_}-".encode() * 200)
    assert column.get(999) == b"999-39-" * 200
    live = sum(len(column.get(r) or b"") for r in range(1000))
    assert len(column.blob) <= 2 * live + (1 << 20), "40 rounds of values were written; about one is kept"


def _entry(records: list[shard_pb2.ShardRecord], write_ns: int) -> shard_pb2.WriteRequest:
    entry = shard_pb2.WriteRequest(records=records, vectors=np.zeros((len(records), 4), np.float32).tobytes())
    entry.write_time.FromNanoseconds(write_ns)
    return entry


def _records() -> list[shard_pb2.ShardRecord]:
    out = []
    for i in range(300):
        record = shard_pb2.ShardRecord(id=f"r{i}", url=f"s3://b/{i}" if i % 3 else "")
        if i % 4:
            record.metadata.update({"bucket": i % 7, "tag": "x" * (i % 5)})
        if i % 10 == 0:
            record.create_time.FromNanoseconds(1_000 + i)
        out.append(record)
    return out


def test_a_batch_of_new_records_is_stored_as_the_same_records_written_one_by_one() -> None:
    records = _records()
    batched, single = RecordTable(["bucket"]), RecordTable(["bucket"])
    single.apply_write(_entry(records[:1], 5_000), 4)  # an existing id: the rest goes record by record
    rows, _, added = batched.apply_write(_entry(records, 5_000), 4)
    single.apply_write(_entry(records, 5_000), 4)
    assert added == 300 and rows.tolist() == list(range(300))
    assert batched.records_of(range(300)) == single.records_of(range(300))
    assert batched.ids_of(batched.live_rows().tolist()) == single.ids_of(single.live_rows().tolist())
    bucket_three = compile_filter({"bucket": 3})
    assert batched.matching_rows(bucket_three).tolist() == single.matching_rows(bucket_three).tolist()
    frozen = batched.freeze()
    assert list(frozen) == list(single.freeze())


def test_a_snapshots_record_lines_hold_each_live_record_as_its_document() -> None:
    table = RecordTable([])
    records = _records()
    records[5].id = 'quote"and\\u00e9'
    records[7].metadata.update({"name": "café ☕", "nested": {"a": [1, 2]}})
    table.apply_write(_entry(records, 5_000), 4)
    table.apply_delete(["r3", "r8"])
    lines = [json.loads(line) for line in table.freeze().json_lines()]
    expected = [[r.row, r.create_ns, r.update_ns, r.doc] for r in table.freeze()]
    assert lines == expected and len(lines) == 298
    assert next(doc for *_, doc in lines if doc["_id"] == "r7") == {
        "_id": "r7",
        "_url": "s3://b/7",
        "bucket": 0,
        "tag": "xx",
        "name": "café ☕",
        "nested": {"a": [1, 2]},
    }
