"""How filters see record values: scalar keys, numbers, deep equality and dotted field paths."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Record = Mapping[str, Any]
Values = Sequence[Any]

_MISSING = object()
# The key of anything that is not a scalar (arrays, objects, values of foreign types).
NONSCALAR = object()
_TRUE = ("bool", True)
_FALSE = ("bool", False)

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def as_float(number: int | float) -> float:
    """A number as the 64-bit float it compares as (ints past the float range become +-inf)."""
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def value_key(value: Any) -> Any:
    """A hashable key equal for equal scalars: a float for numbers, the str for strings, a tagged
    tuple for booleans (so true never meets 1), None for null; `NONSCALAR` otherwise."""
    kind = type(value)
    if kind is str or kind is float:
        return value
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        return as_float(value)
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return as_float(value)
    return NONSCALAR


def as_number(value: Any) -> float | None:
    """The value as a float when it is a number (not a boolean), else None."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return as_float(value)
    if kind is bool or kind is str or value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return as_float(value)
    return None


def same_value(a: Any, b: Any) -> bool:
    """Deep equality under the filter's rules (see the module docstring)."""
    ka, kb = value_key(a), value_key(b)
    if ka is not NONSCALAR or kb is not NONSCALAR:
        return ka is not NONSCALAR and kb is not NONSCALAR and ka == kb
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return False


def _walk(node: Any, segments: tuple[str, ...], at: int, out: list[Any]) -> None:
    if isinstance(node, Mapping):
        value = node.get(segments[at], _MISSING)
        if value is _MISSING:
            return
        if at + 1 == len(segments):
            out.append(value)
        else:
            _walk(value, segments, at + 1, out)
    elif isinstance(node, list):
        for element in node:
            if isinstance(element, Mapping):
                _walk(element, segments, at, out)


def resolver(path: str) -> Callable[[Record], Values]:
    """A function from a record to the values `path` reaches in it (empty when missing)."""
    segments = tuple(path.split("."))
    if len(segments) == 1:
        name = segments[0]

        def single(record: Record) -> Values:
            value = record.get(name, _MISSING)
            return () if value is _MISSING else (value,)

        return single

    def dotted(record: Record) -> Values:
        out: list[Any] = []
        _walk(record, segments, 0, out)
        return out

    return dotted


def scalar_keys(values: Values) -> set[Any]:
    """Keys of the non-null scalars among the values and their array elements (NaN left out)."""
    keys: set[Any] = set()
    for value in values:
        key = value_key(value)
        if key is NONSCALAR:
            if isinstance(value, list):
                for element in value:
                    key = value_key(element)
                    if key is not NONSCALAR and key is not None and key == key:
                        keys.add(key)
        elif key is not None and key == key:
            keys.add(key)
    return keys
