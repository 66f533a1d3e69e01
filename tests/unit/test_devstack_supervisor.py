"""The local mesh's supervisor: a crashed process comes back with backoff, the others keep running,
and one that keeps failing makes the supervisor give up with a non-zero status."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simmesh.devstack.__main__ import main
from simmesh.devstack.process import ManagedProcess, describe_exit
from simmesh.devstack.supervisor import RestartPolicy, Supervisor

QUICK = RestartPolicy(first_delay=0.05, max_delay=0.2, max_restarts=3, window=60.0)


def _process(tmp_path: Path, name: str, code: str) -> ManagedProcess:
    return ManagedProcess(name, [sys.executable, "-c", code], log_path=tmp_path / f"{name}.log")


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[dict[str, ManagedProcess]]:
    procs = {name: _process(tmp_path, name, "import time; time.sleep(120)").start() for name in ("a", "b")}
    yield procs
    for proc in procs.values():
        proc.stop(grace=1)


def _poll_until(supervisor: Supervisor, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the supervisor did not get there in time"
        supervisor.poll()
        time.sleep(0.02)


def test_a_process_killed_by_sigkill_is_restarted_and_the_others_keep_their_pids(sleepers):
    lines: list[str] = []
    supervisor = Supervisor(sleepers, QUICK, report=lines.append)
    killed, other = sleepers["a"].pid, sleepers["b"].pid
    assert killed and other
    os.kill(killed, signal.SIGKILL)
    _poll_until(supervisor, lambda: supervisor.records["a"].restarts == 1 and sleepers["a"].alive())

    assert sleepers["a"].pid != killed
    assert sleepers["b"].pid == other and sleepers["b"].alive()
    assert supervisor.records["b"].restarts == 0
    assert supervisor.records["a"].as_json()["last_exit"] == "killed by SIGKILL"
    assert any(line.startswith("a exited (killed by SIGKILL)") for line in lines), lines
    assert supervisor.gave_up is None


def test_a_process_that_keeps_failing_makes_the_supervisor_give_up_with_status_1(tmp_path, sleepers):
    failing = _process(tmp_path, "failing", "import sys; sys.exit(3)").start()
    lines: list[str] = []
    supervisor = Supervisor({**sleepers, "failing": failing}, QUICK, report=lines.append)
    stop = threading.Event()
    timer = threading.Timer(10.0, stop.set)  # a supervisor that never gives up would return 0 here
    timer.start()
    try:
        assert supervisor.run(stop, interval=0.01) == 1
    finally:
        timer.cancel()

    assert supervisor.gave_up == "failing"
    record = supervisor.records["failing"]
    assert record.restarts == QUICK.max_restarts
    assert record.as_json()["last_exit"] == "exit status 3"
    assert "giving up: 3 restarts within 60s (limit 3)" in lines[-1]
    assert all(proc.alive() for proc in sleepers.values()), "giving up leaves stopping the rest to the caller"


def test_restarts_back_off_exponentially_up_to_a_cap():
    policy = RestartPolicy(first_delay=0.5, max_delay=4.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_crash_loop_waits_longer_before_each_restart(tmp_path):
    failing = _process(tmp_path, "failing", "import sys; sys.exit(1)").start()
    policy = RestartPolicy(first_delay=0.1, max_delay=10.0, max_restarts=3)
    supervisor = Supervisor({"failing": failing}, policy, report=lambda line: None)
    starts: list[float] = []
    while supervisor.gave_up is None:
        before = supervisor.records["failing"].restarts
        supervisor.poll()
        if supervisor.records["failing"].restarts > before:
            starts.append(time.monotonic())
        time.sleep(0.01)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(starts) == 3
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps


def test_exit_statuses_read_as_an_operator_would_say_them():
    assert describe_exit(0) == "exit status 0"
    assert describe_exit(3) == "exit status 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"


def test_status_shows_each_processs_restarts_and_last_exit(tmp_path, capsys):
    up_since = time.time()
    state = {
        "runner_pid": os.getpid(),
        "processes": [
            {"name": "etcd", "address": "127.0.0.1:1", "pid": os.getpid(), "log": "etcd.log", "restarts": 0},
            {
                "name": "shard-0",
                "address": "127.0.0.1:1",
                "pid": 12345,
                "log": "shard-0.log",
                "restarts": 2,
                "last_exit": "killed by SIGKILL",
                "up_since": up_since,
            },
        ],
        "addresses": {},
    }
    (tmp_path / "mesh.json").write_text(json.dumps(state))

    assert main(["status", "--data", str(tmp_path)]) == 1  # nothing serves on port 1
    lines = capsys.readouterr().out.splitlines()
    assert "restarts" in lines[0] and "last exit" in lines[0]
    etcd = next(line.split() for line in lines if line.strip().startswith("etcd"))
    assert etcd[3:5] == ["RUNNING", "0"]
    shard = next(line for line in lines if line.strip().startswith("shard-0"))
    assert "DOWN" in shard and " 2 " in shard and shard.endswith("killed by SIGKILL")
    assert time.strftime("%Y-%m-%d %H:%M", time.localtime(up_since)) in shard


class _FailingMesh:
    """Stands in for `Mesh` in `up`: one process that exits at once, and a record of the stop."""

    def __init__(self, tmp_path: Path) -> None:
        self.log_dir = tmp_path
        self.ports = {"embedder": 1}
        self.process = _process(tmp_path, "failing", "import sys; sys.exit(3)")
        self.stopped = False

    def start(self) -> _FailingMesh:
        self.process.start()
        return self

    def processes(self):
        yield "failing", "-", self.process.pid, self.process.log_path

    def supervise(self, policy: RestartPolicy) -> Supervisor:
        return Supervisor({"failing": self.process}, RestartPolicy(first_delay=0.05, max_restarts=policy.max_restarts))

    def stop(self) -> None:
        self.stopped = True


def test_up_stops_the_mesh_and_exits_1_when_a_process_keeps_failing(tmp_path, monkeypatch, capsys):
    mesh = _FailingMesh(tmp_path)
    monkeypatch.setattr("simmesh.devstack.__main__.Mesh", lambda config: mesh)
    monkeypatch.setattr(signal, "signal", lambda *args: None)

    assert main(["up", "--data", str(tmp_path / "mesh"), "--no-triton", "--max-restarts", "2"]) == 1
    assert mesh.stopped
    err = capsys.readouterr().err
    assert "failing exited (exit status 3) " in err and "giving up: 2 restarts within 60s (limit 2)" in err
    assert "failing keeps failing: the mesh stopped" in err
