"""A shard's hit ids joined for packed answers straight from its id column: the same string as
joining the ids one by one, whatever the rows hold."""

from __future__ import annotations

import numpy as np

from simmesh.indexer.packed_ids import SEPARATOR, joined, joined_rows
from simmesh.indexer.record_columns import BytesColumn


def column_of(values: list[str | None]) -> BytesColumn:
    column = BytesColumn()
    for row, value in enumerate(values):
        column.set(row, None if value is None else value.encode())
    return column


def one_by_one(column: BytesColumn, rows: np.ndarray) -> str | None:
    ids = []
    for row in rows.ravel().tolist():
        raw = column.get(row) if 0 <= row < len(column.lengths.values) else None
        ids.append("" if raw is None else raw.decode())
    return joined(ids)


def test_joined_rows_are_the_ids_joined_one_by_one() -> None:
    values = [f"r{n}-ü-{'x' * (n % 5)}" if n % 4 else None for n in range(300)]
    column = column_of(values)
    column.set(7, b"replaced")  # a replaced value: its old bytes stay in the blob
    rows = np.random.default_rng(3).integers(-1, 320, (40, 9))  # -1, rows without a record, rows past the end
    text = joined_rows(column.blob, column.starts.values, column.lengths.values, rows)
    assert text is not None and text == one_by_one(column, rows)
    assert len(text.split(SEPARATOR)) == rows.size
    column.set(400, b"later")  # the column still grows after it was read


def test_an_id_holding_the_separator_is_not_joined() -> None:
    column = column_of(["a", "b\0c", "d"])
    assert joined_rows(column.blob, column.starts.values, column.lengths.values, np.array([[0, 2]])) == "a\0d"
    assert joined_rows(column.blob, column.starts.values, column.lengths.values, np.array([[0, 1]])) is None
