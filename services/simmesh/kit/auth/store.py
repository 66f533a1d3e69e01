"""Where key records live: the `KeyStore` interface and an in-process store (tests, one process)."""

from __future__ import annotations

import threading
from typing import Protocol

from simmesh.kit.auth.keys import KeyRecord


class KeyStore(Protocol):
    """Key records by key id. `get` answers from memory (it runs on every call); `put` is seen by
    every process that shares the store within seconds."""

    def get(self, key_id: str) -> KeyRecord | None: ...

    def put(self, record: KeyRecord) -> None: ...

    def list(self, tenant: str | None = None) -> list[KeyRecord]: ...

    def close(self) -> None: ...


class MemoryKeyStore:
    """Key records in this process only."""

    def __init__(self) -> None:
        self._records: dict[str, KeyRecord] = {}
        self._lock = threading.Lock()

    def get(self, key_id: str) -> KeyRecord | None:
        return self._records.get(key_id)

    def put(self, record: KeyRecord) -> None:
        with self._lock:
            self._records[record.key_id] = record

    def list(self, tenant: str | None = None) -> list[KeyRecord]:
        return sorted_records(self._records.values(), tenant)

    def close(self) -> None:
        pass


def sorted_records(records: object, tenant: str | None) -> list[KeyRecord]:
    """`records` of `tenant` (all with None), oldest first."""
    chosen = [r for r in records if tenant is None or r.tenant == tenant]  # type: ignore[attr-defined]
    return sorted(chosen, key=lambda r: (r.created, r.key_id))
