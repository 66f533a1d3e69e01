"""Restarts the mesh's processes when they exit, with exponential backoff, and gives up on one that keeps failing."""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from simmesh.devstack.process import ProcessFailed, describe_exit


class Child(Protocol):
    """What the supervisor needs of a process: ManagedProcess, EtcdServer, S3Server, TritonServer."""

    @property
    def pid(self) -> int | None: ...

    def exit_status(self) -> int | None: ...

    def start(self) -> object: ...


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff doubles from `first_delay` up to `max_delay`; a process up for `stable_after` seconds
    starts the doubling over. More than `max_restarts` restarts within `window` seconds: give up."""

    first_delay: float = 0.5
    max_delay: float = 30.0
    max_restarts: int = 5
    window: float = 60.0
    stable_after: float = 30.0

    def delay(self, failures: int) -> float:
        """Seconds to wait before the restart that follows the `failures`-th exit in a row."""
        return min(self.max_delay, self.first_delay * 2 ** max(0, failures - 1))


@dataclass
class ChildRecord:
    """One process's restart history, as `status` shows it."""

    restarts: int = 0
    last_exit: int | None = None
    up_since: float = field(default_factory=time.time)  # wall clock, for people
    started: float = field(default_factory=time.monotonic)
    failures: int = 0  # exits in a row without a stable run between them
    recent: deque[float] = field(default_factory=deque)  # monotonic times of restarts within the window
    restart_at: float | None = None  # set while a restart waits out its backoff

    def as_json(self) -> dict[str, object]:
        return {
            "restarts": self.restarts,
            "last_exit": None if self.last_exit is None else describe_exit(self.last_exit),
            "up_since": None if self.restart_at is not None else self.up_since,
        }


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Supervisor:
    """Watches `children` by name; `poll()` notices exits and restarts what is due.

    `on_change` runs after every exit and restart (the mesh rewrites its state file there);
    `report` gets one line per event. After giving up, `gave_up` names the process.
    """

    def __init__(
        self,
        children: Mapping[str, Child],
        policy: RestartPolicy | None = None,
        *,
        report: Callable[[str], None] | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.children = dict(children)
        self.policy = policy or RestartPolicy()
        self.records = {name: ChildRecord() for name in self.children}
        self.report = report or _to_stderr
        self.on_change = on_change
        self.gave_up: str | None = None

    def poll(self) -> None:
        """One pass: record exits and schedule their restarts; start those whose backoff is over."""
        for name, child in self.children.items():
            if self.gave_up is not None:
                return
            record = self.records[name]
            if record.restart_at is None:
                status = child.exit_status()
                if status is not None:
                    self._exited(name, record, status)
            elif time.monotonic() >= record.restart_at:
                self._restart(name, child, record)

    def run(self, stop: threading.Event, interval: float = 0.2) -> int:
        """Polls until `stop` is set (returns 0) or a process keeps failing (returns 1)."""
        while not stop.is_set():
            self.poll()
            if self.gave_up is not None:
                return 1
            stop.wait(interval)
        return 0

    def _exited(self, name: str, record: ChildRecord, status: int) -> None:
        now = time.monotonic()
        uptime = now - record.started
        record.last_exit = status
        record.failures = 1 if uptime >= self.policy.stable_after else record.failures + 1
        while record.recent and now - record.recent[0] > self.policy.window:
            record.recent.popleft()
        what = f"{name} exited ({describe_exit(status)})" + (f" {uptime:.1f}s after restart" if record.restarts else "")
        if len(record.recent) >= self.policy.max_restarts:
            self.gave_up = name
            self.report(
                f"{what}; giving up: {len(record.recent)} restarts within {self.policy.window:.0f}s "
                f"(limit {self.policy.max_restarts})"
            )
        else:
            delay = self.policy.delay(record.failures)
            record.restart_at = now + delay
            self.report(f"{what}; restart {record.restarts + 1} in {delay:.1f}s")
        self.on_change()

    def _restart(self, name: str, child: Child, record: ChildRecord) -> None:
        record.restart_at = None
        record.recent.append(time.monotonic())
        record.restarts += 1
        record.started, record.up_since = time.monotonic(), time.time()
        try:
            child.start()
        except ProcessFailed as error:  # not ready in time: it was stopped, and its exit shows next poll
            self.report(f"{name} did not come back: {str(error).splitlines()[0]}")
            self.on_change()
            return
        except OSError as error:  # could not even be spawned: counts as an exit at once
            self.report(f"{name} could not be started: {error}")
            self._exited(name, record, 127)
            return
        self.report(f"{name} restarted (pid {child.pid}, restart {record.restarts})")
        self.on_change()
