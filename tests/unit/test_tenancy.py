"""Internal ids per tenant: what a caller's ids become, and which stored ids a caller sees."""

from __future__ import annotations

from simmesh.kit.auth.identity import MESH, Identity, Role, reset_identity, set_identity
from simmesh.kit.auth.tenancy import caller_tenant, owner, public, scoped, unscoped, visible


def _as(identity: Identity | None):
    class _Scope:
        def __enter__(self):
            self.token = set_identity(identity)

        def __exit__(self, *exc):
            reset_identity(self.token)

    return _Scope()


def test_a_tenant_s_ids_are_prefixed_and_the_default_tenant_s_are_not() -> None:
    with _as(Identity("acme", "k1", Role.WRITER)):
        assert caller_tenant() == "acme"
        assert scoped("shoes") == "acme.shoes"
        assert visible("acme.shoes") and not visible("shoes") and not visible("other.shoes")
        assert public("acme.shoes") == "shoes"
    for identity in (None, Identity("default", "k0", Role.ADMIN)):
        with _as(identity):
            assert scoped("shoes") == "shoes"
            assert visible("shoes") and not visible("acme.shoes")
    with _as(MESH):  # the mesh acting for itself works on internal ids and sees every tenant's
        assert scoped("acme.shoes") == "acme.shoes"
        assert public("acme.shoes") == "acme.shoes"
        assert visible("shoes") and visible("acme.shoes")


def test_internal_ids_name_their_owner_and_public_id() -> None:
    assert (owner("acme.shoes"), unscoped("acme.shoes")) == ("acme", "shoes")
    assert (owner("shoes"), unscoped("shoes")) == ("", "shoes")
    assert scoped("shoes", "other") == "other.shoes"
    assert scoped("shoes", "default") == "shoes"
    assert scoped("", "acme") == ""
