"""Gateway settings (flags and SIMMESH_* variables): where it listens, the backends it calls, its limits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from simmesh.kit.settings import PeerSettings
from simmesh.kit.tls import TlsSettings

CONSOLE_DIR = str(Path(__file__).resolve().parent / "console")


@dataclasses.dataclass(frozen=True)
class GatewaySettings(TlsSettings, PeerSettings):
    """The gateway's settings; `tls_cert_file`/`tls_key_file` serve HTTPS, `peer_tls_*` reach the services."""

    host: str = dataclasses.field(default="0.0.0.0", metadata={"help": "address to listen on"})
    port: int = dataclasses.field(default=8080, metadata={"help": "HTTP port (0 = any free port)"})
    catalog_addr: str = dataclasses.field(default="127.0.0.1:50053", metadata={"help": "catalog host:port"})
    labeler_addr: str = dataclasses.field(default="127.0.0.1:50054", metadata={"help": "labeler host:port"})
    gateway_timeout: float = dataclasses.field(
        default=60.0, metadata={"help": "seconds a call may take when the request sends no X-Server-Timeout"}
    )
    gateway_max_body_bytes: int = dataclasses.field(
        default=64 * 1024 * 1024, metadata={"help": "largest request body accepted; larger ones answer 413"}
    )
    console_dir: str = dataclasses.field(
        default=CONSOLE_DIR, metadata={"help": "folder of the web console's static files, served at /"}
    )
    log_level: str = dataclasses.field(default="INFO", metadata={"help": "DEBUG, INFO, WARNING, ERROR"})

    def backend_addresses(self) -> dict[str, str]:
        """host:port of each backend by name."""
        return {
            "embedder": self.embedder_addr,
            "indexer": self.indexer_addr,
            "catalog": self.catalog_addr,
            "labeler": self.labeler_addr,
        }
