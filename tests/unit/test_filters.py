"""Metadata filters: operator semantics, validation errors, and the index that narrows them.

The property tests compare the compiled filters with a small interpreter written here from the
documented rules, and the index's candidates with a scan of every record.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simmesh.indexer.filters import (
    MAX_CLAUSES,
    MAX_DEPTH,
    MAX_LIST_VALUES,
    MetadataIndex,
    compile_filter,
)
from simmesh.kit.errors import InvalidArgument


def match(spec: Any, record: dict) -> bool:
    return compile_filter(spec).matches(record)


def struct(value: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


# ---------------------------------------------------------------------------------------------
# Operators

SHOE = {
    "_id": "shoe-1",
    "_url": "https://img.example/shoe-1.jpg",
    "brand": "acme",
    "price": 49.5,
    "stock": 3,
    "on_sale": True,
    "tags": ["red", "leather"],
    "sizes": [38, 40, 42],
    "dims": {"width": 800.0, "height": 600, "unit": "px"},
    "objects": [{"label": "shoe", "score": 0.9}, {"label": "box", "score": 0.4}],
    "note": None,
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, True),
        (None, True),
        ({"brand": "acme"}, True),
        ({"brand": "other"}, False),
        ({"brand": {"$eq": "acme"}}, True),
        ({"brand": {"$ne": "acme"}}, False),
        ({"brand": {"$ne": "other"}}, True),
        ({"price": {"$gt": 49}}, True),
        ({"price": {"$gt": 49.5}}, False),
        ({"price": {"$gte": 49.5}}, True),
        ({"price": {"$lt": 49.5}}, False),
        ({"price": {"$lte": 49.5}}, True),
        ({"price": {"$gte": 10, "$lt": 20}}, False),
        ({"price": {"$gte": 40, "$lt": 50}}, True),
        ({"brand": {"$in": ["zeta", "acme"]}}, True),
        ({"brand": {"$in": []}}, False),
        ({"brand": {"$nin": ["zeta", "acme"]}}, False),
        ({"brand": {"$nin": []}}, True),
        ({"brand": {"$exists": True}}, True),
        ({"color": {"$exists": False}}, True),
        ({"color": {"$exists": True}}, False),
        ({"price": {"$not": {"$gt": 100}}}, True),
        ({"price": {"$not": {"$gt": 10, "$lt": 60}}}, False),
        ({"brand": "acme", "stock": 3}, True),
        ({"brand": "acme", "stock": 4}, False),
        ({"$and": [{"brand": "acme"}, {"stock": {"$gte": 3}}]}, True),
        ({"$and": [{"brand": "acme"}, {"stock": {"$gt": 3}}]}, False),
        ({"$or": [{"brand": "zeta"}, {"stock": 3}]}, True),
        ({"$or": [{"brand": "zeta"}, {"stock": 4}]}, False),
        ({"$or": [{"brand": "zeta"}, {}]}, True),
        ({"brand": "acme", "$or": [{"stock": 4}, {"on_sale": True}]}, True),
        ({"brand": {"$gt": "acm", "$lt": "acn"}}, True),
        ({"on_sale": True}, True),
        ({"on_sale": {"$in": [False]}}, False),
    ],
)
def test_operators(spec: Any, expected: bool) -> None:
    assert match(spec, SHOE) is expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"tags": "red"}, True),
        ({"tags": "blue"}, False),
        ({"tags": {"$in": ["blue", "leather"]}}, True),
        ({"tags": {"$ne": "red"}}, False),
        ({"tags": {"$ne": "blue"}}, True),
        ({"tags": {"$nin": ["blue", "red"]}}, False),
        ({"tags": {"$nin": ["blue", "green"]}}, True),
        ({"tags": ["red", "leather"]}, True),
        ({"tags": ["leather", "red"]}, False),
        ({"sizes": {"$gt": 41}}, True),
        ({"sizes": {"$gt": 42}}, False),
        # Each operator may be met by a different element, as in MongoDB.
        ({"sizes": {"$gt": 41, "$lt": 39}}, True),
        ({"sizes": 40}, True),
        ({"sizes": 40.0}, True),
        ({"tags": {"$exists": True}}, True),
    ],
)
def test_arrays(spec: Any, expected: bool) -> None:
    assert match(spec, SHOE) is expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"dims.width": 800}, True),
        ({"dims.width": {"$gte": 801}}, False),
        ({"dims.unit": "px"}, True),
        ({"dims": {"width": 800, "height": 600, "unit": "px"}}, True),
        ({"dims": {"width": 800}}, False),
        ({"dims.depth": {"$exists": False}}, True),
        ({"dims.width.value": {"$exists": True}}, False),
        ({"objects.label": "box"}, True),
        ({"objects.label": "hat"}, False),
        ({"objects.score": {"$gt": 0.8}}, True),
        ({"objects.score": {"$gt": 0.95}}, False),
        ({"brand.name": {"$exists": True}}, False),
    ],
)
def test_dotted_paths(spec: Any, expected: bool) -> None:
    assert match(spec, SHOE) is expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [({}, True), ({"f": None}, True), ({"f": [1, None]}, True), ({"f": 0}, False), ({"f": [1, 2]}, False)],
)
def test_null_matches_missing_null_and_arrays_holding_null(record: dict, expected: bool) -> None:
    assert match({"f": None}, record) is expected
    assert match({"f": {"$eq": None}}, record) is expected
    assert match({"f": {"$ne": None}}, record) is not expected
    assert match({"f": {"$in": ["x", None]}}, record) is expected


def test_exists_counts_null_as_present() -> None:
    assert match({"note": {"$exists": True}}, SHOE)
    assert not match({"note": {"$exists": False}}, SHOE)


def test_missing_field_satisfies_negations_only() -> None:
    record = {"_id": "r"}
    assert match({"price": {"$ne": 5}}, record)
    assert match({"price": {"$nin": [5]}}, record)
    assert match({"price": {"$not": {"$gt": 5}}}, record)
    for op in ("$gt", "$gte", "$lt", "$lte", "$eq"):
        assert not match({"price": {op: 5}}, record)


@pytest.mark.parametrize("value", ["7", True, False, None, [], {}, {"n": 9}, [["9"]], [None, "2"]])
@pytest.mark.parametrize("op", ["$gt", "$gte", "$lt", "$lte"])
def test_ordering_by_a_number_skips_other_kinds(value: Any, op: str) -> None:
    assert not match({"n": {op: 1}}, {"n": value})


@pytest.mark.parametrize("value", [7, 0.5, True, None, [], {}, {"n": "b"}, [["b"]], [None, 2]])
@pytest.mark.parametrize("op", ["$gt", "$gte", "$lt", "$lte"])
def test_ordering_by_a_string_skips_other_kinds(value: Any, op: str) -> None:
    assert not match({"n": {op: "1"}}, {"n": value})


def test_booleans_are_not_numbers() -> None:
    assert not match({"flag": 1}, {"flag": True})
    assert not match({"flag": True}, {"flag": 1})
    assert not match({"flag": {"$in": [0]}}, {"flag": False})
    assert match({"flag": {"$ne": 1}}, {"flag": True})


def test_numbers_compare_as_doubles() -> None:
    assert match({"n": 3}, {"n": 3.0})
    assert match({"n": 3.0}, {"n": 3})
    assert match({"n": {"$gt": 2**53}}, {"n": 2**53 + 2})
    assert not match({"n": {"$gt": 2**53}}, {"n": 2**53 + 1})  # 2**53 + 1 is 2**53 as a double
    assert match({"n": {"$gt": 1e308}}, {"n": 10**400})  # past the double range: +inf
    assert match({"n": math.inf}, {"n": 10**400})
    assert not match({"n": {"$gt": 0}}, {"n": math.nan})
    assert not match({"n": {"$eq": 0}}, {"n": math.nan})


def test_strings_compare_by_code_point() -> None:
    assert match({"s": {"$lt": "b"}}, {"s": "a"})
    assert match({"s": {"$gt": "Z"}}, {"s": "a"})
    assert not match({"s": {"$lt": "a"}}, {"s": "a"})
    assert match({"s": {"$gt": "é"}}, {"s": "ê"})


def test_id_and_url_are_filterable() -> None:
    assert match({"_id": "shoe-1"}, SHOE)
    assert match({"_id": {"$in": ["x", "shoe-1"]}}, SHOE)
    assert match({"_url": {"$gte": "https://img.example/"}}, SHOE)
    assert not match({"_url": {"$exists": False}}, SHOE)


def test_foreign_types_in_records_do_not_raise() -> None:
    record = {"when": object(), "blob": b"\x00", "pair": (1, 2)}
    for field in record:
        assert not match({field: {"$gt": 0}}, record)
        assert not match({field: 1}, record)
        assert match({field: {"$ne": 1}}, record)
        assert match({field: {"$exists": True}}, record)


def test_struct_filters_behave_like_json() -> None:
    spec = {"stock": 3, "sizes": {"$in": [40, 99]}, "dims.height": {"$gte": 600}, "on_sale": True}
    assert compile_filter(struct(spec)).matches(SHOE)
    assert compile_filter(struct({"stock": 4})).matches(SHOE) is False
    assert compile_filter(struct_pb2.Struct()).matches_all


def test_filter_reports_its_fields() -> None:
    f = compile_filter({"a.b": 1, "$or": [{"c": 2}, {"d": {"$not": {"$gt": 1}}}]})
    assert f.fields == {"a.b", "c", "d"}


# ---------------------------------------------------------------------------------------------
# Validation

def deep_and(levels: int) -> dict:
    doc: dict = {"a": 1}
    for _ in range(levels):
        doc = {"$and": [doc]}
    return doc


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        ({"a": {"$regex": "^x"}}, "filter.a.$regex", "$regex is not supported"),
        ({"a": {"$gtee": 1}}, "filter.a.$gtee", "did you mean $gte?"),
        ({"a": {"$In": [1]}}, "filter.a.$In", "unknown operator $In"),
        ({"$nor": [{"a": 1}]}, "filter.$nor", "$nor is not supported"),
        ({"$gt": 5}, "filter.$gt", "where a field name is expected"),
        ({"$not": {"a": 1}}, "filter.$not", "where a field name is expected"),
        ({"a": {"$in": "red"}}, "filter.a.$in", "$in needs a list"),
        ({"a": {"$nin": {"x": 1}}}, "filter.a.$nin", "$nin needs a list"),
        ({"$and": []}, "filter.$and", "non-empty list"),
        ({"$or": {"a": 1}}, "filter.$or", "non-empty list"),
        ({"$and": [{"a": 1}, "b"]}, "filter.$and[1]", "needs filter objects, got a string"),
        ({"a": {"$exists": 1}}, "filter.a.$exists", "true or false"),
        ({"a": {"$exists": "yes"}}, "filter.a.$exists", "true or false"),
        ({"a": {"$not": 5}}, "filter.a.$not", "object of operators"),
        ({"a": {"$not": {}}}, "filter.a.$not", "got an empty object"),
        ({"a": {"$not": {"b": 1}}}, "filter.a.$not", "mixes operators with field names"),
        ({"a": {"$gt": True}}, "filter.a.$gt", "number or a string, got a boolean"),
        ({"a": {"$lt": None}}, "filter.a.$lt", "got null"),
        ({"a": {"$gte": [1]}}, "filter.a.$gte", "got a list"),
        ({"a": {"$lte": math.nan}}, "filter.a.$lte", "NaN"),
        ({"a": {"$eq": math.nan}}, "filter.a.$eq", "NaN"),
        ({"a": {"$in": [1, {"$gt": 2}]}}, "filter.a.$in[1].$gt", "operator $gt inside a literal"),
        ({"a": {"$gt": 1, "b": 2}}, "filter.a", "mixes operators with field names (b)"),
        ({"a": {"$and": [{"b": 1}]}}, "filter.a.$and", "cannot apply to a field"),
        ({"": 1}, "filter", "empty field name"),
        ({"$or": [{"": 1}]}, "filter.$or[0]", "empty field name"),
        ({"a..b": 1}, "filter.a..b", "empty segment"),
        ({".a": 1}, "filter..a", "empty segment"),
        ({"a.$b": 1}, "filter.a.$b", "starting with '$'"),
        ({"a": {"$ne": b"x"}}, "filter.a.$ne", "unsupported value type bytes"),
        (deep_and(MAX_DEPTH), "filter" + ".$and[0]" * MAX_DEPTH, f"deeper than {MAX_DEPTH}"),
        ({"$or": [{"a": i} for i in range(MAX_CLAUSES + 1)]}, "filter", f"more than {MAX_CLAUSES}"),
        ({"a": {"$in": list(range(MAX_LIST_VALUES + 1))}}, "filter.a.$in", f"at most {MAX_LIST_VALUES}"),
        (["a"], "filter", "must be an object"),
    ],
)
def test_invalid_filters_are_refused_with_the_field(spec: Any, field: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        compile_filter(spec)
    err = caught.value
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.reason == "INVALID_FILTER"
    assert err.violations[0][0] == field
    assert fragment in err.violations[0][1]
    assert field in err.message
    status = err.to_status()
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]


def test_deep_but_allowed_filters_compile() -> None:
    assert compile_filter(deep_and(MAX_DEPTH - 2)).matches({"a": 1})
    assert compile_filter({"$or": [{"a": i} for i in range(MAX_CLAUSES - 1)]}).matches({"a": 7})


def test_invalid_struct_filter_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        compile_filter(struct({"price": {"$gt": "10", "$foo": 1}}))
    assert caught.value.violations[0][0] == "filter.price.$foo"


def test_bad_indexed_field_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        MetadataIndex(["brand", "dims..width"])
    assert caught.value.violations[0][0] == "collection.indexed_fields[1]"


# ---------------------------------------------------------------------------------------------
# Index

CATALOG = {
    0: {"_id": "a", "brand": "acme", "price": 10, "tags": ["red"], "dims": {"width": 100}},
    1: {"_id": "b", "brand": "acme", "price": 20.0, "tags": ["blue", "red"], "dims": {"width": 200}},
    2: {"_id": "c", "brand": "zeta", "price": 30, "tags": [], "dims": {"width": 300}},
    3: {"_id": "d", "brand": "zeta", "price": "40", "tags": "green"},
    4: {"_id": "e", "brand": None, "price": [5, 50], "color": "red"},
    5: {"_id": "f", "price": True, "dims": {"width": [150, 350]}},
}


@pytest.fixture
def catalog_index() -> MetadataIndex:
    index = MetadataIndex(["brand", "price", "tags", "dims.width", "_id"])
    index.add_many(CATALOG.items())
    return index


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"brand": "acme"}, {0, 1}),
        ({"tags": "red"}, {0, 1}),
        ({"_id": {"$in": ["c", "f", "zz"]}}, {2, 5}),
        ({"price": {"$gte": 20}}, {1, 2, 4}),
        ({"price": {"$lt": 10}}, {4}),
        ({"price": {"$gt": 20}}, {2, 4}),
        ({"price": {"$lte": 20}}, {0, 1, 4}),
        ({"price": True}, {5}),
        ({"dims.width": {"$gt": 320}}, {5}),
        ({"brand": "acme", "price": {"$gte": 20}}, {0, 1}),
        ({"$or": [{"brand": "zeta"}, {"tags": "blue"}]}, {1, 2, 3}),
        ({"brand": {"$exists": True}}, {0, 1, 2, 3, 4}),
        ({"brand": "acme", "color": "red"}, {0, 1}),  # narrowed by brand, color checked by matches
    ],
)
def test_candidates_from_indexed_fields(catalog_index: MetadataIndex, spec: dict, expected: set[int]) -> None:
    f = compile_filter(spec)
    found = f.candidates(catalog_index)
    truth = {row for row, record in CATALOG.items() if f.matches(record)}
    # An AND may stop intersecting once its set is small: candidates are a superset of the truth.
    assert truth <= found <= expected
    assert f.selectivity(catalog_index) >= len(found)


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"color": "red"},
        {"brand": {"$ne": "acme"}},
        {"brand": {"$nin": ["acme"]}},
        {"price": {"$not": {"$gt": 5}}},
        {"brand": {"$exists": False}},
        {"brand": None},
        {"tags": ["blue", "red"]},
        {"brand": {"$gt": "b"}},
        {"$or": [{"brand": "acme"}, {"color": "red"}]},
    ],
)
def test_filters_the_index_cannot_narrow(catalog_index: MetadataIndex, spec: dict) -> None:
    f = compile_filter(spec)
    assert f.candidates(catalog_index) is None
    assert f.selectivity(catalog_index) is None
    truth = sorted(row for row, record in CATALOG.items() if f.matches(record))
    assert f.select(CATALOG, catalog_index) == truth


def test_select_checks_candidates_exactly(catalog_index: MetadataIndex) -> None:
    f = compile_filter({"brand": "acme", "tags": {"$ne": "blue"}})
    assert f.select(CATALOG, catalog_index) == [0]
    assert f.select(CATALOG) == [0]


def test_index_follows_removals_and_replacements(catalog_index: MetadataIndex) -> None:
    records = dict(CATALOG)
    cheap = compile_filter({"price": {"$lte": 20}})
    assert cheap.candidates(catalog_index) == {0, 1, 4}
    catalog_index.remove(0, records.pop(0))
    assert cheap.candidates(catalog_index) == {1, 4}
    records[1] = {"_id": "b", "brand": "acme", "price": 99}
    catalog_index.add(1, records[1])
    assert cheap.candidates(catalog_index) == {4}
    assert compile_filter({"price": 99}).candidates(catalog_index) == {1}
    assert compile_filter({"tags": "blue"}).candidates(catalog_index) == set()
    catalog_index.remove(0)  # already gone
    assert len(catalog_index) == 5 and 0 not in catalog_index


def test_range_candidates_survive_bulk_loads() -> None:
    index = MetadataIndex(["n"], compact_after=16)
    rows = {i: {"n": (i * 7919) % 1000} for i in range(3000)}
    index.add_many(rows.items())
    f = compile_filter({"n": {"$gte": 100, "$lt": 110}})
    assert f.candidates(index) == {i for i, r in rows.items() if 100 <= r["n"] < 110}
    for i in range(0, 3000, 3):
        index.remove(i)
        del rows[i]
    for i in range(1, 3000, 9):
        rows[i] = {"n": 105.5}
        index.add(i, rows[i])
    assert f.candidates(index) == {i for i, r in rows.items() if 100 <= r["n"] < 110}
    assert f.select(rows, index) == sorted(i for i, r in rows.items() if 100 <= r["n"] < 110)


def test_selectivity_ranks_clauses() -> None:
    index = MetadataIndex(["kind", "n"])
    index.add_many((i, {"kind": "rare" if i % 100 == 0 else "common", "n": i}) for i in range(2000))
    assert compile_filter({"kind": "rare"}).selectivity(index) == 20
    assert compile_filter({"kind": "common"}).selectivity(index) == 1980
    assert compile_filter({"kind": "rare", "n": {"$lt": 1000}}).selectivity(index) <= 20
    assert compile_filter({"$or": [{"kind": "rare"}, {"n": {"$lt": 10}}]}).selectivity(index) == 30
    both = compile_filter({"kind": "rare", "n": {"$lt": 1000}})
    assert {r for r in both.candidates(index) if r < 1000} == {i for i in range(0, 1000, 100)}


# ---------------------------------------------------------------------------------------------
# Property tests: a reference interpreter written from the documented rules


def ref_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "null"
    if isinstance(v, list):
        return "array"
    return "object"


def ref_equal(a: Any, b: Any) -> bool:
    kind = ref_kind(a)
    if kind != ref_kind(b):
        return False
    if kind == "number":
        return float(a) == float(b)
    if kind == "array":
        return len(a) == len(b) and all(ref_equal(x, y) for x, y in zip(a, b))
    if kind == "object":
        return set(a) == set(b) and all(ref_equal(a[k], b[k]) for k in a)
    return a == b


def ref_reach(node: Any, steps: list[str]) -> list[Any]:
    if not steps:
        return [node]
    if isinstance(node, dict):
        return ref_reach(node[steps[0]], steps[1:]) if steps[0] in node else []
    if isinstance(node, list):
        return [v for element in node if isinstance(element, dict) for v in ref_reach(element, steps)]
    return []


def ref_eq(values: list[Any], wanted: Any) -> bool:
    flat = values + [e for v in values if isinstance(v, list) for e in v]
    if wanted is None and not values:
        return True
    return any(ref_equal(v, wanted) for v in flat)


REF_ORDER = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def ref_op(values: list[Any], op: str, arg: Any) -> bool:
    if op == "$eq":
        return ref_eq(values, arg)
    if op == "$ne":
        return not ref_eq(values, arg)
    if op == "$in":
        return any(ref_eq(values, a) for a in arg)
    if op == "$nin":
        return not any(ref_eq(values, a) for a in arg)
    if op == "$exists":
        return bool(values) is arg
    if op == "$not":
        return not ref_condition(values, arg)
    flat = values + [e for v in values if isinstance(v, list) for e in v]
    kind = ref_kind(arg)
    if kind == "number":
        return any(ref_kind(v) == kind and REF_ORDER[op](float(v), float(arg)) for v in flat)
    return any(ref_kind(v) == kind and REF_ORDER[op](v, arg) for v in flat)


def ref_condition(values: list[Any], condition: Any) -> bool:
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        return all(ref_op(values, op, arg) for op, arg in condition.items())
    return ref_eq(values, condition)


def ref_match(spec: dict, record: dict) -> bool:
    for key, value in spec.items():
        if key == "$and":
            ok = all(ref_match(s, record) for s in value)
        elif key == "$or":
            ok = any(ref_match(s, record) for s in value)
        else:
            ok = ref_condition(ref_reach(record, key.split(".")), value)
        if not ok:
            return False
    return True


# Small pools, so that filters and records often meet on the same values; the rare values are
# the edges (signed zero, infinities, a number a double cannot hold exactly, non-ASCII text).
COMMON = [0, 1, 1.0, 0.5, "a", "b", True, False, None]
RARE = [-0.0, 1e300, -math.inf, 2**53 + 1, "", "é"]
operand_scalars = st.one_of(st.sampled_from(COMMON), st.sampled_from(COMMON), st.sampled_from(RARE))
present_scalars = operand_scalars.filter(lambda v: v is not None)
record_scalars = st.one_of(operand_scalars, operand_scalars, st.just(math.nan))
numbers = st.sampled_from([0, 1, 0.5, -1, 2**53 + 1, -math.inf, 1e300])
strings = st.sampled_from(["a", "b", "", "é"])


def nested(scalars: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2),
        ),
        max_leaves=4,
    )


record_values = st.one_of(record_scalars, st.lists(record_scalars, max_size=3), nested(record_scalars))
operand_values = st.one_of(operand_scalars, operand_scalars, nested(operand_scalars))
objects = st.fixed_dictionaries({}, optional={"x": record_values, "y": record_values})

records = st.fixed_dictionaries(
    {"_id": strings, "_url": strings},
    optional={
        "a": record_values,
        "b": record_values,
        "tags": st.lists(strings, max_size=3),
        "d": st.one_of(objects, record_scalars),
        "items": st.lists(st.one_of(objects, record_scalars, st.lists(objects, max_size=2)), max_size=3),
    },
)

PATHS = ["a", "b", "tags", "d", "d.x", "d.y", "items", "items.x", "items.y", "_id", "_url", "nope", "d.x.z"]
INDEXED = ["a", "b", "tags", "d.x", "items.x", "_id"]


ORDERING = ["$gt", "$gte", "$lt", "$lte"]
ALL_FORMS = ["literal", "$eq", "$ne", *ORDERING, "$in", "$nin", "$exists", "$not", "pair"]
NARROW_FORMS = ["literal", "$eq", *ORDERING, "$in", "$exists", "$ne", "pair"]


def conditions_of(
    forms: list[str], values: st.SearchStrategy, bounds: st.SearchStrategy, depth: int = 1
) -> st.SearchStrategy:
    """One field's condition: a literal, one operator, or two; every form equally likely."""
    narrow = forms is NARROW_FORMS

    def operator_object(form: str) -> st.SearchStrategy:
        if form == "literal":
            return values
        if form in ("$eq", "$ne"):
            return values.map(lambda v: {form: v})
        if form in ORDERING:
            return bounds.map(lambda v: {form: v})
        if form in ("$in", "$nin"):
            return st.lists(values, max_size=3).map(lambda v: {form: v})
        if form == "$exists":
            return (st.just(True) if narrow else st.booleans()).map(lambda v: {form: v})
        if form == "$not":
            inner = [f for f in forms if f not in ("literal", "$not", "pair")]
            return st.sampled_from(inner).flatmap(operator_object).map(lambda v: {form: v})
        ops = [f for f in forms if f not in ("literal", "pair") and (depth > 0 or f != "$not")]
        return st.lists(st.sampled_from(ops).flatmap(operator_object), min_size=2, max_size=2).map(
            lambda pair: {**pair[0], **pair[1]}
        )

    return st.sampled_from(forms).flatmap(operator_object)


