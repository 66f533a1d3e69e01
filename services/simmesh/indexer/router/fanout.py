"""The router's calls to its shards: addressing a request, a unary call or a stream's answer, every
shard at once, and a failed call's error as the router raises it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import numpy as np

from simmesh.indexer.layout import storage_of
from simmesh.indexer.shard_map import ShardMap, shard_name, shard_unavailable
from simmesh.indexer.shard_stream import ShardStream, StreamClosed
from simmesh.kit import errors
from simmesh_proto.internal.v1 import shard_pb2

T = TypeVar("T")


def collection_id_in(config: shard_pb2.CollectionConfig) -> str:
    return config.collection.name.split("/")[-1]


def shard_error(error: BaseException, collection_id: str, shard: int) -> BaseException:
    """What the router raises for a failed call to a shard: UNAVAILABLE naming the shard where
    the node is gone or the time ran out, else the error the shard sent."""
    if isinstance(error, asyncio.TimeoutError):
        return shard_unavailable(collection_id, shard, "deadline exceeded")
    if isinstance(error, StreamClosed):
        return shard_unavailable(collection_id, shard, str(error))
    if isinstance(error, grpc.aio.AioRpcError):
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return shard_unavailable(collection_id, shard, error.details() or error.code().name)
        return errors.from_rpc_error(error)
    return error


async def ask_stream(
    stream: ShardStream,
    item: Any,
    timeout: float | None,
    collection_id: str,
    shard: int,
    on_unimplemented: Callable[[], None],
    *,
    unavailable_is_final: bool = False,
) -> Any | None:
    """The shard's answer to `item` on `stream`; None where a unary call is to be made instead:
    the node has no such stream (`on_unimplemented` is called) or refused it before any answer
    (a node without the method can end it with INTERNAL when a request races its refusal; the
    unary call says how the node is). `unavailable_is_final`: a stream refused as UNAVAILABLE
    fails the request too."""
    try:
        return await stream.ask(item, timeout)
    except TimeoutError as error:
        raise shard_error(error, collection_id, shard) from None
    except StreamClosed as error:
        if error.code == grpc.StatusCode.UNIMPLEMENTED:
            on_unimplemented()
        elif stream.answered or (unavailable_is_final and error.code == grpc.StatusCode.UNAVAILABLE):
            raise shard_error(error, collection_id, shard) from None
    return None


def packed_rows(data: bytes, dimension: int) -> np.ndarray | None:
    """A shard's packed float32 vectors as rows; None when it sent none."""
    if not data or not dimension:
        return None
    return np.frombuffer(data, dtype="<f4").reshape(-1, dimension)


class Fanout:
    """Calls to the shards of a collection, found in the shard map."""

    def __init__(self, shards: ShardMap) -> None:
        self.shards = shards

    @staticmethod
    def address(config: shard_pb2.CollectionConfig, shard: int, request: Any, storage: str = "") -> str:
        """Addresses a shard request to `shard` of the collection's storage (or of `storage`);
        returns the collection id."""
        collection_id = collection_id_in(config)
        request.collection = storage or storage_of(collection_id, config)
        request.shard = shard
        return collection_id

    async def call(
        self,
        config: shard_pb2.CollectionConfig,
        shard: int,
        method: str,
        request: Any,
        timeout: float | None,
        *,
        storage: str = "",
    ) -> Any:
        """`method` on the node serving `shard` of the collection's storage (or of `storage`)."""
        collection_id = self.address(config, shard, request, storage)
        stub = self.shards.stub(request.collection, shard, collection_id)
        try:
            return await getattr(stub, method)(request, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            raise shard_error(error, collection_id, shard) from None

    async def search(
        self, config: shard_pb2.CollectionConfig, shard: int, request: shard_pb2.SearchRequest, timeout: float | None
    ) -> shard_pb2.SearchResponse:
        """A small search of one shard, on the stream to its node (see `shard_stream`); over a
        unary call where the node has no stream."""
        item = shard_pb2.SearchStreamRequest(search=request)
        collection_id = self.address(config, shard, item.search)
        storage = item.search.collection
        stream = self.shards.search_stream(storage, shard, collection_id)
        if stream is not None:
            reply = await ask_stream(
                stream, item, timeout, collection_id, shard, lambda: self.shards.unary_only(storage, shard)
            )
            if reply is not None:
                return reply
        return await self.call(config, shard, "Search", item.search, timeout)

    async def each_shard(
        self, config: shard_pb2.CollectionConfig, call: Callable[[int], Awaitable[T]], *, allow_partial: bool = False
    ) -> tuple[dict[int, T], list[str]]:
        """`call(shard)` on every shard at once; results by shard and the shards that failed
        (only with `allow_partial`; otherwise the first unavailable shard fails the call)."""
        shard_ids = list(range(config.collection.shard_count))
        outcomes = await asyncio.gather(*(call(s) for s in shard_ids), return_exceptions=True)
        results, missing = {}, []
        for shard, outcome in zip(shard_ids, outcomes):
            if isinstance(outcome, errors.Unavailable) and allow_partial:
                missing.append(shard_name(collection_id_in(config), shard))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results[shard] = outcome
        return results, missing
