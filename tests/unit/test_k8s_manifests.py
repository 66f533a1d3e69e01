"""The Kubernetes manifests under deploy/k8s.

Every file parses, every kustomization points at files that exist, and the base and each
overlay render into a mesh whose probes, ports, selectors and references agree with each
other. The checks need no kubectl: `render()` is a small kustomize (resources, files and
directories; components; strategic-merge patches matched by kind and name; replicas; images;
namespace; labels and commonLabels). It refuses any kustomization field it does not implement,
so a manifest change that needs more fails loudly here instead of being checked half-way.
Where kubectl is installed, one test holds `render()` to `kubectl kustomize`.
"""

from __future__ import annotations

import base64
import copy
import functools
import importlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").glob("*") if p.is_dir())
RENDERS = ["base"] + [f"overlays/{name}" for name in OVERLAYS]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SIMMESH_IMAGE = "ghcr.io/simmesh/simmesh"
# The public gRPC Services and their ports, as clients and SIMMESH_*_ADDR expect them.
PUBLIC_PORTS = {"embedder": 50051, "indexer": 50052, "catalog": 50053, "labeler": 50054}
# `python -m <args>` of every simmesh role the mesh must run.
ROLES = {"simmesh.embedder", "simmesh.indexer router", "simmesh.indexer shard", "simmesh.catalog", "simmesh.labeler"}
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
    "SIMMESH_ETCD_ENDPOINTS", "SIMMESH_BLOB_URL", "SIMMESH_S3_ENDPOINT", "SIMMESH_S3_ACCESS_KEY",
    "SIMMESH_S3_SECRET_KEY", "SIMMESH_AUTH_TOKEN", "SIMMESH_TRITON_URL", "SIMMESH_RUNTIME",
    "SIMMESH_EMBEDDER_ADDR", "SIMMESH_INDEXER_ADDR", "SIMMESH_LOG_LEVEL", "SIMMESH_METRICS_PORT",
}
CLUSTER_SCOPED = {
    "Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "PriorityClass", "IngressClass", "RuntimeClass",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
SCALABLE_KINDS = {"Deployment", "StatefulSet", "ReplicaSet"}


# --- loading -------------------------------------------------------------------------------


def load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def kustomization_files() -> list[Path]:
    return [p for p in manifest_files() if p.name in KUSTOMIZATION_FILES]


# --- a small kustomize ----------------------------------------------------------------------

SUPPORTED_FIELDS = {
    "apiVersion", "kind", "metadata", "resources", "components", "patches", "patchesStrategicMerge",
    "namespace", "labels", "commonLabels", "commonAnnotations", "replicas", "images",
}
# Strategic-merge keys of the list fields these manifests patch; other lists are replaced.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "env": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name",
}


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return "containerPort" if any(isinstance(i, dict) and "containerPort" in i for i in items) else "port"
    return MERGE_KEYS.get(field)


def _merge_list(field: str, base: list[Any], patch: list[Any]) -> list[Any]:
    """Merge a keyed list as kustomize does: the patch's items first, in the patch's order,
    then the base's other items (this order decides what `$(VAR)` in an env value can see)."""
    key = _merge_key(field, base + patch)
    if key is None:
        return _strip_directives(patch)
    originals = {item[key]: item for item in base}
    merged = []
    for item in patch:
        assert isinstance(item, dict) and key in item, f"patch item of {field} lacks its merge key {key}: {item}"
        if item.get("$patch") == "delete":
            continue
        original = originals.get(item[key])
        merged.append(_strip_directives(item) if original is None else strategic_merge(original, item))
    patched = {item[key] for item in patch}
    return merged + [copy.deepcopy(item) for item in base if item[key] not in patched]