Conditions = Callable[[str], st.SearchStrategy]


def documents(paths: list[str], conditions: Conditions) -> st.SearchStrategy:
    """Field conditions (`conditions(path)`) under `$and` / `$or`, a few levels deep."""
    field = st.sampled_from(paths).flatmap(lambda p: st.tuples(st.just(p), conditions(p)))
    fields = st.lists(field, min_size=1, max_size=2).map(dict)
    return st.recursive(
        fields,
        lambda children: st.builds(
            lambda name, items, extra: {name: items, **extra},
            st.sampled_from(["$and", "$or"]),
            st.lists(children, min_size=1, max_size=3),
            st.lists(field, max_size=1).map(dict),
        ),
        max_leaves=5,
    )


def _collect(value: Any, out: list[Any]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _collect(v, out)
    elif isinstance(value, list):
        for v in value:
            _collect(v, out)
    elif not (isinstance(value, float) and math.isnan(value)):
        out.append(value)


def conditions_for(batch: list[dict]) -> tuple[dict[str, st.SearchStrategy], dict[str, st.SearchStrategy]]:
    """Per path: conditions of every form, and conditions the index can narrow (equality with
    scalars, numeric ranges, `$exists: true`, some `$ne`). Operands are often values the records
    hold at that path, so that conditions match some records and not others."""
    general: dict[str, st.SearchStrategy] = {}
    narrow: dict[str, st.SearchStrategy] = {}
    for path in PATHS:
        seen: list[Any] = []
        for record in batch:
            _collect(ref_reach(record, path.split(".")), seen)
        orderable = [v for v in seen if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
        scalars = st.one_of(st.sampled_from(seen), operand_scalars) if seen else operand_scalars
        bounds = st.one_of(st.sampled_from(orderable), numbers, strings) if orderable else st.one_of(numbers, strings)
        values = st.one_of(scalars, scalars, nested(scalars))
        general[path] = conditions_of(ALL_FORMS, values, bounds)
        present = scalars.filter(lambda v: v is not None)
        numeric = bounds.filter(lambda v: not isinstance(v, str))
        narrow[path] = conditions_of(NARROW_FORMS, present, numeric)
    return general, narrow


def filters_for(batch: list[dict]) -> st.SearchStrategy:
    """Documents of conditions on any path, and documents the index can narrow."""
    general, narrow = conditions_for(batch)
    return st.one_of(documents(PATHS, general.__getitem__), documents(INDEXED, narrow.__getitem__))


def single_conditions_for(batch: list[dict]) -> st.SearchStrategy:
    """One condition on one path: every operator meets the records on its own."""
    general, _ = conditions_for(batch)
    return st.sampled_from(PATHS).flatmap(lambda p: general[p].map(lambda c: {p: c}))


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIGHT = settings(PROPERTY, max_examples=50)


@PROPERTY
@given(batch=st.lists(records, min_size=4, max_size=12), data=st.data())
def test_matches_agrees_with_the_reference(batch: list[dict], data: st.DataObject) -> None:
    spec = data.draw(filters_for(batch), label="filter")
    compiled = compile_filter(spec)
    for record in batch:
        assert compiled.matches(record) is ref_match(spec, record), (spec, record)


@PROPERTY
@given(batch=st.lists(records, min_size=4, max_size=12), data=st.data())
def test_single_conditions_agree_with_the_reference(batch: list[dict], data: st.DataObject) -> None:
    spec = data.draw(single_conditions_for(batch), label="filter")
    compiled = compile_filter(spec)
    for record in batch:
        assert compiled.matches(record) is ref_match(spec, record), (spec, record)


@LIGHT
@given(batch=st.lists(records, min_size=1, max_size=5), data=st.data())
def test_struct_carried_filters_agree(batch: list[dict], data: st.DataObject) -> None:
    spec = data.draw(filters_for(batch), label="filter")
    plain, wired = compile_filter(spec), compile_filter(struct(spec))
    for record in batch:
        assert wired.matches(record) is plain.matches(record)


@PROPERTY
@given(
    batch=st.lists(records, max_size=20),
    removed=st.sets(st.integers(0, 19)),
    replacements=st.dictionaries(st.integers(0, 19), records, max_size=6),
    compact_after=st.one_of(st.none(), st.integers(0, 6)),
    data=st.data(),
)
def test_candidates_cover_every_match(
    batch: list[dict],
    removed: set[int],
    replacements: dict[int, dict],
    compact_after: int | None,
    data: st.DataObject,
) -> None:
    spec = data.draw(filters_for(batch + list(replacements.values())), label="filter")
    compiled = compile_filter(spec)
    index = MetadataIndex(INDEXED, compact_after=compact_after)
    live: dict[int, dict] = {}

    def check() -> None:
        truth = {row for row, record in live.items() if compiled.matches(record)}
        found = compiled.candidates(index)
        if found is not None:
            assert truth <= found <= live.keys()
            assert compiled.selectivity(index) >= len(found)
        assert compiled.select(live, index) == sorted(truth)

    for row, record in enumerate(batch):
        index.add(row, record)
        live[row] = record
    check()
    for row in removed:
        index.remove(row, live.pop(row, None))
    check()
    for row, record in replacements.items():
        index.add(row, record)
        live[row] = record
        check()
    assert len(index) == len(live)
