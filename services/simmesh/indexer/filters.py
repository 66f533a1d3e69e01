"""Metadata filters for the indexer shards: MongoDB-like JSON, compiled once, run per record.

A filter is a JSON document (a `google.protobuf.Struct` on the wire, so numbers arrive as
floats), e.g.

    {"brand": "acme", "price": {"$gte": 10, "$lt": 20},
     "$or": [{"tags": "red"}, {"dims.width": {"$gt": 800}}]}

Documents
    Every key of a document is a condition and all of them must hold (implicit AND). A key is a
    field path, or `$and` / `$or` with a non-empty list of documents. The empty document (and no
    filter at all) matches every record.

Field paths
    Dotted: `dims.width` looks up `width` in the object under `dims`. Where a step meets an
    array, the lookup goes on in each object element of the array (`objects.label` reaches the
    label of every object in `objects`); other elements are skipped. The values a path reaches
    are the field's values; a field is missing when its path reaches none. `_id` and `_url`
    are fields like any other.

Conditions on a field
    A literal means `$eq`. An object whose keys all start with `$` is a set of operators that
    must all hold; an object without `$` keys is a literal (an exact object match); mixing the
    two is refused.

    $eq v      a value equals v, or, for an array value, the array itself or one of its elements
               does (`{"tags": "red"}` matches `tags: ["red", "blue"]`). `{"f": null}` matches a
               missing field, a null value and an array holding null, as in MongoDB.
    $ne v      not `$eq v`: no value or element equals v (a missing field matches unless v is
               null).
    $in [..]   `$eq` holds for one of the listed values; null in the list matches missing fields.
    $nin [..]  not `$in`.
    $gt $gte $lt $lte v
               v is a number or a string; a value (or array element) of the same kind compares
               true with v. Values of any other kind never match: `{"n": {"$gt": 1}}` is false
               for `n: "7"`, `n: true`, `n: null` and a missing `n`. Several operators on one
               field may be met by different elements of an array, as in MongoDB.
    $exists b  with true, the path reaches at least one value (null counts); with false, none.
    $not {..}  the operator object does not hold (so a missing field satisfies `$not`).

Equality and order
    Numbers compare as 64-bit floats (the Struct's double): 1 equals 1.0. Booleans are not
    numbers (true does not equal 1). Strings order by code point. null equals only null. Arrays
    are equal when their elements are equal in order; objects when they have the same keys with
    equal values. Only numbers and strings can be ordered: a filter that orders by a boolean,
    null, array or object is refused when compiled, and nothing raises while matching. Records
    are JSON values (dict, list, str, int, float, bool, None); a value of any other type
    satisfies only `$exists: true` and the negations (`$ne`, `$nin`, `$not`).

Narrowing with an index
    `MetadataIndex` keeps, for a collection's indexed fields, an inverted index (value -> rows)
    and a sorted array of numbers per field. `Filter.candidates(index)` returns a superset of the
    matching rows worked out from indexed fields alone, or None when the filter cannot be
    narrowed that way (a condition on an unindexed field, `$ne`, `$nin`, `$not`,
    `$exists: false`, equality with null, an array or an object, or ordering on strings).
    Candidates must still be checked with `Filter.matches`; `Filter.select` does both.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf import struct_pb2

from simmesh.kit.errors import InvalidArgument

MAX_DEPTH = 32
MAX_CLAUSES = 1024
MAX_LIST_VALUES = 10_000

REASON = "INVALID_FILTER"
ROOT = "filter"

FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not")
LOGICAL_OPERATORS = ("$and", "$or")
SUPPORTED_OPERATORS = FIELD_OPERATORS + LOGICAL_OPERATORS

Record = Mapping[str, Any]
Values = Sequence[Any]

_MISSING = object()
# The key of anything that is not a scalar (arrays, objects, values of foreign types).
_NONSCALAR = object()
_TRUE = ("bool", True)
_FALSE = ("bool", False)


# ---------------------------------------------------------------------------------------------
# Values: keys, numbers, equality, paths


def _float(number: int | float) -> float:
    """A number as the 64-bit float it compares as (ints past the float range become +-inf)."""
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def _key(value: Any) -> Any:
    """A hashable key equal for equal scalars: a float for numbers, the str for strings, a tagged
    tuple for booleans (so true never meets 1), None for null; `_NONSCALAR` otherwise."""
    kind = type(value)
    if kind is str or kind is float:
        return value
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        return _float(value)
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _float(value)
    return _NONSCALAR


def _number(value: Any) -> float | None:
    """The value as a float when it is a number (not a boolean), else None."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return _float(value)
    if kind is bool or kind is str or value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _float(value)
    return None


