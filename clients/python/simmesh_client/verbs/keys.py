"""`simctl keys` and `simctl tenants`: API keys with roles and the tenants they belong to (admin keys only).

simctl keys create --role writer [--tenant acme] [--ttl-days 30] [--rate-limit 5 --daily-quota 100]  # prints it once
simctl keys list [--tenant acme] [--revoked]
simctl keys revoke keys/0123456789abcdef
simctl tenants create acme            # the tenant's first admin key (the bootstrap key only)
simctl tenants list
"""

from __future__ import annotations

from simmesh_client.cli import EXIT_OK, CommandError, Context
from simmesh_client.keys import ROLES, role_label
from simmesh_client.verbs.common import print_message, print_messages
from simmesh_client.verbs.declare import Verbs
from simmesh_proto.v1 import auth_pb2

DAY = 86400.0


def register(verbs: Verbs) -> None:
    keys = verbs.group("keys", help="manage API keys", description="Create, list and revoke API keys.")
    create = keys.add("create", run_create, help="create a key; its secret is printed this once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--tenant", default="", help="the key's tenant (default: the caller's)")
    create.add_argument("--ttl-days", type=float, default=0.0, help="days until the key expires (0: never)")
    create.add_argument("--description", default="")
    create.add_argument("--rate-limit", type=float, default=0.0, help="requests/s (0: the servers' default)")
    create.add_argument("--rate-burst", type=int, default=0, help="requests at once (0: the servers' default)")
    create.add_argument("--daily-quota", type=int, default=0, help="requests per UTC day (0: the servers' default)")
    listing = keys.add("list", run_list, help="list a tenant's keys")
    listing.add_argument("--tenant", default="")
    listing.add_argument("--revoked", action="store_true", help="also list revoked keys")
    keys.add("revoke", run_revoke, help="revoke a key").add_argument("key", metavar="KEY")
    tenants = verbs.group("tenants", help="manage tenants", description="Tenants exist while they have keys.")
    tenants.add("create", run_tenant_create, help="create a tenant's first admin key").add_argument("tenant")
    tenants.add("list", run_tenants, help="list tenants")


def _created(context: Context, made: auth_pb2.CreateKeyResponse) -> int:
    if context.json:
        context.print_json({"name": made.key.name, "tenant": made.key.tenant, "secret": made.secret})
        return EXIT_OK
    role = role_label(made.key.role)
    context.stdout.write(f"created {made.key.name} ({role} of {made.key.tenant})\n{made.secret}\n")
    context.stderr.write("the key is shown this once: keep it now\n")
    return EXIT_OK


def run_create(context: Context) -> int:
    args = context.args
    if args.ttl_days < 0:
        raise CommandError("--ttl-days must not be negative")
    made = context.client.keys.create(
        args.role,
        tenant=args.tenant,
        ttl=args.ttl_days * DAY,
        description=args.description,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        daily_quota=args.daily_quota,
    )
    return _created(context, made)


def run_list(context: Context) -> int:
    found = list(context.client.keys.list(tenant=context.args.tenant, show_revoked=context.args.revoked))
    print_messages(
        context,
        found,
        ("NAME", "TENANT", "ROLE", "CREATED", "EXPIRES", "REVOKED"),
        lambda k: (
            k.name,
            k.tenant,
            role_label(k.role),
            _time(k, "create_time"),
            _time(k, "expire_time"),
            _time(k, "revoke_time"),
        ),
    )
    return EXIT_OK


def _time(key: auth_pb2.ApiKey, field: str) -> str:
    return getattr(key, field).ToJsonString() if key.HasField(field) else ""


def run_revoke(context: Context) -> int:
    revoked = context.client.keys.revoke(context.args.key)
    print_message(context, revoked, f"revoked {revoked.name}")
    return EXIT_OK


def run_tenant_create(context: Context) -> int:
    return _created(context, context.client.keys.create("admin", tenant=context.args.tenant))


def run_tenants(context: Context) -> int:
    print_messages(
        context, list(context.client.keys.tenants()), ("NAME", "ACTIVE KEYS"), lambda t: (t.name, t.active_keys)
    )
    return EXIT_OK
