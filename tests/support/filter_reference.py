"""A reference interpreter of the filter language, from its documented rules, and strategies for records and filters."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


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
            st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2)
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
