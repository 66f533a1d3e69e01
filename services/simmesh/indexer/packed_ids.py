"""Record ids as one string on the wire: a batch's hits joined by NUL, which no record id holds."""

from __future__ import annotations

import numpy as np

SEPARATOR = "\0"


def joined(ids: list[str]) -> str | None:
    """`ids` as one string, or None where some id holds the separator (it would split wrongly)."""
    text = SEPARATOR.join(ids)
    return text if text.count(SEPARATOR) == len(ids) - 1 else None


def split(text: str, shape: tuple[int, int]) -> np.ndarray:
    """The ids of a joined string as an object array of `shape` ("" where a place is empty)."""
    return np.array(text.split(SEPARATOR), dtype=object).reshape(shape)


def joined_rows(blob: bytearray, starts: np.ndarray, lengths: np.ndarray, rows: np.ndarray) -> str | None:
    """The byte strings of `rows` (of a column: the bytes of row r are `blob[starts[r]:][:lengths[r]]`,
    none where the length is negative or r is out of range or -1), decoded and joined as `joined` does,
    without a Python step per row; None where some value holds the separator."""
    rows = rows.ravel()
    inside = (rows >= 0) & (rows < len(lengths))
    at = np.where(inside, rows, 0)
    sizes = np.where(inside, lengths[at], 0).clip(min=0).astype(np.int64)
    total = int(sizes.sum())
    # Place i's bytes go after the i separators and the bytes of the places before it.
    placed_at = np.cumsum(sizes) - sizes + np.arange(len(rows))
    within = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    out = np.zeros(total + max(len(rows) - 1, 0), dtype=np.uint8)
    source = np.frombuffer(blob, dtype=np.uint8)
    try:
        out[np.repeat(placed_at, sizes) + within] = source[np.repeat(starts[at], sizes) + within]
    finally:
        del source  # the blob is growable: no view of it outlives the call
    if np.count_nonzero(out == 0) != len(out) - total:
        return None
    return out.tobytes().decode()
