"""The filter language of the indexer shards: MongoDB-like JSON, validated and compiled once, run per record.

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
    `Filter.matching_rows(index, doc_of)` asks a `MetadataIndex` (see `metadata_index`) for the
    matching rows as a sorted array, worked out with array operations from the indexed fields,
    and tests only the parts the index cannot answer, only on the rows it leaves.
    `Filter.candidates(index)` is the index's part alone (a superset of the matching rows).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from google.protobuf import struct_pb2

from simmesh.indexer.filter_tree import AndNode, Condition, Equals, Exists, FieldNode, Node, Not, Order, OrNode
from simmesh.indexer.filter_values import COMPARE, Record, as_float
from simmesh.indexer.metadata_index import MetadataIndex, Plan
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh.kit.wire import struct_to_dict

MAX_DEPTH = 32
MAX_CLAUSES = 1024
MAX_LIST_VALUES = 10_000

REASON = reasons.INVALID_FILTER
ROOT = "filter"

FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not")
LOGICAL_OPERATORS = ("$and", "$or")
SUPPORTED_OPERATORS = FIELD_OPERATORS + LOGICAL_OPERATORS


class Filter:
    """A compiled filter. Build one with `compile_filter`."""

    __slots__ = ("_root", "fields", "key", "spec")

    def __init__(self, spec: dict[str, Any], root: Node | None, fields: frozenset[str]) -> None:
        self.spec = spec
        self.fields = fields
        self._root = root
        # The canonical form of the document, set by `FilterCache`; b"" when not cached.
        self.key = b""

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
        return None if plan is None else set(plan.rows().tolist())

    def matching_rows(self, index: MetadataIndex, doc_of: Callable[[int], Record | None]) -> np.ndarray | None:
        """The rows of `index` that match, sorted (int64): the index's candidates, of which only
        the parts of the filter the index cannot answer are tested, on `doc_of(row)`; None when
        the index cannot narrow the filter."""
        plan = self._plan(index)
        if plan is None:
            return None
        rows = plan.rows()
        if not plan.residual:
            return rows
        tests = [t.test for t in dict.fromkeys(plan.residual)]
        keep = np.fromiter(
            (doc is not None and all(t(doc) for t in tests) for doc in map(doc_of, rows.tolist())),
            dtype=bool,
            count=len(rows),
        )
        return rows[keep]

    def selectivity(self, index: MetadataIndex) -> int | None:
        """An upper bound on `len(candidates(index))`, cheap to get (no set is built); None when
        the filter cannot be narrowed by the index."""
        plan = self._plan(index)
        return None if plan is None else plan.estimate

    def select(self, records: Mapping[int, Record], index: MetadataIndex | None = None) -> list[int]:
        """The rows of `records` that match, in ascending order: the index's candidates checked
        with `matches`, or every record when the index cannot narrow the filter."""
        if index is not None:
            found = self.matching_rows(index, records.get)
            if found is not None:
                return found.tolist()
        rows: Iterable[int] = records.keys()
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

    def _plan(self, index: MetadataIndex) -> Plan | None:
        plan = None if self._root is None else self._root.plan(index)
        return None if plan is None or plan.excluded is not None else plan

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
    if name in (
        "$regex",
        "$nor",
        "$all",
        "$elemMatch",
        "$size",
        "$type",
        "$mod",
        "$where",
        "$text",
        "$expr",
        "$options",
    ):
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

    def document(self, doc: Mapping[str, Any], path: str, depth: int) -> Node | None:
        """The node for a document; None for the empty document (it matches everything)."""
        self._deeper(path, depth)
        nodes: list[Node] = []
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
        return nodes[0] if len(nodes) == 1 else AndNode(nodes)

    def _logical(self, name: str, value: Any, path: str, depth: int) -> Node | None:
        if name in FIELD_OPERATORS:
            raise _invalid(
                path, f'operator {name} where a field name is expected; write {{"<field>": {{"{name}": ...}}}}'
            )
        if name not in LOGICAL_OPERATORS:
            raise _unknown_operator(name, path)
        self._count()
        if not isinstance(value, list) or not value:
            raise _invalid(
                path,
                f"{name} needs a non-empty list of filter objects, got "
                f"{'an empty list' if isinstance(value, list) else _describe(value)}",
            )
        children: list[Node | None] = []
        for i, element in enumerate(value):
            at = f"{path}[{i}]"
            if not isinstance(element, Mapping):
                raise _invalid(at, f"{name} needs filter objects, got {_describe(element)}")
            children.append(self.document(element, at, depth + 1))
        if name == "$and":
            kept = [c for c in children if c is not None]
            if not kept:
                return None
            return kept[0] if len(kept) == 1 else AndNode(kept)
        if any(c is None for c in children):
            return None  # one branch matches everything
        present = [c for c in children if c is not None]
        return present[0] if len(present) == 1 else OrNode(present)

    def _field(self, name: str, condition: Any, path: str, depth: int) -> Node:
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
            ops = [Equals([self._literal(condition, path, depth + 1)], negate=False)]
        return FieldNode(name, ops)

    def _operators(self, ops: Mapping[str, Any], path: str, depth: int) -> list[Condition]:
        self._deeper(path, depth)
        names = [k for k in ops if not (isinstance(k, str) and k.startswith("$"))]
        if names:
            raise _invalid(
                path,
                f"mixes operators with field names ({', '.join(map(str, names))}); "
                f"address nested fields with a dotted path",
            )
        if not ops:
            raise _invalid(path, "needs at least one operator")
        compiled: list[Condition] = []
        for name, operand in ops.items():
            at = f"{path}.{name}"
            self._count()
            compiled.append(self._operator(name, operand, at, depth))
        return compiled

    def _operator(self, name: str, operand: Any, path: str, depth: int) -> Condition:
        if name in ("$eq", "$ne"):
            return Equals([self._literal(operand, path, depth + 1)], negate=name == "$ne")
        if name in ("$in", "$nin"):
            if not isinstance(operand, list):
                raise _invalid(path, f"{name} needs a list of values, got {_describe(operand)}")
            if len(operand) > MAX_LIST_VALUES:
                raise _invalid(path, f"{name} takes at most {MAX_LIST_VALUES} values, got {len(operand)}")
            values = [self._literal(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(operand)]
            return Equals(values, negate=name == "$nin")
        if name in COMPARE:
            if isinstance(operand, str):
                return Order(name, operand)
            if isinstance(operand, (int, float)) and not isinstance(operand, bool):
                if operand != operand:
                    raise _invalid(path, f"{name} needs a number or a string, got NaN")
                return Order(name, as_float(operand))
            raise _invalid(path, f"{name} needs a number or a string, got {_describe(operand)}")
        if name == "$exists":
            if not isinstance(operand, bool):
                raise _invalid(path, f"$exists needs true or false, got {_describe(operand)}")
            return Exists(operand)
        if name == "$not":
            if not isinstance(operand, Mapping) or not operand:
                got = "an empty object" if isinstance(operand, Mapping) else _describe(operand)
                raise _invalid(path, f'$not needs a non-empty object of operators such as {{"$gt": 5}}, got {got}')
            return Not(self._operators(operand, path, depth + 1))
        if name in LOGICAL_OPERATORS:
            raise _invalid(
                path,
                f"{name} combines whole filter objects and cannot apply to a field; "
                f"put it at the top level or inside $and/$or",
            )
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