def strategic_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Kubernetes strategic merge: maps merge, null deletes, keyed lists merge by key."""
    if patch.get("$patch") == "replace":
        return _strip_directives(patch)
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = strategic_merge(merged[key], value)
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = _merge_list(key, merged[key], value)
        else:
            merged[key] = _strip_directives(value)
    return merged


def _apply_patch(resources: list[dict[str, Any]], patch: dict[str, Any], where: str) -> None:
    kind, name = patch.get("kind"), patch.get("metadata", {}).get("name")
    matches = [i for i, r in enumerate(resources) if r["kind"] == kind and r["metadata"]["name"] == name]
    assert matches, f"{where}: patch for {kind}/{name} matches no resource"
    assert len(matches) == 1, f"{where}: patch for {kind}/{name} matches {len(matches)} resources"
    if patch.get("$patch") == "delete":
        del resources[matches[0]]
    else:
        resources[matches[0]] = strategic_merge(resources[matches[0]], patch)


def _patches(directory: Path, spec: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    for entry in spec.get("patches", []):
        assert "target" not in entry and "options" not in entry, (
            f"{directory}: render() implements strategic-merge patches matched by kind and name only: {entry}"
        )
        if "path" in entry:
            for doc in load_documents(directory / entry["path"]):
                yield doc, f"{directory}/{entry['path']}"
        else:
            for doc in yaml.safe_load_all(entry["patch"]):
                yield doc, f"{directory} (inline patch)"
    for entry in spec.get("patchesStrategicMerge", []):
        path = directory / entry
        docs = load_documents(path) if path.is_file() else list(yaml.safe_load_all(entry))
        for doc in docs:
            yield doc, f"{directory}/{entry}"


def _set_labels(resource: dict[str, Any], labels: dict[str, str], selectors: bool, templates: bool) -> None:
    resource.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    spec = resource.get("spec", {})
    kind = resource["kind"]
    if selectors:
        if kind == "Service":
            spec.setdefault("selector", {}).update(labels)
        elif kind in WORKLOAD_KINDS - {"Job"} or kind == "PodDisruptionBudget":
            spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(labels)
    if (selectors or templates) and kind in WORKLOAD_KINDS:
        spec["template"].setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    if (selectors or templates) and kind == "StatefulSet":
        for claim in spec.get("volumeClaimTemplates", []):
            claim.setdefault("metadata", {}).setdefault("labels", {}).update(labels)


def _set_image(container: dict[str, Any], rule: dict[str, str]) -> None:
    image = container["image"].split("@")[0]
    name, tag = image.rsplit(":", 1) if ":" in image.rsplit("/", 1)[-1] else (image, "")
    if name != rule["name"]:
        return
    name = rule.get("newName", name)
    if "digest" in rule:
        container["image"] = f"{name}@{rule['digest']}"
    else:
        tag = rule.get("newTag", tag)
        container["image"] = f"{name}:{tag}" if tag else name


def _build(directory: Path, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    path = kustomization_file(directory)
    assert path is not None, f"{directory} has no kustomization file"
    spec = yaml.safe_load(path.read_text()) or {}
    unsupported = set(spec) - SUPPORTED_FIELDS
    assert not unsupported, f"{path}: render() does not implement {sorted(unsupported)}; extend it"

    for entry in spec.get("resources", []):
        target = directory / entry
        if target.is_dir():
            resources = resources + _build(target, [])
        else:
            resources = resources + load_documents(target)
    for entry in spec.get("components", []):
        resources = _build(directory / entry, resources)

    resources = copy.deepcopy(resources)
    for patch, where in _patches(directory, spec):
        _apply_patch(resources, patch, where)

    for resource in resources:
        if "namespace" in spec and resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = spec["namespace"]
        if spec.get("commonLabels"):
            _set_labels(resource, spec["commonLabels"], selectors=True, templates=True)
        for rule in spec.get("labels", []):
            selectors, templates = rule.get("includeSelectors", False), rule.get("includeTemplates", False)
            _set_labels(resource, rule["pairs"], selectors, templates)
        if spec.get("commonAnnotations"):
            resource["metadata"].setdefault("annotations", {}).update(spec["commonAnnotations"])

    for rule in spec.get("replicas", []):
        scaled = [r for r in resources if r["kind"] in SCALABLE_KINDS and r["metadata"]["name"] == rule["name"]]
        assert scaled, f"{path}: replicas for {rule['name']} matches no workload"
        for resource in scaled:
            resource["spec"]["replicas"] = rule["count"]
    for rule in spec.get("images", []):
        for resource in resources:
            if resource["kind"] in WORKLOAD_KINDS:
                pod = resource["spec"]["template"]["spec"]
                for container in pod.get("initContainers", []) + pod["containers"]:
                    _set_image(container, rule)
    return resources


@functools.cache
def _render(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(_build(K8S / name, []))


def render(name: str) -> list[dict[str, Any]]:
    """The resources `kubectl kustomize deploy/k8s/<name>` would print, as dicts."""
    return copy.deepcopy(list(_render(name)))


# --- queries over a render ------------------------------------------------------------------


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def workloads(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] in WORKLOAD_KINDS]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"].get("metadata", {}).get("labels", {})


def all_containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    pod = pod_spec(workload)
    return pod.get("initContainers", []) + pod["containers"]


def is_simmesh(container: dict[str, Any]) -> bool:
    return container["image"].split(":")[0].split("@")[0] == SIMMESH_IMAGE


def simmesh_containers(resources: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for workload in workloads(resources):
        for container in pod_spec(workload)["containers"]:
            if is_simmesh(container):
                yield workload, container


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels/matchExpressions, or a Service's plain map) against labels."""
    if not selector:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def container_port(container: dict[str, Any], name: str) -> int | None:
    return next((p["containerPort"] for p in container.get("ports", []) if p.get("name") == name), None)


