"""The gateway in the Kubernetes manifests: an HTTP Deployment behind a Service on 8080, probed on
/healthz, reading the services' addresses from the shared config, and over mutual TLS to them
(while serving plain HTTP) in the TLS overlay."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.k8s_render import RENDERS, by_kind, container_port, effective_env, render, simmesh_containers

from simmesh.gateway.settings import GatewaySettings
from simmesh.kit.settings import load_settings


def _gateway(rendered: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    [found] = [(w, c) for w, c in simmesh_containers(rendered) if c.get("args") == ["simmesh.gateway"]]
    return found


def _settings(rendered: list[dict[str, Any]]) -> GatewaySettings:
    _, container = _gateway(rendered)
    env = {k: v for k, v in effective_env(container, rendered).items() if v is not None}
    return load_settings(GatewaySettings, [], env)


@pytest.mark.parametrize("name", RENDERS)
def test_the_gateway_serves_http_on_8080_probed_on_healthz(name: str) -> None:
    rendered = render(name)
    workload, container = _gateway(rendered)
    assert container_port(container, "http") == 8080
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = by_kind(rendered, "Service")["gateway"]["spec"]
    assert service["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "appProtocol": "http"}]
    settings = _settings(rendered)
    assert settings.port == 8080
    assert settings.backend_addresses() == {
        "embedder": "embedder:50051",
        "indexer": "indexer:50052",
        "catalog": "catalog:50053",
        "labeler": "labeler:50054",
    }
    assert workload["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_under_tls_the_gateway_calls_the_services_over_mutual_tls_and_serves_plain_http() -> None:
    settings = _settings(render("overlays/tls"))
    peer = settings.peer_tls()
    assert (
        peer is not None and peer.ca_file == "/etc/simmesh/tls/ca.crt" and peer.cert_file == "/etc/simmesh/tls/tls.crt"
    )
    assert settings.tls_cert_file == "" and settings.tls_client_ca_file == ""
