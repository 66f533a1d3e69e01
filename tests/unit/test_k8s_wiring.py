"""The Kubernetes manifests under deploy/k8s, wired together: in the base and each overlay, Services
reach their pods on the right ports, selectors and references resolve, shards are a StatefulSet,
etcd lists its members; and what each overlay changes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fixtures.k8s_render import (
    RENDERS,
    SCALABLE_KINDS,
    all_containers,
    by_kind,
    container_port,
    env_value,
    is_simmesh,
    pod_labels,
    pod_spec,
    render,
    resolve_target_port,
    secret_values,
    selects,
    simmesh_containers,
    workloads,
)

# The public gRPC Services and their ports, as clients and SIMMESH_*_ADDR expect them.
PUBLIC_PORTS = {"embedder": 50051, "indexer": 50052, "catalog": 50053, "labeler": 50054, "gateway": 8080}


@pytest.fixture(params=RENDERS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


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
    # cert-manager writes each Certificate's Secret (tls.crt, tls.key, ca.crt) into the namespace.
    for certificate in by_kind(rendered, "Certificate").values():
        secrets[certificate["spec"]["secretName"]] = dict.fromkeys(("tls.crt", "tls.key", "ca.crt"), "")
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
