"""What a tenant sees at a service's edge: errors naming its resources by their public ids, and
listings of its own resources only."""

from __future__ import annotations

import re

from simmesh.kit.auth.tenancy import SEPARATOR, caller_tenant, mesh_itself
from simmesh.kit.errors import SimmeshError


def public_text(text: str, tenant: str) -> str:
    """`text` with every id of `tenant` (`acme.shoes`, at the start of a word or after a `/`)
    shown as its public id (`shoes`)."""
    if not tenant:
        return text
    pattern = rf"(?<![\w.\-]){re.escape(tenant + SEPARATOR)}(?=[\w\-])"
    return re.sub(pattern, "", text)


def public_error(error: SimmeshError) -> SimmeshError:
    """`error` (changed in place) naming the caller's resources by their public ids, so a handler
    may raise what the store said about internal ids."""
    tenant = caller_tenant()
    if tenant:
        error.message = public_text(error.message, tenant)
        error.violations = [(field, public_text(text, tenant)) for field, text in error.violations]
        error.metadata = {key: public_text(value, tenant) for key, value in error.metadata.items()}
    return error


def listing_tenant() -> str | None:
    """The tenant whose resources a listing shows ("" for the default tenant); None for the mesh
    acting for itself, which sees every tenant's."""
    return None if mesh_itself() else caller_tenant()
