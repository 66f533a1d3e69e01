"""`python -m simmesh.devstack up|down|status`: the whole mesh on this machine.

`up` starts etcd, the S3 server, tritonserver, the four services and the REST gateway, waits until each is
healthy, prints where each listens and logs, and stops everything on Ctrl-C or SIGTERM.
A process that exits is restarted with exponential backoff; one that keeps failing stops the
mesh and `up` exits 1. `down` stops a mesh started from another terminal; `status` reports
each process's health and restarts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from simmesh.devstack.auth import auth_line
from simmesh.devstack.gateway import http_serving
from simmesh.devstack.mesh import GATEWAY, LOOPBACK_NETWORKS, Mesh, MeshConfig, ProcessFailed, serving
from simmesh.devstack.supervisor import RestartPolicy


def _up(args: argparse.Namespace) -> int:
    data = Path(args.data).resolve()
    state = data / "mesh.json"
    if state.exists() and _alive(json.loads(state.read_text()).get("runner_pid")):
        print(f"a mesh is already running from {data} (see {state}); `make down` stops it", file=sys.stderr)
        return 1
    print(f"starting the mesh (data in {data}) ...", flush=True)
    started = time.monotonic()
    config = MeshConfig(
        data_dir=data,
        ports=args.ports,
        auth_token=args.token,
        api_keys=args.api_keys,
        with_triton=not args.no_triton,
        allow_loopback_urls=args.allow_loopback_urls,
    )
    mesh = Mesh(config)
    stop = threading.Event()

    def _signalled(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _signalled)
    signal.signal(signal.SIGINT, _signalled)
    try:
        mesh.start()
    except ProcessFailed as error:
        print(f"the mesh did not start: {error}", file=sys.stderr)
        return 1
    print(f"\nsimmesh is up ({time.monotonic() - started:.1f}s):\n")
    print(f"  {'what':<10} {'listens on':<32} {'pid':>8}  log")
    for name, address, pid, log in mesh.processes():
        print(f"  {name:<10} {address:<32} {pid or '':>8}  {log}")
    print(f"\n{auth_line(data, args.token, args.api_keys)}")
    print(f"\n  try: grpcurl -plaintext localhost:{mesh.ports['embedder']} list")
    if GATEWAY in mesh.ports:
        gateway = f"http://localhost:{mesh.ports[GATEWAY]}"
        print(f"       curl {gateway}/v1/collections   (the web console: {gateway}/)")
    if args.allow_loopback_urls:
        print(f"Image URLs may reach this machine's loopback addresses ({LOOPBACK_NETWORKS}), as asked.")
    else:
        print("Image URLs to loopback or private addresses are refused (--allow-loopback-urls allows loopback).")
    print("A process that exits is restarted; Ctrl-C (or `make down`) stops everything.", flush=True)
    policy = RestartPolicy(max_restarts=args.max_restarts, window=args.restart_window)
    supervisor = mesh.supervise(policy)
    try:
        code = supervisor.run(stop)
    finally:
        print("\nstopping ...", flush=True)
        mesh.stop()
        print("stopped.")
    if supervisor.gave_up:
        print(f"{supervisor.gave_up} keeps failing: the mesh stopped; see {mesh.log_dir}", file=sys.stderr)
    return code


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _down(args: argparse.Namespace) -> int:
    state_path = Path(args.data).resolve() / "mesh.json"
    if not state_path.exists():
        print("no mesh is running from this data directory")
        return 0
    state = json.loads(state_path.read_text())
    runner = state.get("runner_pid")
    if _alive(runner):
        os.kill(runner, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(runner) and time.monotonic() < deadline:
            time.sleep(0.2)
    # Whatever the runner could not stop (it was killed, say) goes by its process group.
    for proc in state.get("processes", []):
        if _alive(proc.get("pid")):
            try:
                os.killpg(proc["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
    if state_path.exists():
        state_path.unlink()
    print("stopped.")
    return 0


def _status(args: argparse.Namespace) -> int:
    state_path = Path(args.data).resolve() / "mesh.json"
    if not state_path.exists():
        print("no mesh is running from this data directory")
        return 1
    state = json.loads(state_path.read_text())
    healthy = True
    print(f"  {'what':<10} {'listens on':<22} {'pid':>8}  {'state':<8} {'restarts':>8}  {'up since':<19}  last exit")
    for process in state["processes"]:
        health = _health(process)
        healthy &= health != "DOWN"
        up_since = process.get("up_since")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(up_since)) if up_since else "-"
        print(
            f"  {process['name']:<10} {process['address']:<22} {process['pid'] or '-':>8}  "
            f"{health:<8} {process.get('restarts', 0):>8}  {since:<19}  "
            f"{process.get('last_exit') or '-'}"
        )
    return 0 if healthy else 1


def _health(process: dict) -> str:
    """SERVING or DOWN by gRPC health for the services and shard nodes, by /healthz for the gateway;
    RUNNING or DOWN by pid for etcd, S3 and Triton."""
    if process["name"] in ("etcd", "s3", "triton"):
        return "RUNNING" if _alive(process.get("pid")) else "DOWN"
    if process["name"] == GATEWAY:
        with contextlib.suppress(OSError):
            return "SERVING" if http_serving(process["address"]) else "DOWN"
        return "DOWN"
    return "SERVING" if serving(process["address"]) else "DOWN"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simmesh.devstack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--data", default=".simmesh", help="where everything keeps its state and logs")
    parser.add_argument(
        "--ports",
        choices=["default", "auto"],
        default="default",
        help="documented ports (50051-50054, ...) or free ones",
    )
    parser.add_argument(
        "--token", default=os.environ.get("SIMMESH_AUTH_TOKEN", ""), help="require this bearer token on every call"
    )
    parser.add_argument(
        "--api-keys",
        action="store_true",
        default=os.environ.get("SIMMESH_API_KEYS", "") == "etcd",
        help="require API keys with roles (kept in etcd); prints where the bootstrap admin key is",
    )
    parser.add_argument("--no-triton", action="store_true", help="embed in-process; do not start tritonserver")
    parser.add_argument(
        "--allow-loopback-urls",
        action="store_true",
        help="let image URLs reach this machine's loopback addresses (an image server of your own); refused otherwise",
    )
    parser.add_argument(
        "--max-restarts",
        type=int,
        default=RestartPolicy.max_restarts,
        help="give up (stop the mesh, exit 1) when a process needs more restarts than this within the window",
    )
    parser.add_argument(
        "--restart-window", type=float, default=RestartPolicy.window, help="seconds the restart limit counts over"
    )
    args = parser.parse_args(argv)
    return {"up": _up, "down": _down, "status": _status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
