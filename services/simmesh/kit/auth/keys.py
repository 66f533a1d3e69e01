"""API keys: the `smk_<key id>_<secret>` format, the SHA-256 digest kept instead of the secret, key records.

plaintext, record = new_key("acme", Role.WRITER)   # plaintext is shown once, never stored
key_id, secret = parse_key(plaintext)
record.matches(secret)                               # constant-time
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, replace

from simmesh.kit.auth.identity import Identity, Role
from simmesh.kit.quotas import KeyLimits

PREFIX = "smk"


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret, hex: enough (no slow hash needed) for 256 random bits."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(text: str) -> tuple[str, str] | None:
    """(key id, secret) of `smk_<key id>_<secret>`; None when `text` has another shape."""
    prefix, _, rest = text.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        return None
    return key_id, secret


@dataclass(frozen=True)
class KeyRecord:
    """What is kept of a key: never the secret, only its digest. Times in seconds since the epoch;
    `expires` and `revoked` are 0 when unset. `rate` (requests/s), `burst` and `daily_quota`
    (requests per UTC day) limit the key; 0 takes the server's default (`kit/quotas.py`)."""

    key_id: str
    tenant: str
    role: Role
    secret_sha256: str
    created: float
    expires: float = 0.0
    revoked: float = 0.0
    description: str = ""
    rate: float = 0.0
    burst: int = 0
    daily_quota: int = 0

    def limits(self) -> KeyLimits:
        return KeyLimits(rate=self.rate, burst=self.burst, daily=self.daily_quota)

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(digest(secret), self.secret_sha256)

    def expired(self, now: float | None = None) -> bool:
        return bool(self.expires) and (time.time() if now is None else now) >= self.expires

    def revoke(self, now: float | None = None) -> KeyRecord:
        return self if self.revoked else replace(self, revoked=time.time() if now is None else now)

    def identity(self) -> Identity:
        return Identity(tenant=self.tenant, key_id=self.key_id, role=self.role)

    def to_json(self) -> bytes:
        return json.dumps({**asdict(self), "role": self.role.label}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> KeyRecord:
        fields = json.loads(raw)
        return cls(**{**fields, "role": Role.parse(fields["role"])})


def new_key(
    tenant: str,
    role: Role,
    *,
    ttl: float = 0.0,
    description: str = "",
    limits: KeyLimits | None = None,
    now: float | None = None,
) -> tuple[str, KeyRecord]:
    """A fresh key: its plaintext (to show once) and the record to store. `ttl` 0: no expiry;
    `limits` unset (or 0 each): the servers' defaults."""
    limits = limits or KeyLimits()
    created = time.time() if now is None else now
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    record = KeyRecord(
        key_id=key_id,
        tenant=tenant,
        role=role,
        secret_sha256=digest(secret),
        created=created,
        expires=created + ttl if ttl > 0 else 0.0,
        description=description,
        rate=limits.rate,
        burst=limits.burst,
        daily_quota=limits.daily,
    )
    return f"{PREFIX}_{key_id}_{secret}", record
