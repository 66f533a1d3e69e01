"""TLS of the SDK's channels: which CA verifies the services, and the client certificate for mutual TLS.

ClientConfig(indexer_address="mesh.internal:50052", tls=TlsOptions(ca_file="ca.crt"))
SIMMESH_TLS_CA_FILE=ca.crt simctl status            # or SIMMESH_TLS=1 for the system's roots
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

TLS_ENV = "SIMMESH_TLS"
CA_FILE_ENV = "SIMMESH_TLS_CA_FILE"
CERT_FILE_ENV = "SIMMESH_TLS_CLIENT_CERT_FILE"
KEY_FILE_ENV = "SIMMESH_TLS_CLIENT_KEY_FILE"
SERVER_NAME_ENV = "SIMMESH_TLS_SERVER_NAME"

_ON = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class TlsOptions:
    """TLS to every service, verifying its certificate against `ca_file` (empty: the system's
    roots); `cert_file` and `key_file` are the client certificate a mutual-TLS mesh asks for;
    `server_name` is the name checked in the services' certificates instead of the dialled host."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("a client certificate needs both a certificate file and a key file")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TlsOptions | None:
        """TLS options from `SIMMESH_TLS_*`; None (plaintext) unless a CA file or `SIMMESH_TLS=1`."""
        ca_file = env.get(CA_FILE_ENV, "")
        if not ca_file and env.get(TLS_ENV, "").strip().lower() not in _ON:
            return None
        return cls(ca_file, env.get(CERT_FILE_ENV, ""), env.get(KEY_FILE_ENV, ""), env.get(SERVER_NAME_ENV, ""))

    def channel(self, address: str, options: list[tuple[str, object]]) -> grpc.Channel:
        """A secure channel to `address` with these options."""
        files = [Path(name).read_bytes() if name else None for name in (self.ca_file, self.key_file, self.cert_file)]
        credentials = grpc.ssl_channel_credentials(*files)
        name = [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
        return grpc.secure_channel(address, credentials, options=[*options, *name])
