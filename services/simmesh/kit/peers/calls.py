"""One way to call a peer service: its errors become the error catalogue's exceptions, once.

A call that never reached the peer (no connection, or no answer before the deadline, without a
status of the peer's own) is Unavailable with reason `{PEER}_UNAVAILABLE` and the peer's address
in its metadata; any other failure is the peer's own error, with its code, reason and field
violations kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import grpc

from simmesh.kit.errors import STATUS_DETAILS_KEY, SimmeshError, Unavailable, from_rpc_error
from simmesh.kit.reasons import Reason

Reply = TypeVar("Reply")
UnaryMethod = Callable[..., Awaitable[Reply]]


def translate(error: grpc.aio.AioRpcError, peer: str, address: str, unavailable: Reason) -> SimmeshError:
    """The peer's own error, or Unavailable naming the peer when the call never reached it."""
    carries_status = any(key == STATUS_DETAILS_KEY for key, _ in (error.trailing_metadata() or ()))
    if not carries_status and error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(
            f"the {peer} at {address} did not answer: {error.details() or error.code().name}",
            reason=unavailable,
            metadata={"address": address},
        )
    return from_rpc_error(error)


class PeerClient:
    """What every typed client shares: the peer's address and the one path its calls take.

    `timeout` of a call is the seconds it may take; None takes `default_timeout` (None: no deadline).
    """

    PEER: ClassVar[str]
    UNAVAILABLE: ClassVar[Reason]

    def __init__(self, channel: grpc.aio.Channel, address: str, *, default_timeout: float | None = None) -> None:
        self.channel = channel
        self.address = address
        self.default_timeout = default_timeout

    def error(self, error: grpc.aio.AioRpcError) -> SimmeshError:
        return translate(error, self.PEER, self.address, self.UNAVAILABLE)

    def timeout(self, timeout: float | None) -> float | None:
        return self.default_timeout if timeout is None else timeout

    async def call(self, method: UnaryMethod[Reply], request: Any, timeout: float | None = None) -> Reply:
        """`method(request)` (a unary or stream-unary stub method) under the call's timeout."""
        try:
            return await method(request, timeout=self.timeout(timeout))
        except grpc.aio.AioRpcError as error:
            raise self.error(error) from None