def resolve_target_port(target: int | str, containers: list[dict[str, Any]]) -> int | None:
    declared = [p for c in containers for p in c.get("ports", [])]
    if isinstance(target, int):
        return target if any(p["containerPort"] == target for p in declared) else None
    return next((p["containerPort"] for p in declared if p.get("name") == target), None)


def secret_values(secret: dict[str, Any]) -> dict[str, str]:
    values = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    values.update(secret.get("stringData") or {})
    return values


def env_value(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((e for e in container.get("env", []) if e["name"] == name), None)


def effective_env(container: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, str | None]:
    """The container's environment as the kubelet builds it: envFrom first, then env on top
    (None for a variable taken from elsewhere, such as a secretKeyRef or the downward API)."""
    config_maps, secrets = by_kind(resources, "ConfigMap"), by_kind(resources, "Secret")
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]].get("data", {}))
        if "secretRef" in source:
            env.update(secret_values(secrets[source["secretRef"]["name"]]))
    for variable in container.get("env", []):
        env[variable["name"]] = variable.get("value")
    return env


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
    elsewhere = [f"{r['kind']}/{r['metadata']['name']}" for r in rendered
                 if r["kind"] not in CLUSTER_SCOPED and r["metadata"].get("namespace") != "simmesh"]
    assert not elsewhere, f"outside the simmesh namespace: {elsewhere}"
    assert "simmesh" in by_kind(rendered, "Namespace")


def test_mesh_runs_every_role(rendered: list[dict[str, Any]]) -> None:
    roles = {" ".join(c.get("args", [])) for _, c in simmesh_containers(rendered)}
    assert roles == ROLES
    for _, container in simmesh_containers(rendered):
        assert "command" not in container, "the image's entrypoint is `python -m`; set args only"


def test_simmesh_containers_probe_their_grpc_port(rendered: list[dict[str, Any]]) -> None:
    for workload, container in simmesh_containers(rendered):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        port = container_port(container, "grpc")
        assert port, f"{where}: no container port named grpc"
        for probe in ("readinessProbe", "livenessProbe"):
            grpc = container.get(probe, {}).get("grpc")
            assert grpc, f"{where}: {probe} is not a gRPC health probe"
            assert grpc["port"] == port, f"{where}: {probe} checks port {grpc['port']}, the service listens on {port}"
        if "startupProbe" in container:
            assert container["startupProbe"].get("grpc", {}).get("port") == port, where


def test_simmesh_containers_share_settings_resources_and_security(rendered: list[dict[str, Any]]) -> None:
    for workload, container in simmesh_containers(rendered):
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
    for workload, container in simmesh_containers(rendered):
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
    for workload, container in simmesh_containers(rendered):
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
        for workload in workloads(rendered) if workload["kind"] == "Job"
        for container in all_containers(workload)
    ]
    for bucket in BUCKETS:
        assert any(bucket in script for script in scripts), f"no Job creates {bucket}"


