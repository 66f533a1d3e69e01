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
