"""Under `make up` (`python -m simmesh.devstack up`), kill -9 of any one process brings it back and
serving within 10 s while every other process keeps its pid; `status` shows the restarts; SIGTERM
still stops everything and `up` exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support.devstack import DevstackUp, read_state

from simmesh.devstack.mesh import serving
from simmesh.devstack.process import port_open

pytestmark = pytest.mark.e2e

# One of each kind; etcd and the S3 server last, as the services lean on them.
KILLED = ("shard-0", "indexer", "embedder", "catalog", "labeler", "gateway", "s3", "etcd")
BACK_WITHIN = 10.0
LEASE_TTL = 5  # the shards' default registration lease, in seconds


def _by_name(state: dict) -> dict[str, dict]:
    return {p["name"]: p for p in state.get("processes", [])}


def _state(data: Path) -> dict[str, dict]:
    return _by_name(read_state(data))


def _supervised(state: dict) -> bool:
    """Every process started and under supervision (the state lists restarts)."""
    processes = _by_name(state)
    return bool(processes) and all("restarts" in p for p in processes.values())


def _back(process: dict) -> bool:
    """Serving again: gRPC health for the services, HTTP /healthz for the gateway, etcd's /health, the
    S3 port for the S3 server."""
    address = process["address"]
    if process["name"] == "gateway":
        try:
            with urllib.request.urlopen(f"http://{address}/healthz", timeout=1.0) as response:
                return response.status == 200
        except OSError:
            return False
    if process["name"] == "etcd":
        try:
            with urllib.request.urlopen(f"http://{address}/health", timeout=1.0) as response:
                return json.load(response).get("health") == "true"
        except OSError:
            return False
    if process["name"] == "s3":
        host, port = address.removeprefix("http://").rsplit(":", 1)
        return port_open(int(port), host)
    return serving(address, timeout=1.0)


def _kill_and_time_the_return(data: Path, name: str) -> float:
    before = _state(data)
    killed = before[name]["pid"]
    os.kill(killed, signal.SIGKILL)
    began = time.monotonic()
    while time.monotonic() - began < BACK_WITHIN:
        now = _state(data).get(name, {})
        if now.get("pid") not in (None, killed) and _back(now):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"{name} not back and serving {BACK_WITHIN:.0f}s after kill -9: {_state(data)[name]}")
    back = time.monotonic() - began
    after = _state(data)
    assert after[name]["restarts"] == before[name]["restarts"] + 1
    assert after[name]["last_exit"] == "killed by SIGKILL"
    changed = {n: (p["pid"], after[n]["pid"]) for n, p in before.items() if n != name and after[n]["pid"] != p["pid"]}
    assert not changed, f"killing {name} changed other processes' pids: {changed}"
    return back


def test_kill_9_of_any_process_brings_it_back_within_10s_and_the_others_keep_running(tmp_path):
    data = tmp_path / "mesh"
    with DevstackUp(data, "--no-triton") as mesh:
        state = _by_name(mesh.wait(timeout=180, ready=_supervised))
        mesh.pids += [p["pid"] for p in state.values()]
        times = {name: _kill_and_time_the_return(data, name) for name in KILLED}
        print("back and serving after kill -9:", {name: f"{seconds:.1f}s" for name, seconds in times.items()})
        state = _state(data)
        mesh.pids += [p["pid"] for p in state.values()]
        time.sleep(LEASE_TTL + 1)  # a shard that lost its etcd lease would have exited by now
        assert {n: p["pid"] for n, p in _state(data).items()} == {n: p["pid"] for n, p in state.items()}
        assert all(_back(p) for p in state.values()), state

        status = subprocess.run(
            [sys.executable, "-m", "simmesh.devstack", "status", "--data", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        for name in KILLED:
            line = next(line for line in status.stdout.splitlines() if line.split()[0] == name)
            assert line.split()[4] == "1" and line.endswith("killed by SIGKILL"), line

        output = mesh.stop()
        print(output)
        assert "shard-0 exited (killed by SIGKILL)" in output and "stopped." in output
