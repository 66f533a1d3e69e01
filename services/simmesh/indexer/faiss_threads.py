"""How many OpenMP threads each FAISS call gets.

FAISS releases the GIL inside every search, add and train, so callers run searches
through threads (`asyncio.to_thread`) and they proceed in parallel. FAISS also spreads one call
over an OpenMP team, whose size libgomp keeps per calling thread: a setting made in the main
thread never reaches worker threads. So every FAISS call sets it for its own thread: 1 for
fewer than SMALL_BATCH queries or vectors (measured on 2 cores: a single exact query over 20k
vectors took 2 ms alone and 14 ms split over 2 threads, and concurrent single queries are
better spread over cores by the callers' threads), and `configure_threads(n)` (default: the
cores this process may use) for larger batches, adds and training.
"""

from __future__ import annotations

import os

import faiss

# Calls with fewer queries (or vectors) than this run FAISS on one OpenMP thread.
SMALL_BATCH = 20


class _OpenMP:
    """The OpenMP team size for batch work (0: the cores this process may use)."""

    batch_threads = 0

    @classmethod
    def use(cls, work_items: int) -> None:
        """Sizes the calling thread's team for a call over `work_items` queries or vectors."""
        faiss.omp_set_num_threads(1 if work_items < SMALL_BATCH else (cls.batch_threads or _cores()))


def use_threads(work_items: int) -> None:
    """Sizes the calling thread's OpenMP team for a FAISS call over `work_items` queries or
    vectors (see the module docstring)."""
    _OpenMP.use(work_items)


def configure_threads(threads: int = 0) -> int:
    """Sets how many OpenMP threads FAISS uses for batches, adds and training: `threads`, or
    the cores this process may use when 0. Returns the number in effect."""
    _OpenMP.batch_threads = max(0, threads)
    return _OpenMP.batch_threads or _cores()


def _cores() -> int:
    return len(os.sched_getaffinity(0))
