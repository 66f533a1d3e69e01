"""`python -m simmesh.devstack up` as a child process of a test: started, its state file read, stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def read_state(data: Path) -> dict[str, Any]:
    """The runner's state file (DATA/mesh.json); empty while it is not written yet or caught mid-write."""
    try:
        return json.loads((data / "mesh.json").read_text())
    except (OSError, ValueError):
        return {}


class DevstackUp:
    """`up --data DATA --ports auto` plus `flags`, in its own session; leaving the `with` block kills
    what is still running, the runner and the processes in `pids`."""

    def __init__(self, data: Path, *flags: str) -> None:
        self.data = data
        self.pids: list[int] = []
        self.runner = subprocess.Popen(
            [sys.executable, "-m", "simmesh.devstack", "up", "--data", str(data), "--ports", "auto", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def wait(self, timeout: float, ready: Callable[[dict[str, Any]], bool] = bool) -> dict[str, Any]:
        """The state once `ready` holds for it (by default: once there is one); fails if the runner exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.runner.poll() is not None:
                output = self.runner.stdout.read() if self.runner.stdout else ""
                raise AssertionError(f"the mesh runner exited with {self.runner.returncode}:\n{output}")
            state = read_state(self.data)
            if ready(state):
                return state
            time.sleep(0.5)
        raise AssertionError("the mesh did not come up in time")

    def stop(self) -> str:
        """SIGTERM: the runner exits 0 and every process in `pids` is gone within 10 s; its output."""
        self.runner.send_signal(signal.SIGTERM)
        output, _ = self.runner.communicate(timeout=120)
        assert self.runner.returncode == 0, output
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in self.pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in self.pids if alive(pid)], "processes left running after SIGTERM"
        return output

    def __enter__(self) -> DevstackUp:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.runner.poll() is None:
            os.killpg(self.runner.pid, signal.SIGKILL)
            self.runner.wait()
        for pid in self.pids:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