def _same(a: Any, b: Any) -> bool:
    """Deep equality under the filter's rules (see the module docstring)."""
    ka, kb = _key(a), _key(b)
    if ka is not _NONSCALAR or kb is not _NONSCALAR:
        return ka is not _NONSCALAR and kb is not _NONSCALAR and ka == kb
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
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


def _scalar_keys(values: Values) -> set[Any]:
    """Keys of the non-null scalars among the values and their array elements (NaN left out)."""
    keys: set[Any] = set()
    for value in values:
        key = _key(value)
        if key is _NONSCALAR:
            if isinstance(value, list):
                for element in value:
                    key = _key(element)
                    if key is not _NONSCALAR and key is not None and key == key:
                        keys.add(key)
        elif key is not None and key == key:
            keys.add(key)
    return keys


# ---------------------------------------------------------------------------------------------
# Conditions on one field's values


class _Op:
    """One operator applied to the values a path reached."""

    def test(self, values: Values) -> bool:
        raise NotImplementedError

    def plan(self, field: FieldIndex) -> _Plan | None:
        return None


class _Equals(_Op):
    """`$eq` / `$in`, and negated, `$ne` / `$nin`."""

    def __init__(self, operands: Sequence[Any], negate: bool) -> None:
        self._keys = frozenset(_key(v) for v in operands if _key(v) is not _NONSCALAR)
        self._structured = tuple(v for v in operands if _key(v) is _NONSCALAR)
        self._null = None in self._keys
        self._negate = negate

    def _hit(self, value: Any) -> bool:
        key = _key(value)
        if key is not _NONSCALAR:
            return key in self._keys
        return bool(self._structured) and any(_same(value, s) for s in self._structured)

    def test(self, values: Values) -> bool:
        return self._any(values) != self._negate

    def _any(self, values: Values) -> bool:
        if not values:
            return self._null
        keys, hit = self._keys, self._hit
        for value in values:
            key = _key(value)
            if key is not _NONSCALAR:
                if key in keys:
                    return True
                continue
            if self._structured and hit(value):
                return True
            if isinstance(value, list):
                for element in value:
                    if hit(element):
                        return True
        return False

    def plan(self, field: FieldIndex) -> _Plan | None:
        if self._negate or self._null or self._structured:
            return None
        return field.equal_plan(self._keys)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le,
}


class _Order(_Op):
    """`$gt $gte $lt $lte` against a number or a string."""

    def __init__(self, name: str, bound: float | str) -> None:
        self._name = name
        self._compare = _COMPARE[name]
        self._bound = bound
        self._numeric = not isinstance(bound, str)

    def test(self, values: Values) -> bool:
        compare, bound = self._compare, self._bound
        if self._numeric:
            for value in values:
                number = _number(value)
                if number is not None:
                    if compare(number, bound):
                        return True
                elif isinstance(value, list):
                    for element in value:
                        number = _number(element)
                        if number is not None and compare(number, bound):
                            return True
            return False
        for value in values:
            if type(value) is str:
                if compare(value, bound):
                    return True
            elif isinstance(value, list):
                for element in value:
                    if type(element) is str and compare(element, bound):
                        return True
        return False

    def plan(self, field: FieldIndex) -> _Plan | None:
        if not self._numeric:
            return None
        return field.range_plan(self._name, float(self._bound))


class _Exists(_Op):
    def __init__(self, wanted: bool) -> None:
        self._wanted = wanted

    def test(self, values: Values) -> bool:
        return bool(values) == self._wanted

    def plan(self, field: FieldIndex) -> _Plan | None:
        return field.present_plan() if self._wanted else None


