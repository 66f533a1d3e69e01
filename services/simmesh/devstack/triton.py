"""A real `tritonserver` from the nvidia-pytriton wheel, serving a model repository on CPU.

The wheel ships the server binary, its shared libraries (`nvidia_pytriton.libs`, found through
LD_LIBRARY_PATH), the Python backend and one `triton_python_backend_stub` per Python version.
The backend directory is assembled under `log_dir/backends` with the stub that matches this
interpreter, so site-packages is never modified. The stub embeds `libpython3.X.so` and runs
with this interpreter's environment first on PATH, so models import numpy and onnxruntime from
the same virtual environment.

Models load and unload on request (`--model-control-mode=explicit`) through tritonclient:

    server = TritonServer("/path/to/repo", log_dir).start()
    client = tritonclient.grpc.InferenceServerClient(server.grpc_url)
    client.load_model("name")
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

import tritonclient.grpc as grpcclient

from simmesh.devstack.process import ManagedProcess, free_port

PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def _dist_dir() -> Path:
    """The wheel's `pytriton/tritonserver` directory, found without importing pytriton (slow)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nvidia-pytriton is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "tritonserver"


def _libs_dir() -> Path:
    return _dist_dir().parent.parent / "nvidia_pytriton.libs"


def _stub_path() -> Path:
    return _dist_dir() / "python_backend_stubs" / PYTHON_VERSION / "triton_python_backend_stub"


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for tritonserver and the backend stubs it spawns."""
    env = dict(os.environ)
    lib_dirs = [str(_libs_dir())]
    python_libdir = sysconfig.get_config_var("LIBDIR")
    if python_libdir:  # the stub then loads the libpython of this interpreter, not a system one
        lib_dirs.append(python_libdir)
    if env.get("LD_LIBRARY_PATH"):
        lib_dirs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(lib_dirs)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra or {})
    return env


def tritonserver_available() -> str | None:
    """None when tritonserver and the Python backend stub can run here, else the reason why not."""
    try:
        dist = _dist_dir()
    except ImportError:
        return "nvidia-pytriton is not installed"
    binary, stub = dist / "bin" / "tritonserver", _stub_path()
    if not sys.platform.startswith("linux"):
        return f"tritonserver from nvidia-pytriton runs on Linux only, not {sys.platform}"
    for path in (binary, stub):
        if not path.is_file():
            return f"{path} is missing from the nvidia-pytriton wheel (Python {PYTHON_VERSION})"
    # Both print usage and exit when run bare; a missing shared library shows up here instead.
    for argv, expect in (([str(binary), "--help"], "Usage"), ([str(stub)], "arguments")):
        try:
            run = subprocess.run(argv, env=server_env(), capture_output=True, text=True, timeout=30)
        except OSError as exc:
            return f"{argv[0]} cannot run: {exc}"
        output = run.stdout + run.stderr
        if expect not in output:
            return f"{argv[0]} cannot run: {output.strip()[-500:]}"
    return None


class TritonServer(ManagedProcess):
    """tritonserver on loopback ports with explicit model control.

    `repository` is a local directory or `s3://http://HOST:PORT/bucket/prefix`; for the latter
    `s3_credentials` gives AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION.
    """

    def __init__(
        self,
        repository: str | Path,
        log_dir: Path,
        *,
        grpc_port: int | None = None,
        http_port: int | None = None,
        metrics_port: int | None = None,
        extra_env: Mapping[str, str] | None = None,
        s3_credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.repository = str(repository)
        self.log_dir = Path(log_dir)
        self.grpc_port = grpc_port or free_port()
        self.http_port = http_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.backend_dir = self.log_dir / "backends"
        dist = _dist_dir()
        argv = [
            str(dist / "bin" / "tritonserver"),
            f"--model-repository={self.repository}",
            "--model-control-mode=explicit",
            f"--backend-directory={self.backend_dir}",
            f"--cache-directory={dist / 'caches'}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            "--http-address=127.0.0.1",
            f"--http-port={self.http_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            "--pinned-memory-pool-byte-size=0",
            "--log-verbose=0",
        ]
        env = dict(extra_env or {})
        env.update(s3_credentials or {})
        super().__init__(
            "tritonserver", argv, log_path=self.log_dir / "tritonserver.log", env=server_env(env), cwd=self.log_dir
        )

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _prepare_backends(self) -> None:
        python_dir = self.backend_dir / "python"
        python_dir.mkdir(parents=True, exist_ok=True)
        source = _dist_dir() / "backends" / "python"
        for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
            shutil.copy2(source / name, python_dir / name)
        shutil.copy2(_stub_path(), python_dir / "triton_python_backend_stub")

    def live(self) -> bool:
        """True when the gRPC endpoint answers that the server is live."""
        with grpcclient.InferenceServerClient(self.grpc_url) as client:
            return client.is_server_live(client_timeout=1.0)

    def start(self, timeout: float = 60.0) -> TritonServer:  # type: ignore[override]
        """Start and wait until the gRPC endpoint reports the server live."""
        self._prepare_backends()
        super().start(ready=self.live, timeout=timeout)
        return self
