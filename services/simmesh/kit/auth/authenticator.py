"""Checks a call's credentials and its method's rule: API keys (from a `KeyStore`), the bootstrap
admin key, and the mesh's internal credential with the identity a peer forwards.

    authenticator.check("/simmesh.v1.IndexerService/Search", metadata)  # -> Identity, or raises

The presented secret is never logged or put in an error; messages name key ids only.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from simmesh.kit import reasons
from simmesh.kit.auth.identity import IDENTITY_HEADER, MESH, Identity, Role
from simmesh.kit.auth.keys import digest, parse_key
from simmesh.kit.auth.rules import INTERNAL, Need, rule_for
from simmesh.kit.auth.store import KeyStore
from simmesh.kit.errors import PermissionDenied, Unauthenticated

BOOTSTRAP_KEY_ID = "bootstrap"


@dataclass(frozen=True)
class Bootstrap:
    """The bootstrap admin key, as its digest: it manages the keys of every tenant."""

    secret_sha256: str
    tenant: str = "default"

    def identity(self) -> Identity:
        return Identity(tenant=self.tenant, key_id=BOOTSTRAP_KEY_ID, role=Role.ADMIN, operator=True)


class Authenticator:
    """Who a call comes from, and whether its method's rule lets it through."""

    def __init__(self, store: KeyStore, *, internal_token: str = "", bootstrap: Bootstrap | None = None) -> None:
        self.store = store
        self._internal = internal_token.encode()
        self._bootstrap = bootstrap

    def check(self, full_method: str, metadata: Mapping[str, str]) -> Identity:
        """The caller of `full_method`; Unauthenticated or PermissionDenied when refused."""
        identity = self.identify(metadata)
        self.authorize(full_method, identity)
        return identity

    def identify(self, metadata: Mapping[str, str]) -> Identity:
        header = metadata.get("authorization", "")
        if not header:
            raise Unauthenticated("missing `authorization: Bearer <key>` metadata", reason=reasons.TOKEN_MISSING)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the authorization metadata must be `Bearer <key>`", reason=reasons.TOKEN_INVALID)
        if self._internal and hmac.compare_digest(token.encode(), self._internal):
            return _forwarded(metadata.get(IDENTITY_HEADER, ""))
        if self._bootstrap is not None and hmac.compare_digest(digest(token), self._bootstrap.secret_sha256):
            return self._bootstrap.identity()
        return self._api_key(token)

    def _api_key(self, token: str) -> Identity:
        parsed = parse_key(token)
        record = self.store.get(parsed[0]) if parsed else None
        if parsed is None or record is None or not record.matches(parsed[1]):
            raise Unauthenticated("the API key is not known to the mesh", reason=reasons.API_KEY_UNKNOWN)
        if record.revoked:
            raise Unauthenticated(f"API key {record.key_id} was revoked", reason=reasons.API_KEY_REVOKED)
        if record.expired():
            raise Unauthenticated(f"API key {record.key_id} has expired", reason=reasons.API_KEY_EXPIRED)
        return record.identity()

    @staticmethod
    def authorize(full_method: str, identity: Identity) -> None:
        need: Need | None = rule_for(full_method)
        if need is None:
            raise PermissionDenied(
                f"{full_method} has no authorisation rule, so nobody may call it", reason=reasons.NO_AUTH_RULE
            )
        if need == INTERNAL:
            if not identity.internal:
                raise PermissionDenied(
                    f"{full_method} is internal to the mesh; API keys may not call it",
                    reason=reasons.INTERNAL_CREDENTIAL_REQUIRED,
                )
            return
        assert isinstance(need, Role)
        if identity.role < need:
            raise PermissionDenied(
                f"{full_method} needs the {need.label} role; key {identity.key_id} has {identity.role.label}",
                reason=reasons.ROLE_TOO_LOW,
            )


def _forwarded(header: str) -> Identity:
    """The identity a peer forwarded with the internal credential; the mesh itself without one."""
    if not header:
        return MESH
    try:
        identity = Identity.from_header(header)
    except ValueError:
        raise Unauthenticated(
            "the forwarded identity header is malformed", reason=reasons.FORWARDED_IDENTITY_INVALID
        ) from None
    return Identity(identity.tenant, identity.key_id, identity.role, internal=True, operator=identity.operator)