class _Not(_Op):
    def __init__(self, ops: Sequence[_Op]) -> None:
        self._ops = tuple(ops)

    def test(self, values: Values) -> bool:
        for op in self._ops:
            if not op.test(values):
                return True
        return False


# ---------------------------------------------------------------------------------------------
# Plans: candidate rows from an index, with a cheap size bound


class _Plan:
    """Candidate rows: `estimate` is an upper bound on `len(rows())`, known without building it."""

    def __init__(self, estimate: int, rows: Callable[[], set[int]]) -> None:
        self.estimate = estimate
        self.rows = rows


# An AND stops intersecting once its set is this small, or once the next clause is this many
# times larger than it: checking a few extra rows with `matches` is cheaper than building a set.
_SMALL_SET = 32
_INTERSECT_RATIO = 16


def _all_of(plans: Sequence[_Plan]) -> _Plan | None:
    if not plans:
        return None
    ordered = sorted(plans, key=lambda p: p.estimate)
    if len(ordered) == 1:
        return ordered[0]

    def rows() -> set[int]:
        result = ordered[0].rows()
        for plan in ordered[1:]:
            if len(result) <= _SMALL_SET or plan.estimate > _INTERSECT_RATIO * len(result):
                break
            result &= plan.rows()
        return result

    return _Plan(ordered[0].estimate, rows)


def _any_of(plans: Sequence[_Plan | None], limit: int) -> _Plan | None:
    if any(p is None for p in plans):
        return None
    present = [p for p in plans if p is not None]

    def rows() -> set[int]:
        result: set[int] = set()
        for plan in present:
            result |= plan.rows()
        return result

    return _Plan(min(limit, sum(p.estimate for p in present)), rows)


# ---------------------------------------------------------------------------------------------
# Filter nodes


class _Node:
    def test(self, record: Record) -> bool:
        raise NotImplementedError

    def plan(self, index: MetadataIndex) -> _Plan | None:
        raise NotImplementedError


class _Field(_Node):
    def __init__(self, path: str, ops: Sequence[_Op]) -> None:
        self.path = path
        self._resolve = resolver(path)
        self._ops = tuple(ops)

    def test(self, record: Record) -> bool:
        values = self._resolve(record)
        for op in self._ops:
            if not op.test(values):
                return False
        return True

    def plan(self, index: MetadataIndex) -> _Plan | None:
        field = index.field(self.path)
        if field is None:
            return None
        return _all_of([p for p in (op.plan(field) for op in self._ops) if p is not None])


class _And(_Node):
    def __init__(self, children: Sequence[_Node]) -> None:
        self._children = tuple(children)

    def test(self, record: Record) -> bool:
        for child in self._children:
            if not child.test(record):
                return False
        return True

    def plan(self, index: MetadataIndex) -> _Plan | None:
        return _all_of([p for p in (c.plan(index) for c in self._children) if p is not None])


class _Or(_Node):
    def __init__(self, children: Sequence[_Node]) -> None:
        self._children = tuple(children)

    def test(self, record: Record) -> bool:
        for child in self._children:
            if child.test(record):
                return True
        return False

    def plan(self, index: MetadataIndex) -> _Plan | None:
        return _any_of([c.plan(index) for c in self._children], len(index))


# ---------------------------------------------------------------------------------------------
# The compiled filter


