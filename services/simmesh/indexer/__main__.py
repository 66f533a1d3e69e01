"""`python -m simmesh.indexer [router]`: the indexer router (shards: `shard`)."""

import sys
from collections.abc import Awaitable, Callable
from typing import Any

from simmesh.indexer.app import build_router, build_shard
from simmesh.indexer.settings import RouterSettings, ShardSettings
from simmesh.kit.server import App, service_main
from simmesh.kit.settings import ServerSettings

ROLES: dict[str, tuple[type[ServerSettings], Callable[[Any], Awaitable[App]]]] = {
    "router": (RouterSettings, build_router),
    "shard": (ShardSettings, build_shard),
}

if __name__ == "__main__":
    args = sys.argv[1:]
    role = args.pop(0) if args and not args[0].startswith("-") else "router"
    if role not in ROLES:
        sys.exit(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
    settings_cls, build = ROLES[role]
    sys.exit(service_main("indexer", settings_cls, build, args))
