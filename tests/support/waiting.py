"""Waiting for a condition in tests that start real processes, and timing how long it took."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

from simmesh_client.errors import SimmeshError


def seconds_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> float:
    """How long `condition` took to hold (failing the test after `timeout`); errors count as not yet."""
    began = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - began < timeout:
        try:
            if condition():
                return time.monotonic() - began
        except (grpc.RpcError, SimmeshError) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"still not so after {timeout:.0f}s" + (f"; the last error: {last}" if last else ""))
