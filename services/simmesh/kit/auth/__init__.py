"""API keys with roles: key format and hashing, key stores (etcd, memory), the rule for every RPC,
and the authenticator the server interceptor asks; `current_identity()` is the caller of an RPC."""

from simmesh.kit.auth.identity import Identity, Role, current_identity

__all__ = ["Identity", "Role", "current_identity"]
