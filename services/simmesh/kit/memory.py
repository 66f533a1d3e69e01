"""Giving freed heap memory back to the operating system, so a long-running service's resident
memory follows what it holds rather than its peak.

A service allocates and frees large buffers all day (snapshots, batches, decoded images) from many
threads; glibc keeps freed memory in its heaps for reuse, one heap ("arena") per thread in the worst
case, and the resident set only grows. Two measures: the local mesh and the Kubernetes manifests set
`MALLOC_ARENA_MAX=2` (few arenas, less stranded memory), and each service process calls
`malloc_trim(0)` every `trim_interval` seconds from a daemon thread (a few milliseconds on a heap of
hundreds of MiB). Elsewhere than glibc both are no-ops."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable

log = logging.getLogger("simmesh.kit.memory")

ARENA_ENV = {"MALLOC_ARENA_MAX": "2"}


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        trim = getattr(libc, "malloc_trim", None)
    except OSError:
        return None
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Returns freed heap memory to the system; False where the C library cannot (not glibc)."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class MemoryTrimmer:
    """Calls `release_free_memory` every `interval` seconds on a daemon thread until closed."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.trims = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-trim", daemon=True)

    def start(self) -> MemoryTrimmer:
        if self.interval > 0 and _TRIM is not None:
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                release_free_memory()
                self.trims += 1
            except Exception:  # never let upkeep take the service down
                log.exception("malloc_trim failed")