def test_settings_name_every_simmesh_variable(rendered: list[dict[str, Any]]) -> None:
    config = by_kind(rendered, "ConfigMap")["simmesh-config"]["data"]
    secrets = secret_values(by_kind(rendered, "Secret")["simmesh-secrets"])
    assert SETTINGS <= set(config) | set(secrets), f"missing: {sorted(SETTINGS - set(config) - set(secrets))}"
    for key in ("SIMMESH_S3_ACCESS_KEY", "SIMMESH_S3_SECRET_KEY", "SIMMESH_AUTH_TOKEN"):
        assert key in secrets and key not in config, f"{key} belongs in the Secret"
    assert config["SIMMESH_METRICS_PORT"] == "9090"
    assert config["SIMMESH_BLOB_URL"].startswith("s3://")
    services = by_kind(rendered, "Service")
    for key in ("SIMMESH_EMBEDDER_ADDR", "SIMMESH_INDEXER_ADDR", "SIMMESH_TRITON_URL", "SIMMESH_S3_ENDPOINT"):
        host, port = re.sub(r"^\w+://", "", config[key]).split(":")
        assert host in services, f"{key}={config[key]}: no Service {host}"
        assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]], f"{key}={config[key]}"


def test_public_services_listen_on_their_ports(rendered: list[dict[str, Any]]) -> None:
    services = by_kind(rendered, "Service")
    for name, port in PUBLIC_PORTS.items():
        assert name in services, f"no Service {name}"
        spec = services[name]["spec"]
        assert spec.get("type", "ClusterIP") == "ClusterIP" and spec.get("clusterIP") != "None", name
        assert [p["port"] for p in spec["ports"]] == [port], f"Service {name}: ports {spec['ports']}"
        pods = [w for w in workloads(rendered) if selects(spec["selector"], pod_labels(w))]
        assert pods, f"Service {name} selects no pods"
        for workload in pods:
            assert resolve_target_port(spec["ports"][0].get("targetPort", port), all_containers(workload)) == port, (
                f"Service {name} forwards to a port {workload['metadata']['name']} does not serve"
            )


def test_every_service_reaches_its_pods(rendered: list[dict[str, Any]]) -> None:
    for name, service in by_kind(rendered, "Service").items():
        spec = service["spec"]
        pods = [w for w in workloads(rendered) if selects(spec.get("selector", {}), pod_labels(w))]
        assert pods, f"Service {name} selects no pods"
        for workload in pods:
            for port in spec["ports"]:
                target = port.get("targetPort", port["port"])
                assert resolve_target_port(target, all_containers(workload)), (
                    f"Service {name} port {port['port']} -> {target}: not a port of {workload['metadata']['name']}"
                )


def test_selectors_match_pod_templates(rendered: list[dict[str, Any]]) -> None:
    for workload in workloads(rendered):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        if workload["kind"] != "Job":
            assert selects(workload["spec"]["selector"], pod_labels(workload)), f"{where}: selector misses its pods"
        for constraint in pod_spec(workload).get("topologySpreadConstraints", []):
            assert selects(constraint["labelSelector"], pod_labels(workload)), f"{where}: spread selector"
    for name, budget in by_kind(rendered, "PodDisruptionBudget").items():
        covered = [w for w in workloads(rendered) if selects(budget["spec"]["selector"], pod_labels(w))]
        assert len(covered) == 1, f"PodDisruptionBudget {name} covers {len(covered)} workloads"


