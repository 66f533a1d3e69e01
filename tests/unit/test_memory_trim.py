"""Freed heap memory goes back to the system: a process that freed a large heap shrinks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from simmesh.kit.memory import MemoryTrimmer, release_free_memory

# Many small objects (below the mmap threshold, so they live in the heap) freed at once, with a
# few still alive at the end of the heap: glibc keeps the freed middle until malloc_trim.
_SCRIPT = textwrap.dedent(
    """
    import sys
    from simmesh.kit.memory import release_free_memory

    def rss_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1])

    blocks = [bytearray(4000) for _ in range(50_000)]  # ~200 MB in the heap
    keep = blocks[-1]
    del blocks
    before = rss_kib()
    if sys.argv[1] == "trim":
        release_free_memory()
    print(before, rss_kib())
    """
)


def _rss_change(mode: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True)
    before, after = out.stdout.split()
    return int(before), int(after)


@pytest.mark.skipif(not release_free_memory(), reason="the C library has no malloc_trim (not glibc)")
def test_released_memory_leaves_the_resident_set() -> None:
    kept_before, kept_after = _rss_change("keep")
    trimmed_before, trimmed_after = _rss_change("trim")
    assert kept_after > kept_before - 20_000  # without a trim the freed heap stays resident
    assert trimmed_after < trimmed_before - 100_000, (trimmed_before, trimmed_after)


def test_the_trimmer_runs_on_its_interval_and_stops() -> None:
    trimmer = MemoryTrimmer(0.01).start()
    try:
        for _ in range(200):
            if trimmer.trims >= 2:
                break
            time.sleep(0.01)
    finally:
        trimmer.close()
    assert trimmer.trims >= 2 or not release_free_memory()
    assert not trimmer._thread.is_alive()