class Filter:
    """A compiled filter. Build one with `compile_filter`."""

    __slots__ = ("spec", "fields", "_root")

    def __init__(self, spec: dict[str, Any], root: _Node | None, fields: frozenset[str]) -> None:
        self.spec = spec
        self.fields = fields
        self._root = root

    @property
    def matches_all(self) -> bool:
        """True for the empty filter."""
        return self._root is None

    def matches(self, record: Record) -> bool:
        """Whether the record (its metadata plus `_id` and `_url`) satisfies the filter."""
        root = self._root
        return True if root is None else root.test(record)

    def candidates(self, index: MetadataIndex) -> set[int] | None:
        """A superset of the matching rows of `index`, from its indexed fields alone; None when
        the filter cannot be narrowed that way. Check each candidate with `matches`."""
        plan = self._plan(index)
        return None if plan is None else plan.rows()

    def selectivity(self, index: MetadataIndex) -> int | None:
        """An upper bound on `len(candidates(index))`, cheap to get (no set is built); None when
        the filter cannot be narrowed by the index."""
        plan = self._plan(index)
        return None if plan is None else plan.estimate

    def select(self, records: Mapping[int, Record], index: MetadataIndex | None = None) -> list[int]:
        """The rows of `records` that match, in ascending order: the index's candidates checked
        with `matches`, or every record when the index cannot narrow the filter."""
        rows: Iterable[int] = records.keys()
        if index is not None:
            found = self.candidates(index)
            if found is not None:
                rows = found
        if self._root is None:
            return sorted(rows)
        test = self._root.test
        out = []
        for row in rows:
            record = records.get(row)
            if record is not None and test(record):
                out.append(row)
        out.sort()
        return out

    def _plan(self, index: MetadataIndex) -> _Plan | None:
        return None if self._root is None else self._root.plan(index)

    def __repr__(self) -> str:
        return f"Filter({self.spec!r})"


