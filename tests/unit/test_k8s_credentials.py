"""Credentials in the Kubernetes manifests: each service reads S3 with a user of its own whose MinIO
policy names only the buckets it uses, MinIO's root user stays with MinIO and its set-up Job, and the
metrics port listens on the pod's address. Checked on the base and every overlay, rendered."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fixtures.k8s_render import RENDERS, all_containers, by_kind, effective_env, grpc_containers, render, workloads

# The S3 Secret (simmesh-s3-<service>) each workload reads, by workload name.
OWN_SECRET = {
    "embedder": "embedder",
    "indexer-router": "indexer",
    "indexer-shard": "indexer",
    "catalog": "catalog",
    "labeler": "labeler",
    "triton": "triton",
}
# What each S3 user's policy may touch: bucket -> (prefix or "" for all of it, may write).
GRANTS = {
    "embedder": {"simmesh-models": ("", True)},
    "indexer": {"simmesh-snapshots": ("", True)},
    "catalog": {"simmesh-images": ("catalog", True), "simmesh-models": ("", False)},
    "labeler": {"simmesh-images": ("labeler", True)},
    "triton": {"simmesh-models": ("triton", False)},
}
WRITES = {"s3:PutObject", "s3:DeleteObject"}


@pytest.fixture(params=RENDERS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def secrets_read(workload: dict[str, Any]) -> set[str]:
    """Every Secret a workload's pods read: envFrom, secretKeyRef and secret volumes."""
    names = set()
    for container in all_containers(workload):
        names |= {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
        names |= {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
    volumes = workload["spec"]["template"]["spec"].get("volumes", [])
    return names | {v["secret"]["secretName"] for v in volumes if "secret" in v}


def policies(rendered: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    data = by_kind(rendered, "ConfigMap")["minio-policies"]["data"]
    return {name.removesuffix(".json"): json.loads(text) for name, text in data.items()}


def test_each_workload_reads_its_own_s3_secret_and_no_other(rendered):
    seen = set()
    for workload in workloads(rendered):
        name = workload["metadata"]["name"]
        s3 = {s for s in secrets_read(workload) if s.startswith("simmesh-s3-")}
        if name == "minio-buckets":  # makes the users: reads them all
            assert s3 == {f"simmesh-s3-{service}" for service in GRANTS}
            continue
        if name in OWN_SECRET:
            assert s3 == {f"simmesh-s3-{OWN_SECRET[name]}"}, f"{name} reads {sorted(s3)}"
            seen.add(name)
        else:
            assert not s3, f"{name} reads {sorted(s3)}"
    assert seen == set(OWN_SECRET)


def test_only_minio_and_its_setup_job_read_the_root_credentials(rendered):
    readers = {w["metadata"]["name"] for w in workloads(rendered) if "minio-root" in secrets_read(w)}
    assert readers == {"minio", "minio-buckets"}
    shared = by_kind(rendered, "Secret")["simmesh-secrets"]
    assert not {k for k in shared.get("stringData", {}) | shared.get("data", {}) if "S3" in k or "MINIO" in k}


def test_simmesh_services_take_their_s3_keys_from_their_own_secret(rendered):
    secrets = by_kind(rendered, "Secret")
    for workload, container in grpc_containers(rendered):
        own = f"simmesh-s3-{OWN_SECRET[workload['metadata']['name']]}"
        env = effective_env(container, rendered)
        assert env["SIMMESH_S3_ACCESS_KEY"] == secrets[own]["stringData"]["SIMMESH_S3_ACCESS_KEY"], own


def test_each_policy_names_only_the_buckets_and_prefixes_its_service_needs(rendered):
    found = policies(rendered)
    assert set(found) == set(GRANTS)
    for service, policy in found.items():
        granted: dict[str, set[str]] = {}
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            for resource in statement["Resource"]:
                bucket, _, key = resource.removeprefix("arn:aws:s3:::").partition("/")
                prefix, write = GRANTS[service].get(bucket, (None, False))
                assert prefix is not None, f"{service}: {bucket} is not one of its buckets"
                if key:
                    assert key == (f"{prefix}/*" if prefix else "*"), f"{service}: {resource}"
                else:
                    listed = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix", [])
                    assert not prefix or all(p == prefix or p.startswith(f"{prefix}/") for p in listed), service
                    assert not prefix or listed, f"{service} may list all of {bucket}"
                granted.setdefault(bucket, set()).update(statement["Action"])
        assert set(granted) == set(GRANTS[service]), service
        for bucket, (_, write) in GRANTS[service].items():
            assert "s3:GetObject" in granted[bucket], f"{service} cannot read {bucket}"
            assert bool(granted[bucket] & WRITES) == write, f"{service} on {bucket}: write {not write}"


def test_each_service_s_blob_urls_lie_inside_what_its_policy_lets_it_write(rendered):
    for workload, container in grpc_containers(rendered):
        service = OWN_SECRET[workload["metadata"]["name"]]
        env = effective_env(container, rendered)
        for variable in ("SIMMESH_BLOB_URL", "SIMMESH_MODELS_BLOB_URL"):
            if not env.get(variable):
                continue
            bucket, _, key = re.sub(r"^s3://", "", env[variable]).partition("/")
            assert bucket in GRANTS[service], f"{workload['metadata']['name']}: {variable}={env[variable]}"
            prefix, _ = GRANTS[service][bucket]
            assert key.startswith(prefix), f"{workload['metadata']['name']}: {variable}={env[variable]}"


def test_the_setup_job_makes_a_user_with_its_policy_for_each_service(rendered):
    job = next(w for w in workloads(rendered) if w["metadata"]["name"] == "minio-buckets")
    script = " ".join(" ".join(c.get("command", []) + c.get("args", [])) for c in all_containers(job))
    for step in ("mc admin policy create", "mc admin user add", "mc admin policy attach"):
        assert step in script
    assert "for service in " + " ".join(GRANTS) + ";" in script
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["policies"]["configMap"]["name"] == "minio-policies"


def test_metrics_listen_on_the_pod_address_not_every_interface(rendered):
    for workload, container in grpc_containers(rendered):
        [host] = [e for e in container["env"] if e["name"] == "SIMMESH_METRICS_HOST"]
        assert host["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP", workload["metadata"]["name"]
