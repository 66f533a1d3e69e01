"""etcd with mutual TLS: the router and shard nodes register and watch over TLS with a client
certificate of etcd's CA, and a shard node whose certificate is of another CA cannot register."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyetcd.exceptions import ConnectionFailedError
from support.certs import CertAuthority

from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.indexer import IndexerCluster
from simmesh.devstack.mesh import serving
from simmesh.kit.settings import EtcdSettings, load_settings
from simmesh.kit.tls import ChannelTls
from simmesh_client import Client, ClientConfig, SimmeshError

pytestmark = pytest.mark.integration


def _etcd_env(issued: ChannelTls, ca_file: str) -> dict[str, str]:
    return {
        "SIMMESH_ETCD_CA_FILE": ca_file,
        "SIMMESH_ETCD_CERT_FILE": issued.cert_file,
        "SIMMESH_ETCD_KEY_FILE": issued.key_file,
    }


@pytest.fixture
def authority(tmp_path: Path) -> CertAuthority:
    return CertAuthority.create(tmp_path / "mesh", "mesh CA")


@pytest.fixture
def etcd(tmp_path: Path, authority: CertAuthority) -> Iterator[EtcdServer]:
    server = authority.issue("etcd")
    tls = ChannelTls(authority.ca_file, server.cert_file, server.key_file)
    etcd = EtcdServer(tmp_path / "etcd", tmp_path, tls=tls).start()
    try:
        yield etcd
    finally:
        etcd.stop()


def test_an_etcd_client_needs_the_ca_and_a_client_certificate(etcd: EtcdServer, authority: CertAuthority) -> None:
    node = authority.issue("node")
    env = {"SIMMESH_ETCD_ENDPOINTS": f"https://{etcd.endpoint}", **_etcd_env(node, authority.ca_file)}
    client = load_settings(EtcdSettings, [], env).etcd_config().connect(timeout=3)
    client.put("/tls-test/key", b"value")
    assert client.get("/tls-test/key")[0] == b"value"
    client.close()
    without_certificate = {**env, "SIMMESH_ETCD_CERT_FILE": "", "SIMMESH_ETCD_KEY_FILE": ""}
    refused = load_settings(EtcdSettings, [], without_certificate).etcd_config().connect(timeout=3)
    with pytest.raises(ConnectionFailedError):
        refused.get("/tls-test/key")
    refused.close()


def test_a_shard_without_a_client_certificate_of_etcds_ca_cannot_register(
    tmp_path: Path, etcd: EtcdServer, s3_server, authority: CertAuthority
) -> None:
    node = authority.issue("node")
    rogue = CertAuthority.create(tmp_path / "rogue", "rogue CA").issue("node")
    cluster = IndexerCluster(
        tmp_path / "cluster", etcd.endpoint, s3_server, shards=2, env=_etcd_env(node, authority.ca_file)
    )
    try:
        cluster.start_shard(0)
        cluster.start_shard(1, wait=False, env=_etcd_env(rogue, authority.ca_file))
        cluster.start_router()
        log = cluster.root / "shard-1.log"
        assert wait_for(lambda: "etcd registration failed" in log.read_text(), 30)
        assert not serving(cluster.shard_address(1), timeout=1)  # unregistered, it does not serve
        with Client(ClientConfig(indexer_address=cluster.router_address, timeout=20)) as client:
            with pytest.raises(SimmeshError) as refused:
                client.indexer.create_collection("items", 4, shard_count=2)
            assert "1 shard nodes are registered" in refused.value.message
            client.indexer.create_collection("items", 4, shard_count=1)
            assert client.indexer.insert("items", [{"_id": "a", "_vector": [1.0, 0.0, 0.0, 0.0]}]).inserted == 1
            assert client.indexer.search("items", vector=[1.0, 0.0, 0.0, 0.0], k=1).hits[0].id == "a"
    finally:
        cluster.stop()


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
