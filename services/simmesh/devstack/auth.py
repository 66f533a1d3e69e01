"""The local mesh's auth: off, a static token, or API keys in its etcd with an internal credential
and a bootstrap admin key kept (mode 0600) in the data directory."""

from __future__ import annotations

import secrets
from pathlib import Path


def api_key_env(data_dir: Path) -> dict[str, str]:
    """The SIMMESH_* variables that turn API keys on; the secrets are made once per data directory."""
    return {
        "SIMMESH_API_KEYS": "etcd",
        "SIMMESH_INTERNAL_TOKEN": _secret(data_dir / "internal.token"),
        "SIMMESH_BOOTSTRAP_KEY_FILE": str(bootstrap_key_path(data_dir)),
    }


def bootstrap_key_path(data_dir: Path) -> Path:
    path = data_dir / "bootstrap.key"
    _secret(path)
    return path


def _secret(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def auth_line(data_dir: Path, token: str, api_keys: bool) -> str:
    """What the mesh says at start about who may call it."""
    if api_keys:
        key = bootstrap_key_path(data_dir)
        return (
            f"auth: API keys (kept in etcd). The bootstrap admin key is in {key}; make a tenant with\n"
            f"  SIMMESH_TOKEN=$(cat {key}) simctl tenants create NAME"
        )
    if token:
        return "auth: one static bearer token (SIMMESH_AUTH_TOKEN) for every call"
    return "auth: OFF - anyone who reaches these ports may call every RPC (`--api-keys` turns API keys on)"