def compile_filter(spec: Mapping[str, Any] | struct_pb2.Struct | None) -> Filter:
    """Validate and compile a filter document.

    Raises InvalidArgument (reason INVALID_FILTER, field `filter.<path>`) for unknown or
    misplaced operators, operands of the wrong type, empty field names, nesting deeper than
    MAX_DEPTH, more than MAX_CLAUSES conditions or lists longer than MAX_LIST_VALUES.
    """
    if spec is None:
        return Filter({}, None, frozenset())
    if isinstance(spec, struct_pb2.Struct):
        spec = struct_to_dict(spec)
    if not isinstance(spec, Mapping):
        raise _invalid(ROOT, f"a filter must be an object, got {_describe(spec)}")
    compiler = _Compiler()
    root = compiler.document(spec, ROOT, 1)
    return Filter(dict(spec), root, frozenset(compiler.fields))


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain JSON values (numbers as floats)."""
    return {key: _from_value(value) for key, value in struct.fields.items()}


def _from_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [_from_value(v) for v in value.list_value.values]
    return None


# ---------------------------------------------------------------------------------------------
# Validation and compilation


def _invalid(path: str, detail: str) -> InvalidArgument:
    return InvalidArgument(f"invalid filter at {path}: {detail}", reason=REASON, violations=[(path, detail)])


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def _unknown_operator(name: str, path: str) -> InvalidArgument:
    if name in ("$regex", "$nor", "$all", "$elemMatch", "$size", "$type", "$mod", "$where",
                "$text", "$expr", "$options"):
        detail = f"operator {name} is not supported"
    else:
        detail = f"unknown operator {name}"
        close = difflib.get_close_matches(name, SUPPORTED_OPERATORS, n=1, cutoff=0.6)
        if close:
            detail += f" (did you mean {close[0]}?)"
    return _invalid(path, f"{detail}; supported: {', '.join(SUPPORTED_OPERATORS)}")


class _Compiler:
    def __init__(self) -> None:
        self.clauses = 0
        self.fields: set[str] = set()

    def _count(self) -> None:
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise _invalid(ROOT, f"more than {MAX_CLAUSES} conditions")

    @staticmethod
    def _deeper(path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _invalid(path, f"nests deeper than {MAX_DEPTH} levels")

    def document(self, doc: Mapping[str, Any], path: str, depth: int) -> _Node | None:
        """The node for a document; None for the empty document (it matches everything)."""
        self._deeper(path, depth)
        nodes: list[_Node] = []
        for name, value in doc.items():
            if not isinstance(name, str) or name == "":
                raise _invalid(path, "empty field name")
            at = f"{path}.{name}"
            if name.startswith("$"):
                node = self._logical(name, value, at, depth)
            else:
                node = self._field(name, value, at, depth)
            if node is not None:
                nodes.append(node)
        if not nodes:
            return None
        return nodes[0] if len(nodes) == 1 else _And(nodes)

    def _logical(self, name: str, value: Any, path: str, depth: int) -> _Node | None:
        if name in FIELD_OPERATORS:
            raise _invalid(path, f"operator {name} where a field name is expected; "
                                 f'write {{"<field>": {{"{name}": ...}}}}')
        if name not in LOGICAL_OPERATORS:
            raise _unknown_operator(name, path)
        self._count()
        if not isinstance(value, list) or not value:
            raise _invalid(path, f"{name} needs a non-empty list of filter objects, got "
                                 f"{'an empty list' if isinstance(value, list) else _describe(value)}")
        children: list[_Node | None] = []
        for i, element in enumerate(value):
            at = f"{path}[{i}]"
            if not isinstance(element, Mapping):
                raise _invalid(at, f"{name} needs filter objects, got {_describe(element)}")
            children.append(self.document(element, at, depth + 1))
        if name == "$and":
            kept = [c for c in children if c is not None]
            if not kept:
                return None
            return kept[0] if len(kept) == 1 else _And(kept)
        if any(c is None for c in children):
            return None  # one branch matches everything
        present = [c for c in children if c is not None]
        return present[0] if len(present) == 1 else _Or(present)

    def _field(self, name: str, condition: Any, path: str, depth: int) -> _Node:
        segments = name.split(".")
        if any(s == "" for s in segments):
            raise _invalid(path, f"field name {name!r} has an empty segment")
        if any(s.startswith("$") for s in segments):
            raise _invalid(path, f"field name {name!r} has a segment starting with '$'")
        self.fields.add(name)
        if isinstance(condition, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in condition):
            ops = self._operators(condition, path, depth + 1)
        else:
            self._count()
            ops = [_Equals([self._literal(condition, path, depth + 1)], negate=False)]
        return _Field(name, ops)

    def _operators(self, ops: Mapping[str, Any], path: str, depth: int) -> list[_Op]:
        self._deeper(path, depth)
        names = [k for k in ops if not (isinstance(k, str) and k.startswith("$"))]
        if names:
            raise _invalid(path, f"mixes operators with field names ({', '.join(map(str, names))}); "
                                 f"address nested fields with a dotted path")
        if not ops:
            raise _invalid(path, "needs at least one operator")
        compiled: list[_Op] = []
        for name, operand in ops.items():
            at = f"{path}.{name}"
            self._count()
            compiled.append(self._operator(name, operand, at, depth))
        return compiled

    def _operator(self, name: str, operand: Any, path: str, depth: int) -> _Op:
        if name in ("$eq", "$ne"):
            return _Equals([self._literal(operand, path, depth + 1)], negate=name == "$ne")
        if name in ("$in", "$nin"):
            if not isinstance(operand, list):
                raise _invalid(path, f"{name} needs a list of values, got {_describe(operand)}")
            if len(operand) > MAX_LIST_VALUES:
                raise _invalid(path, f"{name} takes at most {MAX_LIST_VALUES} values, got {len(operand)}")
            values = [self._literal(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(operand)]
            return _Equals(values, negate=name == "$nin")
        if name in _COMPARE:
            if isinstance(operand, str):
                return _Order(name, operand)
            if isinstance(operand, (int, float)) and not isinstance(operand, bool):
                if operand != operand:
                    raise _invalid(path, f"{name} needs a number or a string, got NaN")
                return _Order(name, _float(operand))
            raise _invalid(path, f"{name} needs a number or a string, got {_describe(operand)}")
        if name == "$exists":
            if not isinstance(operand, bool):
                raise _invalid(path, f"$exists needs true or false, got {_describe(operand)}")
            return _Exists(operand)
        if name == "$not":
            if not isinstance(operand, Mapping) or not operand:
                got = "an empty object" if isinstance(operand, Mapping) else _describe(operand)
                raise _invalid(path, f'$not needs a non-empty object of operators such as {{"$gt": 5}}, got {got}')
            return _Not(self._operators(operand, path, depth + 1))
        if name in LOGICAL_OPERATORS:
            raise _invalid(path, f"{name} combines whole filter objects and cannot apply to a field; "
                                 f"put it at the top level or inside $and/$or")
        raise _unknown_operator(name, path)

    def _literal(self, value: Any, path: str, depth: int) -> Any:
        """A literal operand, checked: JSON values only, no NaN, no operators inside."""
        self._deeper(path, depth)
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)):
            if value != value:
                raise _invalid(path, "NaN is not a comparable value")
            return value
        if isinstance(value, list):
            if len(value) > MAX_LIST_VALUES:
                raise _invalid(path, f"a list takes at most {MAX_LIST_VALUES} values, got {len(value)}")
            return [self._literal(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise _invalid(path, f"object keys must be strings, got {_describe(k)}")
                if k.startswith("$"):
                    raise _invalid(f"{path}.{k}", f"operator {k} inside a literal value")
                out[k] = self._literal(v, f"{path}.{k}", depth + 1)
            return out
        raise _invalid(path, f"unsupported value type {type(value).__name__}")


# ---------------------------------------------------------------------------------------------
# The index over a collection's indexed fields


class _SortedNumbers:
    """The numbers of one field, sorted for range queries.

    Writes go to a small delta (rows added, rows whose sorted entries are stale) that is merged
    into the sorted arrays on the first query (or estimate) after it grows past `compact_after`
    entries, so a bulk load costs one sort and single writes cost O(1).
    """

    def __init__(self, compact_after: int | None) -> None:
        self._compact_after = compact_after
        self._by_row: dict[int, tuple[float, ...]] = {}
        self._values = np.empty(0, dtype=np.float64)
        self._rows = np.empty(0, dtype=np.int64)
        self._added: dict[int, tuple[float, ...]] = {}
        self._stale: set[int] = set()

    def add(self, row: int, numbers: tuple[float, ...]) -> None:
        if row in self._by_row:
            self.remove(row)
        self._by_row[row] = numbers
        self._added[row] = numbers

    def remove(self, row: int) -> None:
        if self._by_row.pop(row, None) is None:
            return
        if self._added.pop(row, None) is None:
            self._stale.add(row)

    def _pending_limit(self) -> int:
        if self._compact_after is not None:
            return self._compact_after
        return max(1024, len(self._by_row) // 8)

    def _compact(self) -> None:
        count = sum(len(v) for v in self._by_row.values())
        values = np.empty(count, dtype=np.float64)
        rows = np.empty(count, dtype=np.int64)
        at = 0
        for row, numbers in self._by_row.items():
            n = len(numbers)
            values[at:at + n] = numbers
            rows[at:at + n] = row
            at += n
        order = np.argsort(values, kind="stable")
        self._values, self._rows = values[order], rows[order]
        self._added.clear()
        self._stale.clear()

    def _bounds(self, name: str, bound: float) -> tuple[int, int]:
        values = self._values
        if name == "$gt":
            return int(np.searchsorted(values, bound, side="right")), len(values)
        if name == "$gte":
            return int(np.searchsorted(values, bound, side="left")), len(values)
        if name == "$lt":
            return 0, int(np.searchsorted(values, bound, side="left"))
        return 0, int(np.searchsorted(values, bound, side="right"))

    def _settle(self) -> None:
        if len(self._added) + len(self._stale) > self._pending_limit():
            self._compact()

    def estimate(self, name: str, bound: float) -> int:
        self._settle()
        lo, hi = self._bounds(name, bound)
        return hi - lo + len(self._added)

    def rows(self, name: str, bound: float) -> set[int]:
        self._settle()
        lo, hi = self._bounds(name, bound)
        result = set(self._rows[lo:hi].tolist())
        if self._stale:
            result -= self._stale
        if self._added:
            compare = _COMPARE[name]
            for row, numbers in self._added.items():
                if any(compare(n, bound) for n in numbers):
                    result.add(row)
        return result


class FieldIndex:
    """The inverted index and the sorted numbers of one indexed field (a dotted path)."""

    def __init__(self, path: str, *, compact_after: int | None = None) -> None:
        self.path = path
        self._resolve = resolver(path)
        self._present: set[int] = set()
        self._keys_by_row: dict[int, tuple[Any, ...]] = {}
        self._rows_by_key: dict[Any, set[int]] = {}
        self._numbers = _SortedNumbers(compact_after)

    def add(self, row: int, record: Record) -> None:
        """Index the record's values at this path under `row` (replacing what `row` had)."""
        if row in self._present:
            self.remove(row)
        values = self._resolve(record)
        if not values:
            return
        self._present.add(row)
        keys = _scalar_keys(values)
        if not keys:
            return
        self._keys_by_row[row] = tuple(keys)
        for key in keys:
            rows = self._rows_by_key.get(key)
            if rows is None:
                self._rows_by_key[key] = {row}
            else:
                rows.add(row)
        numbers = tuple(k for k in keys if type(k) is float)
        if numbers:
            self._numbers.add(row, numbers)

    def remove(self, row: int) -> None:
        """Forget `row` (no-op when it is not indexed)."""
        self._present.discard(row)
        keys = self._keys_by_row.pop(row, None)
        if keys is None:
            return
        for key in keys:
            rows = self._rows_by_key[key]
            rows.discard(row)
            if not rows:
                del self._rows_by_key[key]
        self._numbers.remove(row)

    def equal_plan(self, keys: Iterable[Any]) -> _Plan:
        buckets = [b for b in (self._rows_by_key.get(k) for k in keys) if b]

        def rows() -> set[int]:
            if len(buckets) == 1:
                return set(buckets[0])
            return set().union(*buckets)

        return _Plan(sum(len(b) for b in buckets), rows)

    def range_plan(self, name: str, bound: float) -> _Plan:
        numbers = self._numbers
        return _Plan(numbers.estimate(name, bound), lambda: numbers.rows(name, bound))

    def present_plan(self) -> _Plan:
        present = self._present
        return _Plan(len(present), lambda: set(present))


