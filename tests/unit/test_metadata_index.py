"""The metadata index: candidate rows from indexed fields, kept in step with writes, never missing a match."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.filter_reference import INDEXED, PROPERTY, filters_for, records

from simmesh.indexer.metadata_index import MetadataIndex
from simmesh.indexer.query import compile_filter
from simmesh.kit.errors import InvalidArgument


def test_bad_indexed_field_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        MetadataIndex(["brand", "dims..width"])
    assert caught.value.violations[0][0] == "collection.indexed_fields[1]"


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


@PROPERTY
@given(
    batch=st.lists(records, max_size=20),
    removed=st.sets(st.integers(0, 19)),
    replacements=st.dictionaries(st.integers(0, 19), records, max_size=6),
    compact_after=st.one_of(st.none(), st.integers(0, 6)),
    data=st.data(),
)
def test_candidates_cover_every_match(
    batch: list[dict], removed: set[int], replacements: dict[int, dict], compact_after: int | None, data: st.DataObject
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
