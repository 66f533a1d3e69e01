"""Compiled filters and their matching rows, kept for repeated filters (LRU by the filter's canonical form)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import numpy as np
from google.protobuf import struct_pb2

from simmesh.indexer.query import Filter, compile_filter

FilterSpec: TypeAlias = Mapping[str, Any] | struct_pb2.Struct | Filter | None

# Matching rows are kept only for filters that let at most this many rows through.
MAX_CACHED_ROWS = 1 << 17


def canonical_key(spec: Mapping[str, Any] | struct_pb2.Struct) -> bytes:
    """The filter document in a canonical form: a Struct's deterministic encoding (map keys
    sorted), a mapping's JSON with sorted keys."""
    if isinstance(spec, struct_pb2.Struct):
        return b"p" + spec.SerializeToString(deterministic=True)
    return b"j" + json.dumps(spec, sort_keys=True, separators=(",", ":"), default=repr).encode()


class FilterCache:
    """The last `size` compiled filters by canonical form, and the rows each matched at the
    index generation they were worked out at (stale rows are never returned: a change to the
    records moves the generation on). Safe to use from several threads."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._filters: OrderedDict[bytes, Filter] = OrderedDict()
        self._rows: OrderedDict[bytes, tuple[int, np.ndarray]] = OrderedDict()

    def compile(self, spec: FilterSpec) -> Filter | None:
        """The filter `spec` compiles to (compiled once per canonical form); None when it matches
        everything. Raises InvalidArgument as `compile_filter` does."""
        if spec is None:
            return None
        if isinstance(spec, Filter):
            return None if spec.matches_all else spec
        key = canonical_key(spec)
        with self._lock:
            compiled = self._filters.get(key)
            if compiled is not None:
                self._filters.move_to_end(key)
        if compiled is None:
            compiled = compile_filter(spec)
            compiled.key = key
            self._remember(self._filters, key, compiled)
        return None if compiled.matches_all else compiled

    def rows(self, compiled: Filter, generation: int, resolve: Callable[[], np.ndarray]) -> np.ndarray:
        """The rows `compiled` matches at `generation`: kept ones, else `resolve()`'s (kept when
        few enough). The caller must not change the array."""
        key = compiled.key
        if key:
            with self._lock:
                kept = self._rows.get(key)
            if kept is not None and kept[0] == generation:
                return kept[1]
        rows = resolve()
        if key and len(rows) <= MAX_CACHED_ROWS:
            rows.flags.writeable = False
            self._remember(self._rows, key, (generation, rows))
        return rows

    def _remember(self, kept: OrderedDict[bytes, Any], key: bytes, value: Any) -> None:
        with self._lock:
            kept[key] = value
            kept.move_to_end(key)
            while len(kept) > self._size:
                kept.popitem(last=False)
