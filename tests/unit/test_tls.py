"""TLS and mutual TLS on a real server built by `kit/server.py`, with real handshakes: peers'
channels (`kit/channels.py`), the SDK and simctl reach it with the CA and are refused without it."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.certs import CertAuthority

from simmesh.kit.channels import open_channel
from simmesh.kit.server import App, build_server
from simmesh.kit.settings import ServerSettings, load_settings
from simmesh.kit.tls import ChannelTls
from simmesh_client import Client, ClientConfig, ServingStatus, TlsOptions
from simmesh_client.cli import main as simctl


class Certs:
    def __init__(self, root: Path) -> None:
        mesh = CertAuthority.create(root / "mesh", "mesh CA")
        self.ca_file = mesh.ca_file
        self.server = mesh.issue("server")
        self.client = mesh.issue("client")
        self.rogue = CertAuthority.create(root / "rogue", "rogue CA").issue("client")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


async def _started(certs: Certs, *, mutual: bool) -> App:
    settings = ServerSettings(
        host="127.0.0.1",
        port=0,
        tls_cert_file=certs.server.cert_file,
        tls_key_file=certs.server.key_file,
        tls_client_ca_file=certs.ca_file if mutual else "",
    )
    app = build_server(settings, [])
    await app.start()
    return app


@pytest.fixture
async def tls_server(certs: Certs) -> AsyncIterator[App]:
    app = await _started(certs, mutual=False)
    yield app
    await app.stop(0)


@pytest.fixture
async def mtls_server(certs: Certs) -> AsyncIterator[App]:
    app = await _started(certs, mutual=True)
    yield app
    await app.stop(0)


async def _health(address: str, tls: ChannelTls | None) -> grpc.StatusCode:
    async with open_channel(address, tls=tls) as channel:
        try:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def _as_client(issued: ChannelTls, ca_file: str) -> ChannelTls:
    return ChannelTls(ca_file, issued.cert_file, issued.key_file)


async def test_a_peer_with_the_ca_reaches_a_tls_server(tls_server: App, certs: Certs) -> None:
    assert await _health(tls_server.address, ChannelTls(certs.ca_file)) is grpc.StatusCode.OK


async def test_a_client_without_the_ca_is_refused(tls_server: App, certs: Certs) -> None:
    rogue_ca = ChannelTls(certs.rogue.ca_file)
    assert await _health(tls_server.address, rogue_ca) is grpc.StatusCode.UNAVAILABLE
    assert await _health(tls_server.address, ChannelTls()) is grpc.StatusCode.UNAVAILABLE  # system roots only
    assert await _health(tls_server.address, None) is grpc.StatusCode.UNAVAILABLE  # plaintext


async def test_a_name_the_certificate_does_not_list_is_refused_unless_overridden(tls_server: App, certs: Certs) -> None:
    wrong_name = ChannelTls(certs.ca_file, server_name="shard-0.simmesh")
    assert await _health(tls_server.address, wrong_name) is grpc.StatusCode.UNAVAILABLE
    assert await _health(tls_server.address, ChannelTls(certs.ca_file, server_name="localhost")) is grpc.StatusCode.OK


async def test_a_mutual_tls_server_takes_only_clients_with_a_certificate_of_its_ca(
    mtls_server: App, certs: Certs
) -> None:
    assert await _health(mtls_server.address, _as_client(certs.client, certs.ca_file)) is grpc.StatusCode.OK
    assert await _health(mtls_server.address, ChannelTls(certs.ca_file)) is grpc.StatusCode.UNAVAILABLE
    another_ca = _as_client(certs.rogue, certs.ca_file)
    assert await _health(mtls_server.address, another_ca) is grpc.StatusCode.UNAVAILABLE


async def test_the_health_port_answers_probes_in_plaintext_and_serves_nothing_else(certs: Certs) -> None:
    settings = ServerSettings(
        host="127.0.0.1",
        port=0,
        health_port=0,
        tls_cert_file=certs.server.cert_file,
        tls_key_file=certs.server.key_file,
        tls_client_ca_file=certs.ca_file,
    )
    app = build_server(settings, [])
    await app.start()
    try:
        assert app.probe is not None
        probe_address = f"127.0.0.1:{app.probe.port}"
        assert await _health(probe_address, None) is grpc.StatusCode.OK
        async with open_channel(probe_address) as channel:
            listing = channel.unary_unary("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
            with pytest.raises(grpc.aio.AioRpcError) as other_rpc:
                await listing(b"", timeout=5)
        assert other_rpc.value.code() is grpc.StatusCode.UNIMPLEMENTED
        app.set_serving(False)
        await asyncio.sleep(0.1)
        async with open_channel(probe_address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        await app.stop(0)


def _sdk_health(address: str, tls: TlsOptions | None) -> ServingStatus:
    with Client(ClientConfig(embedder_address=address, tls=tls)) as client:
        return client.health(["embedder"], timeout=5)["embedder"].status


async def test_the_sdk_verifies_the_server_and_presents_its_client_certificate(mtls_server: App, certs: Certs) -> None:
    good = TlsOptions(certs.ca_file, certs.client.cert_file, certs.client.key_file)
    assert await asyncio.to_thread(_sdk_health, mtls_server.address, good) is ServingStatus.SERVING
    no_ca = TlsOptions(certs.rogue.ca_file, certs.client.cert_file, certs.client.key_file)
    assert await asyncio.to_thread(_sdk_health, mtls_server.address, no_ca) is ServingStatus.UNREACHABLE
    no_cert = TlsOptions(certs.ca_file)
    assert await asyncio.to_thread(_sdk_health, mtls_server.address, no_cert) is ServingStatus.UNREACHABLE
    assert await asyncio.to_thread(_sdk_health, mtls_server.address, None) is ServingStatus.UNREACHABLE


def _simctl_embedder_status(capsys: pytest.CaptureFixture[str], address: str, *flags: str) -> str:
    simctl(["--embedder", address, *flags, "status", "--json"])
    report = json.loads(capsys.readouterr().out)
    return next(s["status"] for s in report["services"] if s["service"] == "embedder")


async def test_simctl_takes_the_ca_and_client_certificate_from_flags_or_environment(
    mtls_server: App, certs: Certs, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    address = mtls_server.address
    client = ["--tls-cert", certs.client.cert_file, "--tls-key", certs.client.key_file]
    status = functools.partial(asyncio.to_thread, _simctl_embedder_status, capsys, address)
    assert await status("--tls-ca", certs.ca_file, *client) == "SERVING"
    assert await status(*client) == "UNREACHABLE"  # no CA: the system's roots do not know the mesh CA
    monkeypatch.setenv("SIMMESH_TLS_CA_FILE", certs.ca_file)
    monkeypatch.setenv("SIMMESH_TLS_CLIENT_CERT_FILE", certs.client.cert_file)
    monkeypatch.setenv("SIMMESH_TLS_CLIENT_KEY_FILE", certs.client.key_file)
    assert await status() == "SERVING"
    assert await status("--tls-cert", certs.rogue.cert_file, "--tls-key", certs.rogue.key_file) == "UNREACHABLE"


def test_tls_settings_come_from_the_environment_and_need_a_key_with_the_certificate() -> None:
    env = {
        "SIMMESH_TLS_CERT_FILE": "/certs/tls.crt",
        "SIMMESH_TLS_KEY_FILE": "/certs/tls.key",
        "SIMMESH_TLS_CLIENT_CA_FILE": "/certs/ca.crt",
        "SIMMESH_PEER_TLS_CA_FILE": "/certs/ca.crt",
        "SIMMESH_PEER_TLS_CERT_FILE": "/certs/tls.crt",
        "SIMMESH_PEER_TLS_KEY_FILE": "/certs/tls.key",
    }
    settings = load_settings(ServerSettings, [], env)
    assert settings.tls_client_ca_file == "/certs/ca.crt"
    assert settings.peer_tls() == ChannelTls("/certs/ca.crt", "/certs/tls.crt", "/certs/tls.key")
    assert load_settings(ServerSettings, [], {}).peer_tls() is None
    with pytest.raises(ValueError, match="tls_key_file"):
        ServerSettings(tls_cert_file="/certs/tls.crt")
