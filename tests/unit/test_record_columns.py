"""Record columns: ids found by hash through collisions, deletes and re-inserts; rows kept in id order."""

from __future__ import annotations

import numpy as np

from simmesh.indexer.record_columns import BytesColumn, IdLookup, RowOrder


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
