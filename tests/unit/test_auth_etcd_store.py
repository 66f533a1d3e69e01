"""Key records in etcd: a key put or revoked through one store is seen by another within seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from simmesh.kit.auth.etcd_store import EtcdKeyStore, keys_prefix
from simmesh.kit.auth.identity import Role
from simmesh.kit.auth.keys import new_key


@pytest.fixture
def stores(etcd_client, etcd_prefix) -> Iterator[tuple[EtcdKeyStore, EtcdKeyStore]]:
    writer, reader = EtcdKeyStore(etcd_client, etcd_prefix), EtcdKeyStore(etcd_client, etcd_prefix)
    yield writer, reader
    writer.close()
    reader.close()


def _seen(store: EtcdKeyStore, key_id: str, predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate(store.get(key_id)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_put_key_and_its_revocation_reach_the_other_store(stores):
    writer, reader = stores
    _, record = new_key("acme", Role.WRITER)
    writer.put(record)
    assert writer.get(record.key_id) == record  # at once where it was written
    assert _seen(reader, record.key_id, lambda found: found == record)
    writer.put(record.revoke())
    assert _seen(reader, record.key_id, lambda found: found is not None and found.revoked)
    assert [r.key_id for r in reader.list("acme")] == [record.key_id] and reader.list("globex") == []


def test_a_store_opened_later_lists_the_keys_already_there_and_skips_a_malformed_one(stores, etcd_client, etcd_prefix):
    writer, _ = stores
    plaintext, record = new_key("acme", Role.READER)
    writer.put(record)
    etcd_client.put(keys_prefix(etcd_prefix) + "garbage", b"{not json")
    late = EtcdKeyStore(etcd_client, etcd_prefix)
    try:
        assert late.get(record.key_id) == record and late.get("garbage") is None
    finally:
        late.close()
    kept = etcd_client.get(keys_prefix(etcd_prefix) + record.key_id)[0].decode()
    assert record.secret_sha256 in kept and plaintext.split("_", 2)[2] not in kept
