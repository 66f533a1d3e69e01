"""The authenticator a server's settings ask for: none (auth off), or API keys in etcd or in memory,
with the bootstrap key and the internal credential."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from simmesh.kit.auth.authenticator import Authenticator, Bootstrap
from simmesh.kit.auth.etcd_store import EtcdKeyStore
from simmesh.kit.auth.keys import digest
from simmesh.kit.auth.store import KeyStore, MemoryKeyStore
from simmesh.kit.discovery import EtcdConfig

log = logging.getLogger(__name__)

STORES = ("etcd", "memory")


def open_authenticator(settings: Any) -> Authenticator | None:
    """From a `ServerSettings`: None when `api_keys` is empty; SystemExit when the settings do not
    hold together (an unknown store, no internal credential, an unreadable bootstrap key file)."""
    if not settings.api_keys:
        return None
    if settings.api_keys not in STORES:
        raise SystemExit(f"api_keys must be one of {', '.join(STORES)} or empty, got {settings.api_keys!r}")
    if not settings.internal_token:
        raise SystemExit("api_keys needs internal_token (SIMMESH_INTERNAL_TOKEN): the credential services call with")
    return Authenticator(_store(settings), internal_token=settings.internal_token, bootstrap=_bootstrap(settings))


def _store(settings: Any) -> KeyStore:
    if settings.api_keys == "memory":
        return MemoryKeyStore()
    client = EtcdConfig(",".join(settings.etcd_endpoints)).connect()
    return EtcdKeyStore(client, settings.etcd_prefix, owns_client=True)


def _bootstrap(settings: Any) -> Bootstrap | None:
    """The bootstrap key's digest (the key itself is not kept), from the setting or its file."""
    key = settings.bootstrap_key
    if settings.bootstrap_key_file:
        try:
            key = Path(settings.bootstrap_key_file).read_text().strip()
        except OSError as error:
            raise SystemExit(f"cannot read bootstrap_key_file: {error.strerror}") from None
    if not key:
        return None
    return Bootstrap(digest(key), settings.bootstrap_tenant)


def peer_token(settings: Any) -> str:
    """The bearer token a service sends to its peers: the internal credential with API keys, else
    the legacy shared token (empty with auth off)."""
    return str(settings.internal_token if settings.api_keys else settings.auth_token)


def auth_mode(settings: Any) -> str:
    """How a server with these settings checks its callers, in words for its start line."""
    if settings.api_keys:
        return f"API keys in {settings.api_keys}"
    return "static token" if settings.auth_token else "off"
