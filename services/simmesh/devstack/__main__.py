"""`python -m simmesh.devstack up|down|status`: the whole mesh on this machine.

`up` starts etcd, the S3 server, tritonserver and the four services, waits until each is
healthy, prints where each listens and logs, and stops everything on Ctrl-C or SIGTERM.
`down` stops a mesh started from another terminal; `status` reports each service's health.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from simmesh.devstack.mesh import Mesh, MeshConfig, ProcessFailed, serving


def _up(args: argparse.Namespace) -> int:
    data = Path(args.data).resolve()
    state = data / "mesh.json"
    if state.exists() and _alive(json.loads(state.read_text()).get("runner_pid")):
        print(f"a mesh is already running from {data} (see {state}); `make down` stops it", file=sys.stderr)
        return 1
    print(f"starting the mesh (data in {data}) ...", flush=True)
    started = time.monotonic()
    mesh = Mesh(MeshConfig(data_dir=data, ports=args.ports, auth_token=args.token, with_triton=not args.no_triton))
    stop = {"now": False}

    def _signalled(signum, _frame):
        stop["now"] = True

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
    print(f"\n  try: grpcurl -plaintext localhost:{mesh.ports['embedder']} list")
    print("Ctrl-C (or `make down`) stops everything.", flush=True)
    try:
        while not stop["now"]:
            dead = [name for name, proc in mesh.services.items() if not proc.alive()]
            if dead:
                print(f"stopped unexpectedly: {', '.join(dead)}; see the logs above", file=sys.stderr)
                break
            time.sleep(0.5)
    finally:
        print("\nstopping ...", flush=True)
        mesh.stop()
        print("stopped.")
    return 0


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
    addresses = json.loads(state_path.read_text())["addresses"]
    healthy = True
    for name, address in addresses.items():
        ok = serving(address)
        healthy &= ok
        print(f"  {name:<10} {address:<22} {'SERVING' if ok else 'DOWN'}")
    return 0 if healthy else 1


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
    parser.add_argument("--no-triton", action="store_true", help="embed in-process; do not start tritonserver")
    args = parser.parse_args(argv)
    return {"up": _up, "down": _down, "status": _status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
