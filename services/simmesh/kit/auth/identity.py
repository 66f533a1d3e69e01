"""Who is calling: `Identity(tenant, key_id, role)`, kept in a context variable for the handler."""

from __future__ import annotations

import contextvars
import enum
from dataclasses import dataclass


class Role(enum.IntEnum):
    """A key's role; a larger role may do everything a smaller one may."""

    READER = 1
    WRITER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """`reader`, `writer` or `admin` (any case); ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"role must be reader, writer or admin, got {text!r}") from None


@dataclass(frozen=True)
class Identity:
    """The caller of an RPC: the tenant its key belongs to, the key's id and role.

    `internal` marks a call that came with the mesh's internal credential (a service calling
    another on nobody's behalf, e.g. a router calling a shard or a job resumed after a restart).
    `operator` marks the bootstrap key, which may manage the keys of every tenant."""

    tenant: str
    key_id: str
    role: Role
    internal: bool = False
    operator: bool = False

    def header(self) -> str:
        """This identity as the `x-simmesh-identity` value a service forwards to its peers."""
        return f"{self.tenant};{self.key_id};{self.role.label};{int(self.operator)}"

    @classmethod
    def from_header(cls, value: str) -> Identity:
        """The identity a peer forwarded (ValueError when malformed)."""
        tenant, key_id, role, operator = value.split(";")
        return cls(tenant, key_id, Role.parse(role), operator=operator == "1")


# The internal credential without a forwarded identity: the mesh acting for itself.
MESH = Identity(tenant="", key_id="internal", role=Role.ADMIN, internal=True)

# Metadata key under which a service forwards its caller's identity, next to the internal credential.
IDENTITY_HEADER = "x-simmesh-identity"

_CURRENT: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("simmesh_identity", default=None)


def current_identity() -> Identity | None:
    """The caller of the RPC being handled (also in tasks and threads it started); None with auth off."""
    return _CURRENT.get()


def set_identity(identity: Identity | None) -> contextvars.Token[Identity | None]:
    return _CURRENT.set(identity)


def reset_identity(token: contextvars.Token[Identity | None]) -> None:
    _CURRENT.reset(token)
