"""The S3 client over https: it verifies the endpoint's certificate against `s3_ca_file` (a real
TLS handshake with a loopback server that answers like S3 for a bucket that exists)."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.certs import CertAuthority

from simmesh.kit.blobstore_config import BlobStoreConfig, open_blobstore
from simmesh.kit.blobstore_s3 import S3BlobStore
from simmesh.kit.errors import Unavailable


class _BucketExists(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https_s3(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`https://127.0.0.1:PORT` of a server with a certificate of a fresh CA, and that CA's file."""
    server_cert = CertAuthority.create(tmp_path / "ca", "S3 CA").issue("s3")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BucketExists)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_cert.cert_file, server_cert.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", server_cert.ca_file
    finally:
        server.shutdown()
        server.server_close()


def test_an_https_endpoint_is_verified_against_the_configured_ca(https_s3: tuple[str, str], tmp_path: Path) -> None:
    endpoint, ca_file = https_s3
    store = open_blobstore(BlobStoreConfig(url="s3://bucket", s3_endpoint=endpoint, ca_file=ca_file))
    assert isinstance(store, S3BlobStore) and store.endpoint == endpoint.removeprefix("https://")
    other_ca = CertAuthority.create(tmp_path / "other", "other CA").ca_file
    with pytest.raises(Unavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        open_blobstore(BlobStoreConfig(url="s3://bucket", s3_endpoint=endpoint, ca_file=other_ca))
