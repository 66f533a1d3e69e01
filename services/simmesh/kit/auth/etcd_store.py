"""Key records in etcd under `{etcd_prefix}/auth/keys/{key id}`, watched, so that every service
sees a new or revoked key within moments of its write; lookups answer from the watched map."""

from __future__ import annotations

import logging
import threading

from simmesh.kit.auth.keys import KeyRecord
from simmesh.kit.auth.store import sorted_records
from simmesh.kit.discovery import Changes, EtcdClient, PrefixWatcher

log = logging.getLogger(__name__)


def keys_prefix(etcd_prefix: str) -> str:
    return etcd_prefix.rstrip("/") + "/auth/keys/"


class EtcdKeyStore:
    """Records in etcd, mirrored into memory by a prefix watch (started while etcd is down: no
    key but the bootstrap one passes until the first listing)."""

    def __init__(self, client: EtcdClient, etcd_prefix: str, *, owns_client: bool = False) -> None:
        self._client = client
        self._owns_client = owns_client
        self._prefix = keys_prefix(etcd_prefix)
        self._records: dict[str, KeyRecord] = {}
        self._lock = threading.Lock()
        self._watcher = PrefixWatcher(client, self._prefix, self._apply, wait_for_etcd=True)

    def _apply(self, changes: Changes) -> None:
        with self._lock:
            for key, value in changes.items():
                key_id = key[len(self._prefix) :]
                if value is None:
                    self._records.pop(key_id, None)
                    continue
                try:
                    self._records[key_id] = KeyRecord.from_json(value)
                except (ValueError, TypeError, KeyError):
                    log.warning("ignoring the malformed key record at %s", key)

    def get(self, key_id: str) -> KeyRecord | None:
        return self._records.get(key_id)

    def put(self, record: KeyRecord) -> None:
        self._client.put(self._prefix + record.key_id, record.to_json())
        with self._lock:  # seen at once here; the watch brings it to the other processes
            self._records[record.key_id] = record

    def list(self, tenant: str | None = None) -> list[KeyRecord]:
        return sorted_records(list(self._records.values()), tenant)

    def close(self) -> None:
        self._watcher.close()
        if self._owns_client:
            self._client.close()
