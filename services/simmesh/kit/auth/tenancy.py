"""Whose resources a call sees: each tenant's collections, projects, tasks, types, groups and
imported models live under internal ids prefixed with the tenant, so that two tenants may use the
same names and never reach each other's.

A resource id a caller gives (`shoes`) is public; the id a service stores it under is internal:
`acme.shoes` for tenant `acme`. Public ids never contain `.` (ids are letters, digits, `-` and
`_`), so an internal id names its tenant unambiguously. The default tenant (the bootstrap key's,
and every call while auth is off) keeps unprefixed ids, so data made before auth was turned on
stays with it. Services translate at their public edge only: what they store, log in jobs,
forward to shards and resume after a restart is internal, and the mesh acting for itself
(`MESH`, e.g. a job resumed after a restart) works on internal ids directly."""

from __future__ import annotations

from simmesh.kit.auth.identity import current_identity

SEPARATOR = "."
DEFAULT_TENANT = "default"


def caller_tenant() -> str:
    """The tenant whose resources the current call sees: "" for the default tenant, with auth off
    and for the mesh acting for itself."""
    identity = current_identity()
    if identity is None or identity.tenant in ("", DEFAULT_TENANT):
        return ""
    return identity.tenant


def scoped(public_id: str, tenant: str | None = None) -> str:
    """The internal id of `public_id` for `tenant` (the caller's when None). Empty stays empty."""
    tenant = _given_or_caller(tenant)
    return f"{tenant}{SEPARATOR}{public_id}" if tenant and public_id else public_id


def owner(internal_id: str) -> str:
    """The tenant an internal id belongs to ("" for the default tenant)."""
    tenant, separator, _ = internal_id.partition(SEPARATOR)
    return tenant if separator else ""


def unscoped(internal_id: str) -> str:
    """The public id of an internal id (what its owner calls it)."""
    _, separator, rest = internal_id.partition(SEPARATOR)
    return rest if separator else internal_id


def public(internal_id: str) -> str:
    """What the current caller calls `internal_id` in replies: its public id, or the internal id
    itself for the mesh acting for itself (which works on internal ids)."""
    return internal_id if mesh_itself() else unscoped(internal_id)


def visible(internal_id: str, tenant: str | None = None) -> bool:
    """Whether `tenant` (the caller's when None) owns `internal_id`: listings keep only these. The
    mesh acting for itself sees every tenant's."""
    if tenant is None and mesh_itself():
        return True
    tenant = _given_or_caller(tenant)
    return owner(internal_id) == tenant


def mesh_itself() -> bool:
    """Whether the call is the mesh's own (the internal credential, no forwarded identity)."""
    identity = current_identity()
    return identity is not None and identity.internal and not identity.tenant


def _given_or_caller(tenant: str | None) -> str:
    """`tenant` as internal ids name it ("" for the default tenant); the caller's when None."""
    return caller_tenant() if tenant is None else ("" if tenant == DEFAULT_TENANT else tenant)