def test_references_resolve(rendered: list[dict[str, Any]]) -> None:
    config_maps = by_kind(rendered, "ConfigMap")
    secrets = {name: secret_values(s) for name, s in by_kind(rendered, "Secret").items()}
    claims = by_kind(rendered, "PersistentVolumeClaim")
    services = by_kind(rendered, "Service")

    def check_key(where: str, ref: dict[str, Any], store: dict[str, Any], what: str) -> None:
        if ref.get("optional"):
            return
        assert ref["name"] in store, f"{where}: {what} {ref['name']} does not exist"
        if "key" in ref:
            keys = store[ref["name"]]
            keys = keys.get("data", {}) if what == "ConfigMap" else keys
            assert ref["key"] in keys, f"{where}: {what} {ref['name']} has no key {ref['key']}"

    for workload in workloads(rendered):
        pod = pod_spec(workload)
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        templates = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
        assert not set(volumes) & templates, f"{workload['metadata']['name']}: volume and claim template share a name"
        for name, volume in volumes.items():
            where = f"{workload['metadata']['name']} volume {name}"
            if "configMap" in volume:
                check_key(where, volume["configMap"], config_maps, "ConfigMap")
            if "secret" in volume:
                check_key(where, {"name": volume["secret"]["secretName"]}, secrets, "Secret")
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert claim in claims, f"{where}: PersistentVolumeClaim {claim} does not exist"
        for container in all_containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            for mount in container.get("volumeMounts", []):
                known = mount["name"] in volumes or mount["name"] in templates
                assert known, f"{where}: mounts unknown volume {mount['name']}"
            defined: set[str] = set()
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    check_key(where, source["configMapRef"], config_maps, "ConfigMap")
                    defined |= set(config_maps.get(source["configMapRef"]["name"], {}).get("data", {}))
                if "secretRef" in source:
                    check_key(where, source["secretRef"], secrets, "Secret")
                    defined |= set(secrets.get(source["secretRef"]["name"], {}))
            for variable in container.get("env", []):
                one_source = ("value" in variable) != ("valueFrom" in variable)
                assert one_source, f"{where}: {variable['name']} needs value or valueFrom, not both"
                source = variable.get("valueFrom", {})
                if "configMapKeyRef" in source:
                    check_key(where, source["configMapKeyRef"], config_maps, "ConfigMap")
                if "secretKeyRef" in source:
                    check_key(where, source["secretKeyRef"], secrets, "Secret")
                for reference in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(variable.get("value", ""))):
                    assert reference in defined, f"{where}: {variable['name']} uses $({reference}) before it is set"
                defined.add(variable["name"])
        if workload["kind"] == "StatefulSet":
            assert workload["spec"]["serviceName"] in services, f"{workload['metadata']['name']}: serviceName"


def test_shards_are_a_statefulset_behind_a_headless_service(rendered: list[dict[str, Any]]) -> None:
    shards = [w for w, c in simmesh_containers(rendered) if c.get("args") == ["simmesh.indexer", "shard"]]
    assert len(shards) == 1 and shards[0]["kind"] == "StatefulSet"
    shard = shards[0]
    service = by_kind(rendered, "Service").get(shard["spec"]["serviceName"])
    assert service, f"serviceName {shard['spec']['serviceName']} names no Service"
    assert service["spec"].get("clusterIP") == "None", "the shards' governing Service must be headless"
    assert selects(service["spec"]["selector"], pod_labels(shard))

    container = pod_spec(shard)["containers"][0]
    pod_name = env_value(container, "POD_NAME")
    assert pod_name and pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert (env_value(container, "SIMMESH_SHARD_ORDINAL_FROM") or {}).get("value") == "hostname"
    advertised = env_value(container, "SIMMESH_ADVERTISE_ADDRESS")
    expected = f"$(POD_NAME).{service['metadata']['name']}:{container_port(container, 'grpc')}"
    qualified = expected.replace(":", ".$(POD_NAMESPACE).svc:")
    assert advertised and advertised.get("value") in (expected, qualified), advertised

    claims = {t["metadata"]["name"] for t in shard["spec"].get("volumeClaimTemplates", [])}
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    assert mounts.get("/var/lib/simmesh") in claims, "the write-ahead log must live on the shard's own claim"
    budgets = by_kind(rendered, "PodDisruptionBudget").values()
    budgets = [b for b in budgets if selects(b["spec"]["selector"], pod_labels(shard))]
    assert budgets, "no PodDisruptionBudget for the shards"


