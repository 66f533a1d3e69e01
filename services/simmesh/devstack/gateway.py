"""The REST/JSON gateway in the local mesh: its environment and its readiness probe."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

# Serving TLS: the gateway serves plain HTTP on the mesh's host (and calls the services over TLS
# when the mesh has it, with the peer settings).
_SERVER_TLS = ("SIMMESH_TLS_CERT_FILE", "SIMMESH_TLS_KEY_FILE", "SIMMESH_TLS_CLIENT_CA_FILE")


def gateway_env(service_env: Mapping[str, str], host: str, port: int) -> dict[str, str]:
    """The gateway's environment from the one a service gets (the backends' addresses, peer TLS, the
    mesh's extra variables), less serving TLS, with its host and port."""
    env = {k: v for k, v in service_env.items() if k not in _SERVER_TLS}
    env.update(SIMMESH_HOST=host, SIMMESH_PORT=str(port))
    return env


def http_serving(address: str, timeout: float = 1.0) -> bool:
    """True when the gateway at `address` (host:port) answers its health check."""
    with urllib.request.urlopen(f"http://{address}/healthz", timeout=timeout) as reply:
        return bool(reply.status == 200)