class MetadataIndex:
    """Inverted indexes over a collection's indexed fields, kept in step with its records.

    Rows are the shard's integer row ids (the ids its FAISS index holds). `_id` and `_url` can
    be listed like metadata fields. `compact_after` is how many writes a field buffers before
    its sorted numbers are rebuilt on the next query (default: max(1024, rows / 8)).
    """

    def __init__(self, indexed_fields: Sequence[str], *, compact_after: int | None = None) -> None:
        seen: dict[str, FieldIndex] = {}
        for i, path in enumerate(indexed_fields):
            if not path or any(s == "" or s.startswith("$") for s in path.split(".")):
                raise InvalidArgument(
                    f"indexed field {path!r} is not a field path",
                    reason="INVALID_INDEXED_FIELD",
                    field=f"collection.indexed_fields[{i}]",
                )
            seen.setdefault(path, FieldIndex(path, compact_after=compact_after))
        self._fields = seen
        self._rows: set[int] = set()

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._fields)

    def field(self, path: str) -> FieldIndex | None:
        return self._fields.get(path)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, row: object) -> bool:
        return row in self._rows

    def add(self, row: int, record: Record) -> None:
        """Index `record` (metadata plus `_id`, `_url`) as `row`; re-adding a row replaces it."""
        self._rows.add(row)
        for field in self._fields.values():
            field.add(row, record)

    def add_many(self, rows: Iterable[tuple[int, Record]]) -> None:
        for row, record in rows:
            self.add(row, record)

    def remove(self, row: int, record: Record | None = None) -> None:
        """Forget `row`. The record is optional: the index keeps what it stored for each row."""
        if row not in self._rows:
            return
        self._rows.discard(row)
        for field in self._fields.values():
            field.remove(row)


__all__ = [
    "FIELD_OPERATORS", "LOGICAL_OPERATORS", "MAX_CLAUSES", "MAX_DEPTH", "MAX_LIST_VALUES",
    "FieldIndex", "Filter", "MetadataIndex", "compile_filter", "resolver", "struct_to_dict",
]
