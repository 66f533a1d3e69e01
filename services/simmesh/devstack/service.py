"""One simmesh service as a child process on a free loopback port, for benchmarks and tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from simmesh.devstack.mesh import serving
from simmesh.devstack.process import ManagedProcess, free_port


def start_service(
    name: str,
    module: Sequence[str],
    *,
    data_dir: Path,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 180.0,
) -> tuple[ManagedProcess, str]:
    """`python -m *module` on 127.0.0.1 and a free port, data under `data_dir`, `env` added to ours;
    the process once its health check answers SERVING, and its address."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    process = ManagedProcess(
        name,
        [sys.executable, "-m", *module],
        log_path=log_path,
        env={
            **os.environ,
            "SIMMESH_HOST": "127.0.0.1",
            "SIMMESH_PORT": str(port),
            "SIMMESH_DATA_DIR": str(data_dir),
            **(env or {}),
        },
    )
    process.start(lambda: serving(address, timeout=0.5), timeout=timeout)
    return process, address
