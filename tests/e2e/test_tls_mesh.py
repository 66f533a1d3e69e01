"""The whole local mesh with mutual TLS on every server and peer hop: the SDK imports a model,
embeds, inserts images (the router asks the embedder over mutual TLS) and searches, all through
TLS; a client without the mesh's CA, or without a client certificate, is refused."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from support.certs import CertAuthority
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh.devstack.mesh import Mesh, MeshConfig
from simmesh_client import Client, ClientConfig, ServingStatus, TlsOptions

pytestmark = pytest.mark.e2e

COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]


@pytest.fixture(scope="module")
def mesh_and_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mesh, TlsOptions, CertAuthority]]:
    root = tmp_path_factory.mktemp("tls-mesh")
    authority = CertAuthority.create(root / "certs", "mesh CA")
    node, user = authority.issue("node"), authority.issue("user")
    config = MeshConfig(
        data_dir=root / "mesh",
        ports="auto",
        with_triton=False,
        shard_nodes=1,
        tls=node,
        env={"SIMMESH_BUILTIN_MODELS": "0"},
    )
    mesh = Mesh(config).start(timeout=180)
    try:
        yield mesh, TlsOptions(authority.ca_file, user.cert_file, user.key_file), authority
    finally:
        mesh.stop()


def _client(mesh: Mesh, tls: TlsOptions | None) -> Client:
    addresses = mesh.addresses
    return Client(
        ClientConfig(
            embedder_address=addresses["embedder"],
            indexer_address=addresses["indexer"],
            catalog_address=addresses["catalog"],
            labeler_address=addresses["labeler"],
            tls=tls,
            timeout=60,
        )
    )


def test_the_mesh_serves_embed_insert_and_search_through_mutual_tls(mesh_and_user) -> None:
    mesh, user, _ = mesh_and_user
    images = [png_bytes(color) for color in COLORS]
    with _client(mesh, user) as client:
        assert {h.status for h in client.health().values()} == {ServingStatus.SERVING}
        client.embedder.import_model("tiny", tiny_embedding_model(), tiny_manifest())
        vectors = client.embedder.embed("tiny", images)
        assert vectors.shape == (len(images), 8)
        client.indexer.create_collection("colors", model="tiny")
        records = [{"_id": f"c{i}", "_base64": base64.b64encode(png).decode()} for i, png in enumerate(images)]
        summary = client.indexer.insert("colors", records)
        assert summary.inserted == len(images) and not summary.failures
        hits = client.indexer.search("colors", image=images[2], k=2).hits
    assert hits[0].id == "c2"


def test_clients_without_the_ca_or_a_client_certificate_are_refused(mesh_and_user, tmp_path) -> None:
    mesh, user, authority = mesh_and_user
    other = CertAuthority.create(tmp_path / "other", "other CA").issue("user")
    refused = {
        "plaintext": None,
        "another CA": TlsOptions(other.ca_file, user.cert_file, user.key_file),
        "no client certificate": TlsOptions(authority.ca_file),
        "a client certificate of another CA": TlsOptions(authority.ca_file, other.cert_file, other.key_file),
    }
    for why, tls in refused.items():
        with _client(mesh, tls) as client:
            statuses = {h.status for h in client.health(timeout=5).values()}
        assert statuses == {ServingStatus.UNREACHABLE}, why
