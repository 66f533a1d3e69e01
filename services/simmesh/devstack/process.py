"""A child process with a log file, a readiness check and a clean stop by process id."""

from __future__ import annotations

import contextlib
import functools
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

# Ports below this are left to well-known services.
_LOWEST_PORT = 10000
_handed_out: set[int] = set()
_random = random.SystemRandom()


@functools.cache
def ephemeral_ports() -> tuple[int, int]:
    """The range the kernel takes local ports of outgoing connections from (inclusive)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535  # the IANA range, which macOS uses too


def free_port(host: str = "127.0.0.1", *, below: int | None = None, paired: int | None = None) -> int:
    """A TCP port nothing listens on right now, that a server started later can still bind.

    A port from the ephemeral range can be taken at any moment as the local end of some outgoing
    connection, and the server told to listen on it then fails with "Address already in use". So
    the port is drawn at random from below that range (and below `below`), and never handed out
    twice by this process. For a server that derives a second port from its first, `paired` is
    the offset: port + `paired` is free too, and handed out with it.
    """
    high = min(ephemeral_ports()[0], below or 65536)
    if high - _LOWEST_PORT >= 1000:
        for _ in range(1000):
            port = _random.randrange(_LOWEST_PORT, high)
            if _hand_out(port, host, paired):
                return port
    # No room below the ephemeral range (or all of it busy): let the kernel choose.
    for _ in range(1000):
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if (below is None or port < below) and _hand_out(port, host, paired):
            return port
    raise RuntimeError(f"no free TCP port on {host} below {below}")


def _hand_out(port: int, host: str, paired: int | None) -> bool:
    """Records `port` (and port + `paired`) as handed out, if none of them was and all are free."""
    ports = (port,) if paired is None else (port, port + paired)
    if any(p > 65535 or p in _handed_out or not bindable(p, host) for p in ports):
        return False
    _handed_out.update(ports)
    return True


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listening socket could bind `port` on `host` now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def describe_exit(code: int) -> str:
    """`exit status 3` or `killed by SIGKILL`, from a return code as `subprocess` gives it."""
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class ProcessFailed(RuntimeError):
    """The process exited or did not become ready; the message ends with its log's tail."""


class ManagedProcess:
    """Starts `argv` in its own process group, logging to `log_path`.

    `ready` is polled until it returns True (or the process dies, or `timeout` passes).
    `stop()` sends SIGTERM to the group, then SIGKILL after `grace` seconds.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def started(self) -> subprocess.Popen[bytes]:
        """The running (or exited) child; raises if `start()` has not run."""
        if self.proc is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.proc

    def start(self, ready: Callable[[], bool] | None = None, timeout: float = 60.0) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        if ready is not None:
            self.wait_ready(ready, timeout)
        return self

    def wait_ready(self, ready: Callable[[], bool], timeout: float) -> None:
        proc = self.started
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ProcessFailed(f"{self.name} exited with {proc.returncode}\n{self.log_tail()}")
            try:
                if ready():
                    return
            except Exception:  # a probe that fails means "not ready yet"
                pass
            time.sleep(0.1)
        self.stop()
        raise ProcessFailed(f"{self.name} not ready after {timeout:.0f}s\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self) -> int | None:
        """The exit code once the process has exited (negative: the signal that ended it); None
        while it runs or before it started."""
        return None if self.proc is None else self.proc.poll()

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.started.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process group at once (crash simulation) and reap it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        # Whatever else is left in the group (children of the child) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
