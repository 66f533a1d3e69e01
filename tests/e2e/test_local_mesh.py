"""`python -m simmesh.devstack up` (what `make up` runs) brings the whole mesh up on one machine
with real etcd, S3 and tritonserver, every service answers on its port with reflection, and
SIGTERM stops every process it started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from support.devstack import DevstackUp
from support.models import png_bytes

from simmesh.devstack.triton import tritonserver_available
from simmesh_client import Client, ClientConfig

pytestmark = pytest.mark.e2e

EXPECTED = {
    "embedder": "simmesh.v1.EmbedderService",
    "indexer": "simmesh.v1.IndexerService",
    "catalog": "simmesh.v1.CatalogService",
    "labeler": "simmesh.v1.LabelerService",
}


def _listed_services(address: str) -> set[str]:
    with grpc.insecure_channel(address) as channel:
        return set(ProtoReflectionDescriptorDatabase(channel).get_services())


def test_up_serves_every_service_and_sigterm_stops_everything(tmp_path):
    reason = tritonserver_available()
    if reason:
        pytest.skip(reason)
    data = tmp_path / "mesh"
    with DevstackUp(data) as mesh:
        state = mesh.wait(timeout=240)
        mesh.pids += [p["pid"] for p in state["processes"] if p["pid"]]
        names = {p["name"] for p in state["processes"]}
        assert {"etcd", "s3", "triton", *EXPECTED} <= names
        for service, full_name in EXPECTED.items():
            listed = _listed_services(state["addresses"][service])
            assert full_name in listed, f"{service} does not list {full_name}: {listed}"
            assert "grpc.health.v1.Health" in listed
        for service in ("indexer", "catalog"):
            assert "google.longrunning.Operations" in _listed_services(state["addresses"][service])

        # The SDK's status command sees all four serving.
        env = dict(os.environ)
        for service, address in state["addresses"].items():
            env[f"SIMMESH_{service.upper()}_ADDR"] = address
        simctl = Path(sys.executable).parent / "simctl"
        status = subprocess.run([str(simctl), "status", "--json"], capture_output=True, text=True, env=env, timeout=60)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "SERVING" in status.stdout

        # The built-in models are there with no manual step, generic served through Triton.
        with Client(ClientConfig(embedder_address=state["addresses"]["embedder"])) as client:
            vectors = client.embedder.embed("generic", [png_bytes((200, 30, 30))])
            generic = client.embedder.get_version("models/generic/versions/1")  # loaded on first use
            assert generic.loaded and generic.manifest.dimension == 1280
        assert vectors.shape == (1, 1280) and abs(float(np.linalg.norm(vectors)) - 1.0) < 1e-4

        output = mesh.stop()
        assert "simmesh is up" in output and "stopped." in output
        assert (data / "etcd").exists() and (data / "s3").exists(), "state stays in the data directory"
