"""Waiting on `google.longrunning.Operation`s: training, index builds, re-embedding.

op = client.indexer.rpc.TrainIndex(indexer_pb2.TrainIndexRequest(collection="collections/c"))
with ProgressBar("training index") as bar:
    collection = wait_operation(
        client.operations("indexer"), op,
        response_type=indexer_pb2.Collection,
        metadata_type=indexer_pb2.TrainIndexMetadata,
        on_progress=bar,
    )

A wait that outlasts its `timeout` raises DEADLINE_EXCEEDED with reason `OPERATION_TIMEOUT`,
the SDK's own reason (the operation keeps running on the server).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TextIO, TypeVar

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from tqdm import tqdm

from simmesh_client.closing import Closing
from simmesh_client.errors import SimmeshError, translate_errors

ResponseT = TypeVar("ResponseT", bound=Message)

DEFAULT_POLL_INTERVAL = 0.5

# Reason of the DEADLINE_EXCEEDED a wait raises when its `timeout` passes before the operation is done.
OPERATION_TIMEOUT = "OPERATION_TIMEOUT"


@dataclass(frozen=True)
class OperationTypes(Generic[ResponseT]):
    """What one kind of operation holds when packed: its response, and its progress metadata."""

    response: type[ResponseT]
    metadata: type[Message]


def wait_operation(
    operations: operations_pb2_grpc.OperationsStub,
    operation: operations_pb2.Operation | str,
    *,
    response_type: type[ResponseT],
    metadata_type: type[Message] | None = None,
    timeout: float | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    rpc_timeout: float | None = None,
    on_progress: Callable[[Any], None] | None = None,
) -> ResponseT:
    """Poll an operation with GetOperation until it is done, and return its response.

    `on_progress` gets the operation's metadata (unpacked into `metadata_type`, or the raw
    `Any` without one) each time it changes. `timeout` bounds the whole wait, `rpc_timeout` each
    poll (the channel's default deadline without one). Raises `SimmeshError` with the operation's
    error status when it failed, and DEADLINE_EXCEEDED (reason `OPERATION_TIMEOUT`) when it is
    still running after `timeout` seconds; the operation itself keeps running on the server.
    """
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval}")
    deadline = None if timeout is None else time.monotonic() + timeout
    current = operation if isinstance(operation, operations_pb2.Operation) else None
    name = operation.name if isinstance(operation, operations_pb2.Operation) else operation
    last_metadata: bytes | None = None

    while True:
        if current is None:
            current = _poll(operations, name, deadline, rpc_timeout, timeout)
        if on_progress is not None and current.HasField("metadata") and current.metadata.value != last_metadata:
            last_metadata = current.metadata.value
            on_progress(_unpack(current.metadata, metadata_type, name, "metadata"))
        if current.done:
            return _result(current, response_type)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise _still_running(name, timeout)
        time.sleep(poll_interval if remaining is None else min(poll_interval, remaining))
        current = None


def _poll(
    operations: operations_pb2_grpc.OperationsStub,
    name: str,
    deadline: float | None,
    rpc_timeout: float | None,
    timeout: float | None,
) -> operations_pb2.Operation:
    """One GetOperation, bounded by `rpc_timeout` and by what is left of the whole wait.

    A poll cut short by the whole wait's deadline is the wait timing out, and says so the same
    way as a wait that finds the operation still running when its time is up.
    """
    poll_timeout = rpc_timeout
    cut_by_wait = False
    if deadline is not None:
        remaining = max(deadline - time.monotonic(), 0.001)
        if rpc_timeout is None or remaining <= rpc_timeout:
            poll_timeout, cut_by_wait = remaining, True
    try:
        with translate_errors():
            return operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=poll_timeout)
    except SimmeshError as error:
        if cut_by_wait and error.code is grpc.StatusCode.DEADLINE_EXCEEDED:
            raise _still_running(name, timeout) from error
        raise


def _still_running(name: str, timeout: float | None) -> SimmeshError:
    return SimmeshError(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        f"operation {name} is still running after {timeout:g}s",
        reason=OPERATION_TIMEOUT,
        metadata={"operation": name},
    )


def _result(operation: operations_pb2.Operation, response_type: type[ResponseT]) -> ResponseT:
    if operation.HasField("error"):
        error = SimmeshError.from_status(operation.error)
        error.metadata.setdefault("operation", operation.name)
        raise error
    if not operation.HasField("response"):
        return response_type()
    return _unpack(operation.response, response_type, operation.name, "response")


def _unpack(packed: any_pb2.Any, message_type: type[Any] | None, name: str, part: str) -> Any:
    if message_type is None:
        return packed
    if not packed.Is(message_type.DESCRIPTOR):
        raise TypeError(f"operation {name} {part} is {packed.type_url}, expected {message_type.DESCRIPTOR.full_name}")
    message = message_type()
    packed.Unpack(message)
    return message


class ProgressBar(Closing):
    """A tqdm bar driven by operation metadata that has `progress` (0..1) and `stage` fields.

    Pass it as `on_progress`. It draws to stderr, and only on a terminal unless `disable=False`.
    """

    def __init__(self, description: str = "", *, file: TextIO | None = None, disable: bool | None = None) -> None:
        self._bar = tqdm(
            total=100,
            desc=description,
            file=file if file is not None else sys.stderr,
            disable=disable,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}{postfix}]",
        )

    @property
    def percent(self) -> float:
        return float(self._bar.n)

    def __call__(self, metadata: Any) -> None:
        progress = getattr(metadata, "progress", None)
        if isinstance(progress, float):
            self._bar.n = round(min(max(progress, 0.0), 1.0) * 100, 1)
        stage = getattr(metadata, "stage", "")
        if stage:
            self._bar.set_postfix_str(stage, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()
