"""TLS from certificate files: the one place that builds server and channel credentials.

A server serves TLS when `tls_cert_file` and `tls_key_file` are set, and requires client
certificates signed by `tls_client_ca_file` (mutual TLS) when that is set too. Channels to peers
(router to shard, services to the embedder, ...) verify the peer with `peer_tls_ca_file` when it
is set, and present `peer_tls_cert_file`/`peer_tls_key_file` as their client certificate. The
file names match what cert-manager writes into a Secret: `tls.crt`, `tls.key`, `ca.crt`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import grpc


@dataclasses.dataclass(frozen=True)
class ChannelTls:
    """How a client checks a server (`ca_file`) and proves itself (`cert_file` + `key_file`).

    An empty `ca_file` trusts the system's roots. `server_name` overrides the name checked in the
    server's certificate (e.g. when dialling an IP address the certificate does not list)."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""

    def __post_init__(self) -> None:
        _check_pair(self.cert_file, self.key_file, "a client certificate")

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )

    def options(self) -> list[tuple[str, str]]:
        """Channel options: the server name override, when set."""
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def _tls_field(what: str) -> str:
    return dataclasses.field(default="", metadata={"help": what})


@dataclasses.dataclass(frozen=True)
class TlsSettings:
    """The TLS settings every server has (env `SIMMESH_TLS_*` and `SIMMESH_PEER_TLS_*`)."""

    tls_cert_file: str = _tls_field("PEM certificate this server presents; set with tls_key_file to serve TLS")
    tls_key_file: str = _tls_field("PEM private key of tls_cert_file")
    tls_client_ca_file: str = _tls_field(
        "PEM CA bundle; when set, every client must present a certificate it signed (mutual TLS)"
    )
    peer_tls_ca_file: str = _tls_field("PEM CA bundle that peers' certificates must chain to; set = TLS to peers")
    peer_tls_cert_file: str = _tls_field("PEM client certificate presented to peers (mutual TLS)")
    peer_tls_key_file: str = _tls_field("PEM private key of peer_tls_cert_file")
    peer_tls_server_name: str = _tls_field("name checked in peers' certificates instead of the dialled host")

    def __post_init__(self) -> None:
        _check_pair(self.tls_cert_file, self.tls_key_file, "TLS (tls_cert_file, tls_key_file)")
        _check_pair(
            self.peer_tls_cert_file, self.peer_tls_key_file, "TLS to peers (peer_tls_cert_file, peer_tls_key_file)"
        )
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ValueError("tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file")

    def peer_tls(self) -> ChannelTls | None:
        """How channels to peers use TLS; None: plaintext."""
        if not self.peer_tls_ca_file:
            return None
        return ChannelTls(
            self.peer_tls_ca_file, self.peer_tls_cert_file, self.peer_tls_key_file, self.peer_tls_server_name
        )


def server_credentials(settings: TlsSettings) -> grpc.ServerCredentials | None:
    """The server's TLS credentials, requiring client certificates when a client CA is set;
    None: plaintext."""
    if not settings.tls_cert_file:
        return None
    client_ca = _read(settings.tls_client_ca_file)
    return grpc.ssl_server_credentials(
        [(_read(settings.tls_key_file), _read(settings.tls_cert_file))],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def _check_pair(cert_file: str, key_file: str, what: str) -> None:
    if bool(cert_file) != bool(key_file):
        raise ValueError(f"{what} needs both a certificate file and its key file")


def _read(path: str) -> bytes | None:
    return Path(path).read_bytes() if path else None
