"""The per-field indexes a shard keeps over its records' metadata, and the candidate rows they give a filter.

`MetadataIndex` keeps, for a collection's indexed fields, an inverted index (value -> rows) and a
sorted array of numbers per field. A compiled filter asks it for a `Plan`: the rows matching the
filter as a sorted int64 array, worked out from indexed fields with array operations (sorted-array
intersections, unions and differences), plus the parts of the filter that the index could not
answer (`residual`), which the candidates must still pass. A filter has no plan (None) when it
cannot be narrowed that way (a condition on an unindexed field under `$or`, `$exists: false`,
equality with null, an array or an object, ordering on strings, or only negations: `$ne`,
`$nin`, `$not`). Negations of indexed conditions narrow an AND as differences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from simmesh.indexer.filter_values import COMPARE, Record, resolver, scalar_keys
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument

NO_ROWS = np.empty(0, dtype=np.int64)
# Order operators and their numeric bounds, e.g. [("$gte", 1.0), ("$lt", 2.0)].
Ranges = Sequence[tuple[str, float]]


class Test(Protocol):
    """A part of a filter that can be checked on one record."""

    def test(self, record: Record) -> bool: ...


class Plan:
    """The rows part of a filter lets through: `rows()` builds them, a sorted array of distinct
    int64 rows; `estimate` is an upper bound on their number, known without building them.
    `residual` lists the tests the rows must still pass (empty: they are exactly the matches).
    `source` is what stands for this plan when an AND leaves it out. A plan with `excluded` is a
    negation: every row but those `excluded` lets through (`rows` is not used)."""

    __slots__ = ("estimate", "excluded", "residual", "rows", "source")

    def __init__(
        self,
        estimate: int,
        rows: Callable[[], np.ndarray],
        residual: tuple[Test, ...] = (),
        source: tuple[Test, ...] = (),
        excluded: Plan | None = None,
    ) -> None:
        self.estimate = estimate
        self.rows = rows
        self.residual = residual
        self.source = source
        self.excluded = excluded

    @property
    def exact(self) -> bool:
        return not self.residual

    def stands_for(self, source: tuple[Test, ...]) -> Plan:
        """This plan, with `source` standing for it where an AND leaves it out."""
        return Plan(self.estimate, self.rows, self.residual, source, self.excluded)


def negation(plan: Plan | None) -> Plan | None:
    """Every row but those of an exact `plan`; None when `plan` is not exact."""
    if plan is None or not plan.exact or plan.excluded is not None:
        return None
    return Plan(plan.estimate, plan.rows, excluded=plan)


# An AND stops intersecting once its set is this small, or once the next clause is this many
# times larger than it: testing a few extra rows is cheaper than building a large array.
_SMALL_SET = 32
_INTERSECT_RATIO = 16


def all_of(plans: Sequence[Plan], unplanned: tuple[Test, ...] = ()) -> Plan | None:
    """The plan of an AND of `plans` and of the tests `unplanned` (its parts with no plan): the
    smallest plan's rows, intersected with the plans not much larger than it and less those
    that negations exclude; the plans left out join the residual as their sources."""
    positive = sorted((p for p in plans if p.excluded is None), key=lambda p: p.estimate)
    if not positive:
        return None
    first = positive[0]
    bound = first.estimate
    kept, residual = [], list(first.residual) + list(unplanned)
    for plan in positive[1:] + [p for p in plans if p.excluded is not None]:
        cost = plan.excluded.estimate if plan.excluded is not None else plan.estimate
        if bound <= _SMALL_SET or cost > _INTERSECT_RATIO * bound:
            residual.extend(plan.source)
        else:
            kept.append(plan)
            residual.extend(plan.residual)
    if not kept:
        return Plan(bound, first.rows, tuple(residual), first.source)

    def rows() -> np.ndarray:
        result = first.rows()
        for plan in kept:
            if plan.excluded is None:
                result = np.intersect1d(result, plan.rows(), assume_unique=True)
            else:
                result = result[~np.isin(result, plan.excluded.rows(), assume_unique=True)]
        return result

    return Plan(bound, rows, tuple(residual), first.source)


def any_of(plans: Sequence[Plan | None], limit: int, source: tuple[Test, ...]) -> Plan | None:
    """The plan of an OR: the union of its children's rows; exact when every child's is, else
    the whole OR (`source`) is the residual."""
    if any(p is None or p.excluded is not None for p in plans):
        return None
    present = [p for p in plans if p is not None]
    residual = source if any(p.residual for p in present) else ()

    def rows() -> np.ndarray:
        return np.unique(np.concatenate([p.rows() for p in present]))

    return Plan(min(limit, sum(p.estimate for p in present)), rows, residual, source)


def sorted_rows(rows: Iterable[int]) -> np.ndarray:
    out = np.fromiter(rows, dtype=np.int64)
    out.sort()
    return out


class _SortedNumbers:
    """The numbers of one field, sorted for range queries.

    Writes go to a small delta (rows added, rows whose sorted entries are stale) that is merged
    into the sorted arrays on the first query (or estimate) after it grows past `compact_after`
    entries, so a bulk load costs one sort and single writes cost O(1). Queries read the delta
    as arrays, built once per batch of writes.
    """

    def __init__(self, compact_after: int | None) -> None:
        self._compact_after = compact_after
        self._by_row: dict[int, tuple[float, ...]] = {}
        self._values = np.empty(0, dtype=np.float64)
        self._rows = NO_ROWS
        self._added: dict[int, tuple[float, ...]] = {}
        self._stale: set[int] = set()
        self._delta: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # The compacted numbers of the rows with several: they may meet two ranges with two numbers.
        self._multi: tuple[np.ndarray, np.ndarray] = (np.empty(0, dtype=np.float64), NO_ROWS)

    def add(self, row: int, numbers: tuple[float, ...]) -> None:
        if row in self._by_row:
            self.remove(row)
        self._by_row[row] = numbers
        self._added[row] = numbers
        self._delta = None

    def remove(self, row: int) -> None:
        if self._by_row.pop(row, None) is None:
            return
        if self._added.pop(row, None) is None:
            self._stale.add(row)
        self._delta = None

    def _pending_limit(self) -> int:
        if self._compact_after is not None:
            return self._compact_after
        return max(1024, len(self._by_row) // 8)

    @staticmethod
    def _flatten(by_row: dict[int, tuple[float, ...]]) -> tuple[np.ndarray, np.ndarray]:
        count = sum(len(v) for v in by_row.values())
        values = np.empty(count, dtype=np.float64)
        rows = np.empty(count, dtype=np.int64)
        at = 0
        for row, numbers in by_row.items():
            n = len(numbers)
            values[at : at + n] = numbers
            rows[at : at + n] = row
            at += n
        return values, rows

    def _compact(self) -> None:
        values, rows = self._flatten(self._by_row)
        order = np.argsort(values, kind="stable")
        self._values, self._rows = values[order], rows[order]
        multi = {row: numbers for row, numbers in self._by_row.items() if len(numbers) > 1}
        self._multi = self._flatten(multi)
        self._added.clear()
        self._stale.clear()
        self._delta = None

    def _bounds(self, ranges: Ranges) -> tuple[int, int]:
        """The slice of the sorted values that meets every one of `ranges`."""
        values, lo, hi = self._values, 0, len(self._values)
        for name, bound in ranges:
            if name == "$gt":
                lo = max(lo, int(np.searchsorted(values, bound, side="right")))
            elif name == "$gte":
                lo = max(lo, int(np.searchsorted(values, bound, side="left")))
            elif name == "$lt":
                hi = min(hi, int(np.searchsorted(values, bound, side="left")))
            else:
                hi = min(hi, int(np.searchsorted(values, bound, side="right")))
        return lo, max(lo, hi)

    def _settle(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The delta as arrays: values and rows added, stale rows (sorted)."""
        if len(self._added) + len(self._stale) > self._pending_limit():
            self._compact()
        if self._delta is None:
            values, rows = self._flatten(self._added)
            self._delta = values, rows, sorted_rows(self._stale)
        return self._delta

    @staticmethod
    def _meeting_all(values: np.ndarray, rows: np.ndarray, ranges: Ranges) -> np.ndarray:
        """The rows (sorted) among `rows` whose numbers meet each of `ranges` (not necessarily
        with the same number, as a row with several numbers may)."""
        if not len(rows):
            return NO_ROWS
        result: np.ndarray | None = None
        for name, bound in ranges:
            met = np.unique(rows[COMPARE[name](values, bound)])
            result = met if result is None else np.intersect1d(result, met, assume_unique=True)
        return NO_ROWS if result is None else result

    def estimate(self, ranges: Ranges) -> int:
        added_values, added_rows, _ = self._settle()
        lo, hi = self._bounds(ranges)
        return hi - lo + len(self._meeting_all(added_values, added_rows, ranges)) + len(self._multi[1])

    def rows(self, ranges: Ranges) -> np.ndarray:
        """The rows with numbers meeting every one of `ranges`: those with one number meeting all
        (a slice of the sorted values), those with several meeting them between them, and those
        written since the last compaction."""
        added_values, added_rows, stale = self._settle()
        lo, hi = self._bounds(ranges)
        parts = [self._rows[lo:hi]]
        if len(ranges) > 1 and len(self._multi[1]):
            parts.append(self._meeting_all(*self._multi, ranges))
        result = np.unique(np.concatenate(parts)) if len(parts) > 1 else np.unique(parts[0])
        if len(stale):
            result = result[~np.isin(result, stale, assume_unique=True)]
        added = self._meeting_all(added_values, added_rows, ranges)
        return np.union1d(result, added) if len(added) else result


