"""The request id of the RPC being handled: the caller's `x-request-id`, else one made up here."""

from __future__ import annotations

import contextvars
import itertools
import os

# Request ids for calls that bring none: a random per-process prefix and a counter (unique
# without a system call per RPC).
_ID_PREFIX = os.urandom(4).hex()
_ID_COUNTER = itertools.count(1)

_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("simmesh_request_id", default="")


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


def set_request_id(request_id: str) -> None:
    """Make `request_id` the current one (each RPC runs in its own task: its own context)."""
    _REQUEST_ID.set(request_id)


def current_request_id() -> str:
    """The request id of the RPC being handled (the caller's `x-request-id`, else one made up); "" outside one."""
    return _REQUEST_ID.get()
