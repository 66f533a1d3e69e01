"""`python -m simmesh.gateway`: the REST/JSON gateway and the web console, served by uvicorn."""

from __future__ import annotations

import sys

import uvicorn

from simmesh.gateway.app import build_gateway
from simmesh.gateway.settings import GatewaySettings
from simmesh.kit.logs import configure_logging
from simmesh.kit.settings import load_settings


def main() -> int:
    settings = load_settings(GatewaySettings, prog="python -m simmesh.gateway")
    configure_logging("gateway", settings.log_level)
    uvicorn.run(
        build_gateway(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,  # the gateway logs one JSON line per request itself
        ssl_certfile=settings.tls_cert_file or None,
        ssl_keyfile=settings.tls_key_file or None,
        ssl_ca_certs=settings.tls_client_ca_file or None,
        ssl_cert_reqs=2 if settings.tls_client_ca_file else 0,  # ssl.CERT_REQUIRED with a client CA
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
