"""The per-field indexes a shard keeps over its records' metadata, and the candidate rows they give a filter.

`MetadataIndex` keeps, for a collection's indexed fields, an inverted index (value -> rows) and a
sorted array of numbers per field. A compiled filter asks it for a `Plan`: a superset of the
matching rows worked out from indexed fields alone, or None when the filter cannot be narrowed
that way (a condition on an unindexed field, `$ne`, `$nin`, `$not`, `$exists: false`, equality
with null, an array or an object, or ordering on strings). Candidates must still be checked
with `Filter.matches`; `Filter.select` does both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from simmesh.indexer.filter_values import COMPARE, Record, resolver, scalar_keys
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument


class Plan:
    """Candidate rows: `estimate` is an upper bound on `len(rows())`, known without building it."""

    def __init__(self, estimate: int, rows: Callable[[], set[int]]) -> None:
        self.estimate = estimate
        self.rows = rows


# An AND stops intersecting once its set is this small, or once the next clause is this many
# times larger than it: checking a few extra rows with `matches` is cheaper than building a set.
_SMALL_SET = 32
_INTERSECT_RATIO = 16


def all_of(plans: Sequence[Plan]) -> Plan | None:
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

    return Plan(ordered[0].estimate, rows)


def any_of(plans: Sequence[Plan | None], limit: int) -> Plan | None:
    if any(p is None for p in plans):
        return None
    present = [p for p in plans if p is not None]

    def rows() -> set[int]:
        result: set[int] = set()
        for plan in present:
            result |= plan.rows()
        return result

    return Plan(min(limit, sum(p.estimate for p in present)), rows)


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
            values[at : at + n] = numbers
            rows[at : at + n] = row
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
            compare = COMPARE[name]
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
        keys = scalar_keys(values)
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

    def equal_plan(self, keys: Iterable[Any]) -> Plan:
        buckets = [b for b in (self._rows_by_key.get(k) for k in keys) if b]

        def rows() -> set[int]:
            if len(buckets) == 1:
                return set(buckets[0])
            return set().union(*buckets)

        return Plan(sum(len(b) for b in buckets), rows)

    def range_plan(self, name: str, bound: float) -> Plan:
        numbers = self._numbers
        return Plan(numbers.estimate(name, bound), lambda: numbers.rows(name, bound))

    def present_plan(self) -> Plan:
        present = self._present
        return Plan(len(present), lambda: set(present))


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
                    reason=reasons.INVALID_INDEXED_FIELD,
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
