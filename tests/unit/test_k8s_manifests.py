"""The Kubernetes manifests under deploy/k8s: every file parses, every kustomization points at files
that exist, and the base and each overlay render into a mesh that runs every role with the probes,
settings, resources and buckets it needs. The checks need no kubectl (`fixtures.k8s_render`); where
kubectl is installed, one test holds `render()` to `kubectl kustomize`.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.k8s_render import (
    CLUSTER_SCOPED,
    K8S,
    KUSTOMIZATION_FILES,
    OVERLAYS,
    RENDERS,
    all_containers,
    by_kind,
    container_port,
    effective_env,
    grpc_containers,
    kustomization_file,
    kustomization_files,
    load_documents,
    manifest_files,
    pod_spec,
    render,
    secret_values,
    simmesh_containers,
    workloads,
)

# `python -m <args>` of every simmesh role the mesh must run.
ROLES = {
    "simmesh.embedder",
    "simmesh.indexer router",
    "simmesh.indexer shard",
    "simmesh.catalog",
    "simmesh.labeler",
    "simmesh.gateway",
}
# The settings class each role parses its flags and SIMMESH_* variables into.
SETTINGS_CLASSES = {
    "simmesh.embedder": ("simmesh.embedder.settings", "EmbedderSettings"),
    "simmesh.indexer router": ("simmesh.indexer.settings", "RouterSettings"),
    "simmesh.indexer shard": ("simmesh.indexer.settings", "ShardSettings"),
    "simmesh.catalog": ("simmesh.catalog.settings", "CatalogSettings"),
    "simmesh.labeler": ("simmesh.labeler.settings", "LabelerSettings"),
}
BUCKETS = ("simmesh-models", "simmesh-images", "simmesh-snapshots")
SETTINGS = {
    "SIMMESH_ETCD_ENDPOINTS",
    "SIMMESH_BLOB_URL",
    "SIMMESH_S3_ENDPOINT",
    "SIMMESH_S3_ACCESS_KEY",
    "SIMMESH_S3_SECRET_KEY",
    "SIMMESH_AUTH_TOKEN",
    "SIMMESH_TRITON_URL",
    "SIMMESH_RUNTIME",
    "SIMMESH_EMBEDDER_ADDR",
    "SIMMESH_INDEXER_ADDR",
    "SIMMESH_LOG_LEVEL",
    "SIMMESH_METRICS_PORT",
}


# --- the files ------------------------------------------------------------------------------


def test_every_manifest_parses_and_names_its_object() -> None:
    files = manifest_files()
    assert kustomization_file(K8S / "base"), "deploy/k8s/base has no kustomization.yaml"
    assert {"dev", "gpu", "postgres"} <= set(OVERLAYS)
    for path in files:
        documents = load_documents(path)  # raises on a YAML error
        assert documents, f"{path} holds no document"
        if path.name in KUSTOMIZATION_FILES:
            assert documents[0].get("kind") in ("Kustomization", "Component"), path
            continue
        for doc in documents:
            assert isinstance(doc, dict), f"{path}: a document is not a mapping"
            assert doc.get("apiVersion"), f"{path}: document without apiVersion"
            assert doc.get("kind"), f"{path}: document without kind"
            assert doc.get("metadata", {}).get("name"), f"{path}: {doc.get('kind')} without metadata.name"


def test_every_kustomization_points_at_existing_files() -> None:
    for path in kustomization_files():
        spec = yaml.safe_load(path.read_text()) or {}
        directory = path.parent
        for entry in spec.get("resources", []):
            target = directory / entry
            assert target.is_file() or (target.is_dir() and kustomization_file(target)), f"{path}: resource {entry}"
        for entry in spec.get("components", []):
            target = directory / entry
            assert target.is_dir() and kustomization_file(target), f"{path}: component {entry}"
        for entry in spec.get("patches", []):
            if "path" in entry:
                assert (directory / entry["path"]).is_file(), f"{path}: patch {entry['path']}"
        for entry in spec.get("patchesStrategicMerge", []):
            if "\n" not in entry:
                assert (directory / entry).is_file(), f"{path}: patch {entry}"


def test_every_manifest_file_is_used() -> None:
    used: set[Path] = set()
    for path in kustomization_files():
        spec = yaml.safe_load(path.read_text()) or {}
        used.add(path)
        used.update(path.parent / e for e in spec.get("resources", []))
        used.update(path.parent / e["path"] for e in spec.get("patches", []) if "path" in e)
        used.update(path.parent / e for e in spec.get("patchesStrategicMerge", []))
    unused = [p.relative_to(K8S) for p in manifest_files() if p.resolve() not in {u.resolve() for u in used}]
    assert not unused, f"manifests no kustomization lists: {unused}"


# --- every render ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_renders(name: str) -> None:
    resources = render(name)
    kinds = {r["kind"] for r in resources}
    assert {"Namespace", "ConfigMap", "Secret", "Service", "Deployment", "StatefulSet"} <= kinds


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("name", RENDERS)
def test_render_agrees_with_kubectl_kustomize(name: str) -> None:
    printed = subprocess.run(
        ["kubectl", "kustomize", str(K8S / name)], check=True, capture_output=True, text=True
    ).stdout
    expected = {(r["kind"], r["metadata"]["name"]): r for r in yaml.safe_load_all(printed) if r}
    assert {(r["kind"], r["metadata"]["name"]): r for r in render(name)} == expected


@pytest.fixture(params=RENDERS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def test_render_has_unique_objects_in_one_namespace(rendered: list[dict[str, Any]]) -> None:
    ids = [(r["kind"], r["metadata"]["name"]) for r in rendered]
    assert len(ids) == len(set(ids)), f"duplicate objects: {sorted(i for i in ids if ids.count(i) > 1)}"
    elsewhere = [
        f"{r['kind']}/{r['metadata']['name']}"
        for r in rendered
        if r["kind"] not in CLUSTER_SCOPED and r["metadata"].get("namespace") != "simmesh"
    ]
    assert not elsewhere, f"outside the simmesh namespace: {elsewhere}"
    assert "simmesh" in by_kind(rendered, "Namespace")


def test_mesh_runs_every_role(rendered: list[dict[str, Any]]) -> None:
    roles = {" ".join(c.get("args", [])) for _, c in simmesh_containers(rendered)}
    assert roles == ROLES
    for _, container in simmesh_containers(rendered):
        assert "command" not in container, "the image's entrypoint is `python -m`; set args only"


def test_simmesh_containers_probe_their_grpc_port(rendered: list[dict[str, Any]]) -> None:
    """The probes ask the gRPC port, or, where the service serves TLS (which the kubelet's gRPC
    probes cannot speak), the plaintext health port it is told to open (`SIMMESH_HEALTH_PORT`)."""
    for workload, container in grpc_containers(rendered):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        port = container_port(container, "grpc")
        assert port, f"{where}: no container port named grpc"
        env = effective_env(container, rendered)
        if env.get("SIMMESH_TLS_CERT_FILE"):
            port = container_port(container, "health")
            assert port and env.get("SIMMESH_HEALTH_PORT") == str(port), f"{where}: TLS needs a health port to probe"
        for probe in ("readinessProbe", "livenessProbe"):
            grpc = container.get(probe, {}).get("grpc")
            assert grpc, f"{where}: {probe} is not a gRPC health probe"
            assert grpc["port"] == port, f"{where}: {probe} checks port {grpc['port']}, the service listens on {port}"
        if "startupProbe" in container:
            assert container["startupProbe"].get("grpc", {}).get("port") == port, where


def test_simmesh_containers_share_settings_resources_and_security(rendered: list[dict[str, Any]]) -> None:
    for workload, container in grpc_containers(rendered):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        sources = container.get("envFrom", [])
        assert {"name": "simmesh-config"} in [s.get("configMapRef") for s in sources], where
        assert {"name": "simmesh-secrets"} in [s.get("secretRef") for s in sources], where
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container.get("resources", {}).get(bound, {})), f"{where}: {bound}"
        pod = pod_spec(workload)
        assert pod.get("securityContext", {}).get("runAsNonRoot") is True, f"{where}: runAsNonRoot"
        assert pod.get("terminationGracePeriodSeconds", 0) >= 10, f"{where}: no time to drain on SIGTERM"
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", where
        metrics = container_port(container, "metrics")
        assert metrics == 9090, f"{where}: metrics port {metrics}"
        assert annotations.get("prometheus.io/port") == str(metrics), f"{where}: scrape annotation port"


def test_simmesh_containers_listen_drain_and_store_where_the_pod_expects(rendered: list[dict[str, Any]]) -> None:
    for workload, container in grpc_containers(rendered):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        env = effective_env(container, rendered)
        assert env.get("SIMMESH_PORT") == str(container_port(container, "grpc")), f"{where}: SIMMESH_PORT"
        assert env.get("SIMMESH_METRICS_PORT") == str(container_port(container, "metrics")), where
        grace = float(env.get("SIMMESH_SHUTDOWN_GRACE") or 10)
        assert grace < pod_spec(workload)["terminationGracePeriodSeconds"], (
            f"{where}: the drain ({grace}s) must end before the kubelet kills the pod"
        )
        data_dir = env.get("SIMMESH_DATA_DIR")
        assert data_dir and data_dir.startswith("/"), f"{where}: SIMMESH_DATA_DIR must be an absolute path"
        mounts = [m["mountPath"] for m in container.get("volumeMounts", []) if not m.get("readOnly")]
        assert data_dir in mounts, f"{where}: nothing writable is mounted at {data_dir}"
        bucket = re.fullmatch(r"s3://([^/]+)(/.*)?", env.get("SIMMESH_BLOB_URL") or "")
        assert bucket and bucket.group(1) in BUCKETS, f"{where}: SIMMESH_BLOB_URL={env.get('SIMMESH_BLOB_URL')}"


def test_services_parse_the_settings_they_are_given(rendered: list[dict[str, Any]]) -> None:
    load_settings = pytest.importorskip("simmesh.kit.settings").load_settings
    checked = 0
    for workload, container in grpc_containers(rendered):
        module, name = SETTINGS_CLASSES[" ".join(container["args"])]
        settings_class = getattr(importlib.import_module(module), name, None)
        if settings_class is None:  # a role whose settings are not written yet
            continue
        env = {k: v for k, v in effective_env(container, rendered).items() if v is not None}
        settings = load_settings(settings_class, [], env)
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        assert settings.port == container_port(container, "grpc"), f"{where}: serves on {settings.port}"
        assert settings.metrics_port == container_port(container, "metrics"), where
        assert settings.shutdown_grace < pod_spec(workload)["terminationGracePeriodSeconds"], where
        checked += 1
    assert checked >= 4


def test_bucket_job_creates_every_bucket(rendered: list[dict[str, Any]]) -> None:
    scripts = [
        " ".join(container.get("command", []) + container.get("args", []))
        for workload in workloads(rendered)
        if workload["kind"] == "Job"
        for container in all_containers(workload)
    ]
    for bucket in BUCKETS:
        assert any(bucket in script for script in scripts), f"no Job creates {bucket}"


def test_settings_name_every_simmesh_variable(rendered: list[dict[str, Any]]) -> None:
    config = by_kind(rendered, "ConfigMap")["simmesh-config"]["data"]
    secrets = secret_values(by_kind(rendered, "Secret")["simmesh-secrets"])
    s3 = secret_values(by_kind(rendered, "Secret")["simmesh-s3-catalog"])  # each service has its own
    named = set(config) | set(secrets) | set(s3)
    assert named >= SETTINGS, f"missing: {sorted(SETTINGS - named)}"
    assert "SIMMESH_AUTH_TOKEN" in secrets and "SIMMESH_AUTH_TOKEN" not in config, "the token belongs in the Secret"
    for key in ("SIMMESH_S3_ACCESS_KEY", "SIMMESH_S3_SECRET_KEY"):
        assert key in s3 and key not in config and key not in secrets, f"{key} belongs in each service's S3 Secret"
    assert config["SIMMESH_METRICS_PORT"] == "9090"
    assert config["SIMMESH_BLOB_URL"].startswith("s3://")
    assert config["SIMMESH_URL_ALLOWED_NETWORKS"] == "", "image URLs must not reach cluster addresses by default"
    services = by_kind(rendered, "Service")
    for key in ("SIMMESH_EMBEDDER_ADDR", "SIMMESH_INDEXER_ADDR", "SIMMESH_TRITON_URL", "SIMMESH_S3_ENDPOINT"):
        host, port = re.sub(r"^\w+://", "", config[key]).split(":")
        assert host in services, f"{key}={config[key]}: no Service {host}"
        assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]], f"{key}={config[key]}"


def test_the_tls_overlay_mounts_a_cert_manager_secret_and_turns_on_mutual_tls() -> None:
    rendered = render("overlays/tls")
    certificate = by_kind(rendered, "Certificate")["simmesh-tls"]
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    assert {"server auth", "client auth"} <= set(certificate["spec"]["usages"])
    assert {"embedder", "indexer", "catalog", "labeler", "*.indexer-shard"} <= set(certificate["spec"]["dnsNames"])
    files = {"tls.crt", "tls.key", "ca.crt"}
    settings = ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE", "PEER_TLS_CA_FILE", "PEER_TLS_CERT_FILE")
    for workload, container in grpc_containers(rendered):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        mount = mounts["/etc/simmesh/tls"]
        assert mount["readOnly"] and volumes[mount["name"]]["secret"]["secretName"] == certificate["spec"]["secretName"]
        env = effective_env(container, rendered)
        for setting in settings:
            path = env.get(f"SIMMESH_{setting}") or ""
            assert path.startswith("/etc/simmesh/tls/") and path.rsplit("/", 1)[1] in files, f"{where}: {setting}"