def test_etcd_initial_cluster_lists_every_member(rendered: list[dict[str, Any]]) -> None:
    etcd = by_kind(rendered, "StatefulSet")["etcd"]
    replicas = etcd["spec"]["replicas"]
    assert replicas in (1, 3)
    initial_cluster = env_value(pod_spec(etcd)["containers"][0], "ETCD_INITIAL_CLUSTER")
    assert initial_cluster, "etcd has no ETCD_INITIAL_CLUSTER"
    members = initial_cluster["value"].split(",")
    expected = [f"etcd-{i}=http://etcd-{i}.{etcd['spec']['serviceName']}:2380" for i in range(replicas)]
    assert members == expected


# --- the overlays ---------------------------------------------------------------------------


def quantity(value: str | int) -> float:
    """A Kubernetes resource quantity ("250m", "2", "512Mi", "4Gi") as a number."""
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    number, suffix = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value)).groups()
    return float(number) * suffixes.get(suffix, 1)


def test_dev_runs_one_small_replica_of_everything() -> None:
    base = {(r["kind"], r["metadata"]["name"]): r for r in workloads(render("base"))}
    for workload in workloads(render("overlays/dev")):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        if workload["kind"] in SCALABLE_KINDS:
            assert workload["spec"].get("replicas", 1) == 1, where
        originals = {c["name"]: c for c in pod_spec(base[workload["kind"], workload["metadata"]["name"]])["containers"]}
        for container in pod_spec(workload)["containers"]:
            original = originals[container["name"]]["resources"]
            for bound in ("requests", "limits"):
                for resource, value in container["resources"].get(bound, {}).items():
                    assert quantity(value) <= quantity(original[bound][resource]), f"{where}: {bound}.{resource}"
            if is_simmesh(container):
                assert container["resources"] != original, f"{where}: dev keeps the base's resources"


def test_gpu_overlay_gives_triton_a_gpu() -> None:
    def triton(name: str) -> dict[str, Any]:
        [workload] = [w for w in workloads(render(name)) if "tritonserver" in pod_spec(w)["containers"][0]["image"]]
        return workload

    def gpus(workload: dict[str, Any]) -> int:
        return int(pod_spec(workload)["containers"][0]["resources"].get("limits", {}).get("nvidia.com/gpu", 0))

    gpu = triton("overlays/gpu")
    assert gpus(gpu) >= 1
    pod = pod_spec(gpu)
    assert any("nvidia.com/gpu" in key for key in pod.get("nodeSelector", {})), "no GPU node selector"
    assert any(t.get("key") == "nvidia.com/gpu" for t in pod.get("tolerations", [])), "no GPU toleration"
    assert by_kind(render("overlays/gpu"), "ConfigMap")["simmesh-config"]["data"]["SIMMESH_RUNTIME"] == "triton"
    assert gpus(triton("base")) == 0, "the base must schedule without a GPU"

    args = pod_spec(gpu)["containers"][0]["args"]
    assert "--model-repository=s3://http://minio:9000/simmesh-models/triton" in args
    assert "--model-control-mode=explicit" in args


def test_postgres_overlay_moves_the_catalog_to_postgresql() -> None:
    rendered = render("overlays/postgres")
    assert "postgres" in by_kind(rendered, "StatefulSet")
    catalog = by_kind(rendered, "Deployment")["catalog"]
    url = env_value(pod_spec(catalog)["containers"][0], "SIMMESH_CATALOG_DB_URL")
    assert url and "valueFrom" in url, "the database URL carries a password: it belongs in a Secret"
    ref = url["valueFrom"]["secretKeyRef"]
    value = secret_values(by_kind(rendered, "Secret")[ref["name"]])[ref["key"]]
    host = re.match(r"postgresql(\+\w+)?://[^@]+@([^:/]+)", value)
    assert host and host.group(2) in by_kind(rendered, "Service"), value
    assert "catalog-data" not in by_kind(rendered, "PersistentVolumeClaim")

    base_catalog = by_kind(render("base"), "Deployment")["catalog"]
    base_url = env_value(pod_spec(base_catalog)["containers"][0], "SIMMESH_CATALOG_DB_URL")
    assert base_url["value"].startswith("sqlite:///")
