"""The filter language: operator semantics and validation errors, and agreement with a reference interpreter."""

from __future__ import annotations

import math
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st
from support.filter_reference import LIGHT, PROPERTY, filters_for, records, ref_match, single_conditions_for

from simmesh.indexer.query import MAX_CLAUSES, MAX_DEPTH, MAX_LIST_VALUES, compile_filter
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


def assert_agrees_with_the_reference(spec: dict, batch: list[dict]) -> None:
    compiled = compile_filter(spec)
    for record in batch:
        assert compiled.matches(record) is ref_match(spec, record), (spec, record)


@PROPERTY
@given(batch=st.lists(records, min_size=4, max_size=12), data=st.data())
def test_matches_agrees_with_the_reference(batch: list[dict], data: st.DataObject) -> None:
    assert_agrees_with_the_reference(data.draw(filters_for(batch), label="filter"), batch)


@PROPERTY
@given(batch=st.lists(records, min_size=4, max_size=12), data=st.data())
def test_single_conditions_agree_with_the_reference(batch: list[dict], data: st.DataObject) -> None:
    assert_agrees_with_the_reference(data.draw(single_conditions_for(batch), label="filter"), batch)


@LIGHT
@given(batch=st.lists(records, min_size=1, max_size=5), data=st.data())
def test_struct_carried_filters_agree(batch: list[dict], data: st.DataObject) -> None:
    spec = data.draw(filters_for(batch), label="filter")
    plain, wired = compile_filter(spec), compile_filter(struct(spec))
    for record in batch:
        assert wired.matches(record) is plain.matches(record)
