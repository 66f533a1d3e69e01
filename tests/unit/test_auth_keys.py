"""API keys: their format, hashed storage, expiry and revocation, and what the authenticator answers."""

from __future__ import annotations

import pytest

from simmesh.kit.auth.authenticator import Authenticator, Bootstrap
from simmesh.kit.auth.identity import IDENTITY_HEADER, Identity, Role
from simmesh.kit.auth.keys import KeyRecord, digest, new_key, parse_key
from simmesh.kit.auth.store import MemoryKeyStore
from simmesh.kit.errors import PermissionDenied, Unauthenticated

SEARCH = "/simmesh.v1.IndexerService/Search"
INSERT = "/simmesh.v1.IndexerService/InsertRecords"
DROP = "/simmesh.internal.v1.ShardService/Drop"


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def stored(store: MemoryKeyStore, role: Role, **options) -> tuple[str, KeyRecord]:
    """A new key of tenant acme, its record put in `store`."""
    plaintext, record = new_key("acme", role, **options)
    store.put(record)
    return plaintext, record


@pytest.fixture
def keys() -> tuple[Authenticator, MemoryKeyStore]:
    store = MemoryKeyStore()
    return Authenticator(store, internal_token="mesh-internal", bootstrap=Bootstrap(digest("boot-key"))), store


def test_a_new_key_parses_back_to_its_id_and_its_record_keeps_only_the_secrets_digest():
    plaintext, record = new_key("acme", Role.WRITER, now=1000.0)
    key_id, secret = parse_key(plaintext)
    assert plaintext.startswith("smk_") and key_id == record.key_id
    assert secret not in record.to_json().decode() and record.secret_sha256 == digest(secret)
    assert record.matches(secret) and not record.matches(secret + "x")
    assert KeyRecord.from_json(record.to_json()) == record
    assert new_key("acme", Role.WRITER)[0] != plaintext


@pytest.mark.parametrize("text", ["", "smk_", "smk_abc", "smk__secret", "sk_abc_secret", "Bearer smk_a_b"])
def test_text_of_another_shape_is_not_a_key(text):
    assert parse_key(text) is None


def test_a_key_expires_at_its_ttl_and_a_key_without_one_does_not():
    _, lasting = new_key("acme", Role.READER, now=1000.0)
    _, brief = new_key("acme", Role.READER, ttl=60, now=1000.0)
    assert not lasting.expired(now=10**10)
    assert not brief.expired(now=1059.0) and brief.expired(now=1060.0)


def test_a_valid_key_gives_its_tenant_id_and_role(keys):
    authenticator, store = keys
    plaintext, record = stored(store, Role.READER)
    assert authenticator.check(SEARCH, bearer(plaintext)) == Identity("acme", record.key_id, Role.READER)


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({}, "TOKEN_MISSING"),
        ({"authorization": "Basic abc"}, "TOKEN_INVALID"),
        (bearer("not-a-key"), "API_KEY_UNKNOWN"),
        (bearer("smk_0123456789abcdef_guessed"), "API_KEY_UNKNOWN"),
    ],
)
def test_a_call_without_a_known_key_is_unauthenticated_with_its_reason(keys, metadata, reason):
    authenticator, _ = keys
    with pytest.raises(Unauthenticated) as caught:
        authenticator.check(SEARCH, metadata)
    assert caught.value.reason == reason


def test_a_right_key_id_with_a_wrong_secret_is_unknown_and_the_secret_is_not_echoed(keys):
    authenticator, store = keys
    plaintext, _ = stored(store, Role.ADMIN)
    with pytest.raises(Unauthenticated) as caught:
        authenticator.check(SEARCH, bearer(plaintext + "x"))
    assert caught.value.reason == "API_KEY_UNKNOWN" and plaintext not in caught.value.message


def test_revoked_and_expired_keys_are_refused_with_their_reasons(keys):
    authenticator, store = keys
    revoked, record = new_key("acme", Role.ADMIN)
    store.put(record.revoke())
    expired, _ = stored(store, Role.ADMIN, ttl=1, now=1000.0)
    for key, reason in ((revoked, "API_KEY_REVOKED"), (expired, "API_KEY_EXPIRED")):
        with pytest.raises(Unauthenticated) as caught:
            authenticator.check(SEARCH, bearer(key))
        assert caught.value.reason == reason


def test_a_smaller_role_than_the_rule_asks_is_permission_denied(keys):
    authenticator, store = keys
    plaintext, _ = stored(store, Role.READER)
    with pytest.raises(PermissionDenied) as caught:
        authenticator.check(INSERT, bearer(plaintext))
    assert caught.value.reason == "ROLE_TOO_LOW" and "writer" in caught.value.message


def test_the_shard_api_takes_the_internal_credential_and_refuses_even_an_admin_key(keys):
    authenticator, store = keys
    plaintext, _ = stored(store, Role.ADMIN)
    with pytest.raises(PermissionDenied) as caught:
        authenticator.check(DROP, bearer(plaintext))
    assert caught.value.reason == "INTERNAL_CREDENTIAL_REQUIRED"
    with pytest.raises(PermissionDenied):
        authenticator.check(DROP, bearer("boot-key"))
    assert authenticator.check(DROP, bearer("mesh-internal")).internal


def test_a_peer_forwards_its_callers_identity_and_the_callers_role_is_what_counts(keys):
    authenticator, _ = keys
    reader = Identity("acme", "k1", Role.READER)
    metadata = {**bearer("mesh-internal"), IDENTITY_HEADER: reader.header()}
    assert authenticator.check(SEARCH, metadata) == Identity("acme", "k1", Role.READER, internal=True)
    with pytest.raises(PermissionDenied):
        authenticator.check(INSERT, metadata)
    with pytest.raises(Unauthenticated) as caught:
        authenticator.check(SEARCH, {**bearer("mesh-internal"), IDENTITY_HEADER: "garbage"})
    assert caught.value.reason == "FORWARDED_IDENTITY_INVALID"
    with pytest.raises(Unauthenticated):  # the identity header alone proves nothing
        authenticator.check(SEARCH, {IDENTITY_HEADER: reader.header()})


def test_the_bootstrap_key_is_an_operator_admin_and_a_method_without_a_rule_is_refused(keys):
    authenticator, _ = keys
    identity = authenticator.check(SEARCH, bearer("boot-key"))
    assert identity.operator and identity.role is Role.ADMIN and identity.tenant == "default"
    with pytest.raises(PermissionDenied) as caught:
        authenticator.check("/simmesh.v1.IndexerService/NewMethod", bearer("boot-key"))
    assert caught.value.reason == "NO_AUTH_RULE"
