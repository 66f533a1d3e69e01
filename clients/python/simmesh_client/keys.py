"""`client.keys`: API keys and tenants, served by the catalog's KeyService (admin keys only).

made = client.keys.create("writer", tenant="acme", ttl=30 * 86400)
made.secret                      # the whole key, shown this once
client.keys.revoke(made.key.name)
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf import duration_pb2

from simmesh_client.base import ServiceClient, paginate, resource_name
from simmesh_proto.v1 import auth_pb2, auth_pb2_grpc

ROLES = ("reader", "writer", "admin")


def role_value(role: str) -> str:
    """`reader` -> `ROLE_READER`, the enum value's name; ValueError for another word."""
    if role.lower() not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return f"ROLE_{role.upper()}"


def role_label(value: int) -> str:
    return auth_pb2.Role.Name(value).removeprefix("ROLE_").lower()


class KeyClient(ServiceClient[auth_pb2_grpc.KeyServiceStub]):
    service = "catalog"
    stub_class = auth_pb2_grpc.KeyServiceStub

    def create(
        self,
        role: str,
        *,
        tenant: str = "",
        ttl: float = 0.0,
        description: str = "",
        rate_limit: float = 0.0,
        rate_burst: int = 0,
        daily_quota: int = 0,
    ) -> auth_pb2.CreateKeyResponse:
        """A new key of `tenant` (default: the caller's); `ttl` seconds, 0: no expiry; its own
        requests/s, burst and requests per UTC day, 0: the servers' defaults."""
        request = auth_pb2.CreateKeyRequest(
            tenant=resource_name("tenants", tenant) if tenant else "",
            role=role_value(role),
            description=description,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
            daily_quota=daily_quota,
        )
        if ttl > 0:
            request.ttl.CopyFrom(duration_pb2.Duration(seconds=int(ttl), nanos=int((ttl % 1) * 1e9)))
        return self.rpc.CreateKey(request)

    def list(self, *, tenant: str = "", show_revoked: bool = False, page_size: int = 0) -> Iterator[auth_pb2.ApiKey]:
        request = auth_pb2.ListKeysRequest(
            tenant=resource_name("tenants", tenant) if tenant else "", show_revoked=show_revoked, page_size=page_size
        )
        return paginate(self.rpc.ListKeys, request, "keys")

    def revoke(self, key: str) -> auth_pb2.ApiKey:
        """Revoke `keys/{id}` (or `{id}`)."""
        return self.rpc.RevokeKey(auth_pb2.RevokeKeyRequest(name=resource_name("keys", key)))

    def tenants(self, *, page_size: int = 0) -> Iterator[auth_pb2.Tenant]:
        return paginate(self.rpc.ListTenants, auth_pb2.ListTenantsRequest(page_size=page_size), "tenants")
