"""The compiled form of a filter: conditions on one field's values and the AND/OR tree over fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from simmesh.indexer.filter_values import COMPARE, NONSCALAR, Record, Values, as_number, resolver, same_value, value_key
from simmesh.indexer.metadata_index import Plan, all_of, any_of, negation

if TYPE_CHECKING:
    from simmesh.indexer.metadata_index import FieldIndex, MetadataIndex


class Condition:
    """One operator applied to the values a path reached."""

    def test(self, values: Values) -> bool:
        raise NotImplementedError

    def plan(self, field: FieldIndex) -> Plan | None:
        return None


class Equals(Condition):
    """`$eq` / `$in`, and negated, `$ne` / `$nin`."""

    def __init__(self, operands: Sequence[Any], negate: bool) -> None:
        self._keys = frozenset(value_key(v) for v in operands if value_key(v) is not NONSCALAR)
        self._structured = tuple(v for v in operands if value_key(v) is NONSCALAR)
        self._null = None in self._keys
        self._negate = negate

    def _hit(self, value: Any) -> bool:
        key = value_key(value)
        if key is not NONSCALAR:
            return key in self._keys
        return bool(self._structured) and any(same_value(value, s) for s in self._structured)

    def test(self, values: Values) -> bool:
        return self._any(values) != self._negate

    def _any(self, values: Values) -> bool:
        if not values:
            return self._null
        keys, hit = self._keys, self._hit
        for value in values:
            key = value_key(value)
            if key is not NONSCALAR:
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

    def plan(self, field: FieldIndex) -> Plan | None:
        if self._null or self._structured:
            return None
        plan = field.equal_plan(self._keys)
        return negation(plan) if self._negate else plan


class Order(Condition):
    """`$gt $gte $lt $lte` against a number or a string."""

    def __init__(self, name: str, bound: float | str) -> None:
        self._name = name
        self._compare = COMPARE[name]
        self._bound = bound
        self._numeric = not isinstance(bound, str)

    def test(self, values: Values) -> bool:
        compare, bound = self._compare, self._bound
        if self._numeric:
            for value in values:
                number = as_number(value)
                if number is not None:
                    if compare(number, bound):
                        return True
                elif isinstance(value, list):
                    for element in value:
                        number = as_number(element)
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

    @property
    def range(self) -> tuple[str, float] | None:
        """The operator and its bound, when the bound is a number."""
        return (self._name, float(self._bound)) if self._numeric else None

    def plan(self, field: FieldIndex) -> Plan | None:
        ranges = self.range
        return None if ranges is None else field.range_plan([ranges])


class Exists(Condition):
    def __init__(self, wanted: bool) -> None:
        self._wanted = wanted

    def test(self, values: Values) -> bool:
        return bool(values) == self._wanted

    def plan(self, field: FieldIndex) -> Plan | None:
        return field.present_plan() if self._wanted else None


class Not(Condition):
    def __init__(self, ops: Sequence[Condition]) -> None:
        self._ops = tuple(ops)

    def test(self, values: Values) -> bool:
        return any(not op.test(values) for op in self._ops)

    def plan(self, field: FieldIndex) -> Plan | None:
        if len(self._ops) != 1:
            return None
        return negation(self._ops[0].plan(field))


class Node:
    def test(self, record: Record) -> bool:
        raise NotImplementedError

    def plan(self, index: MetadataIndex) -> Plan | None:
        raise NotImplementedError


class FieldNode(Node):
    def __init__(self, path: str, ops: Sequence[Condition]) -> None:
        self.path = path
        self._resolve = resolver(path)
        self._ops = tuple(ops)

    def test(self, record: Record) -> bool:
        values = self._resolve(record)
        return all(op.test(values) for op in self._ops)

    def plan(self, index: MetadataIndex) -> Plan | None:
        field = index.field(self.path)
        if field is None:
            return None
        source = (self,)
        ranges = [r for r in (op.range for op in self._ops if isinstance(op, Order)) if r is not None]
        if len(ranges) > 1:  # one slice of the sorted numbers for all the bounds
            plans = [op.plan(field) for op in self._ops if not (isinstance(op, Order) and op.range)]
            plans.append(field.range_plan(ranges))
        else:
            plans = [op.plan(field) for op in self._ops]
        present = [p.stands_for(source) for p in plans if p is not None]
        if len(plans) == 1 and present and present[0].excluded is not None:
            return present[0]
        plan = all_of(present, source if len(present) < len(plans) else ())
        return None if plan is None else plan.stands_for(source)


class AndNode(Node):
    def __init__(self, children: Sequence[Node]) -> None:
        self._children = tuple(children)

    def test(self, record: Record) -> bool:
        return all(child.test(record) for child in self._children)

    def plan(self, index: MetadataIndex) -> Plan | None:
        plans = [(c, c.plan(index)) for c in self._children]
        unplanned = tuple(c for c, p in plans if p is None)
        plan = all_of([p for _, p in plans if p is not None], unplanned)
        return None if plan is None else plan.stands_for((self,))


class OrNode(Node):
    def __init__(self, children: Sequence[Node]) -> None:
        self._children = tuple(children)

    def test(self, record: Record) -> bool:
        return any(child.test(record) for child in self._children)

    def plan(self, index: MetadataIndex) -> Plan | None:
        return any_of([c.plan(index) for c in self._children], len(index), (self,))