class FieldIndex:
    """The inverted index and the sorted numbers of one indexed field (a dotted path). The rows of
    each key are kept as a set and, once asked for, as a sorted array until the key's next write."""

    def __init__(self, path: str, *, compact_after: int | None = None) -> None:
        self.path = path
        self._resolve = resolver(path)
        self._present: set[int] = set()
        self._present_array: np.ndarray | None = None
        self._keys_by_row: dict[int, tuple[Any, ...]] = {}
        self._rows_by_key: dict[Any, set[int]] = {}
        self._arrays: dict[Any, np.ndarray] = {}
        self._numbers = _SortedNumbers(compact_after)

    def add(self, row: int, record: Record) -> None:
        """Index the record's values at this path under `row` (replacing what `row` had)."""
        if row in self._present:
            self.remove(row)
        values = self._resolve(record)
        if not values:
            return
        self._present.add(row)
        self._present_array = None
        keys = scalar_keys(values)
        if not keys:
            return
        self._keys_by_row[row] = tuple(keys)
        arrays = self._arrays
        for key in keys:
            rows = self._rows_by_key.get(key)
            if rows is None:
                self._rows_by_key[key] = {row}
            else:
                rows.add(row)
                if arrays:
                    arrays.pop(key, None)
        numbers = tuple(k for k in keys if type(k) is float)
        if numbers:
            self._numbers.add(row, numbers)

    def remove(self, row: int) -> None:
        """Forget `row` (no-op when it is not indexed)."""
        self._present.discard(row)
        self._present_array = None
        keys = self._keys_by_row.pop(row, None)
        if keys is None:
            return
        for key in keys:
            self._arrays.pop(key, None)
            rows = self._rows_by_key[key]
            rows.discard(row)
            if not rows:
                del self._rows_by_key[key]
        self._numbers.remove(row)

    def _key_rows(self, key: Any) -> np.ndarray:
        array = self._arrays.get(key)
        if array is None:
            array = self._arrays[key] = sorted_rows(self._rows_by_key.get(key, ()))
        return array

    def equal_plan(self, keys: Iterable[Any]) -> Plan:
        present = [k for k in keys if k in self._rows_by_key]

        def rows() -> np.ndarray:
            if not present:
                return NO_ROWS
            if len(present) == 1:
                return self._key_rows(present[0])
            return np.unique(np.concatenate([self._key_rows(k) for k in present]))

        return Plan(sum(len(self._rows_by_key[k]) for k in present), rows)

    def range_plan(self, ranges: Ranges) -> Plan:
        """The rows with numbers meeting every one of `ranges`, e.g. [("$gte", 1.0), ("$lt", 2.0)]."""
        numbers = self._numbers
        return Plan(numbers.estimate(ranges), lambda: numbers.rows(ranges))

    def present_plan(self) -> Plan:
        return Plan(len(self._present), self.present_rows)

    def present_rows(self) -> np.ndarray:
        if self._present_array is None:
            self._present_array = sorted_rows(self._present)
        return self._present_array


class MetadataIndex:
    """Inverted indexes over a collection's indexed fields, kept in step with its records.

    Rows are the shard's integer row ids (the ids its FAISS index holds). `_id` and `_url` can
    be listed like metadata fields. `compact_after` is how many writes a field buffers before
    its sorted numbers are rebuilt on the next query (default: max(1024, rows / 8)).
    `generation` counts the changes: what was worked out from the index at one generation holds
    until it changes.
    """

    def __init__(self, indexed_fields: Sequence[str], *, compact_after: int | None = None) -> None:
        seen: dict[str, FieldIndex] = {}
        for i, path in enumerate(indexed_fields):
            if not path or any(s == "" or s.startswith("$") for s in path.split(".")):
                raise InvalidArgument(
                    f"indexed field {path!r} is not a field path",
                    reason=reasons.INVALID_INDEXED_FIELD,
                    field=f"collection.indexed_fields[{i}]",
                )
            seen.setdefault(path, FieldIndex(path, compact_after=compact_after))
        self._fields = seen
        self._rows: set[int] = set()
        self.generation = 0

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
        self.generation += 1
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
        self.generation += 1
        for field in self._fields.values():
            field.remove(row)
