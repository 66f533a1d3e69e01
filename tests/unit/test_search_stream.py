"""Small searches on one multiplexed `SearchStream` call: a real gRPC server hosting the shard
servicer over real shard stores, and the router's stream client."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

from simmesh.indexer.layout import Layout
from simmesh.indexer.requests import search_plan
from simmesh.indexer.router import Router
from simmesh.indexer.shard_servicer import ShardServicer
from simmesh.indexer.shard_stream import ShardStream, StreamClosed
from simmesh.indexer.store import ShardStore
from simmesh.kit import errors
from simmesh.kit.blobstore import FileBlobStore
from simmesh.kit.channels import open_channel
from simmesh.kit.errors import NotFound
from simmesh_proto.internal.v1 import shard_pb2, shard_pb2_grpc
from simmesh_proto.v1 import common_pb2, indexer_pb2

DIM = 8
SLOW_K = 77  # searches with this k are held back by the test's servicer


class Node:
    """The shard node as the servicer sees it: one store per shard of collection `items`."""

    def __init__(self, stores: list[ShardStore]) -> None:
        self.stores = stores

    def store(self, collection: str, shard: int) -> ShardStore:
        if collection != "items" or not 0 <= shard < len(self.stores):
            raise NotFound(f"shard {collection}/{shard} is not on this node", reason="SHARD_NOT_FOUND")
        return self.stores[shard]


class SlowServicer(ShardServicer):
    """Holds searches with k == SLOW_K back until `release` is set."""

    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.release = asyncio.Event()

    async def _search(self, request):
        if request.k == SLOW_K:
            await self.release.wait()
        return await super()._search(request)


class UnaryOnly(shard_pb2_grpc.ShardServiceServicer):
    """A node of an older version: unary Search only."""

    def __init__(self, node: Node) -> None:
        self.inner = ShardServicer(node)
        self.calls = 0

    async def Search(self, request, context):
        self.calls += 1
        return await self.inner.Search(request, context)


def vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype("<f4")


@pytest.fixture
def stores(tmp_path: Path):
    data = vectors(200)
    opened = []
    for shard in range(2):
        store = ShardStore.open(
            indexer_pb2.Collection(name="collections/items", dimension=DIM, metric=indexer_pb2.METRIC_INNER_PRODUCT),
            shard,
            tmp_path / f"shard{shard}",
            FileBlobStore(tmp_path / "blobs"),
        )
        records = []
        for i in range(shard, len(data), 2):
            record = shard_pb2.ShardRecord(id=f"r{i}")
            record.metadata.update({"colour": "red" if i % 3 else "blue", "n": i})
            records.append(record)
        store.write(records, data[shard::2])
        opened.append(store)
    yield opened
    for store in opened:
        store.close()


async def serve(servicer) -> tuple[grpc.aio.Server, grpc.aio.Channel]:
    server = grpc.aio.server()
    shard_pb2_grpc.add_ShardServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, open_channel(f"127.0.0.1:{port}")


def search_request(query: np.ndarray, k: int = 5, shard: int = 0, **fields) -> shard_pb2.SearchRequest:
    return shard_pb2.SearchRequest(
        collection="items",
        shard=shard,
        queries=query.tobytes(),
        query_count=len(query),
        dimension=DIM,
        k=k,
        include_metadata=True,
        **fields,
    )


def red_filter() -> struct_pb2.Struct:
    spec = struct_pb2.Struct()
    spec.update({"colour": "red"})
    return spec


@contextlib.asynccontextmanager
async def serving(servicer):
    """`servicer` on a real gRPC server; yields the server, a stub and a search stream to it."""
    server, channel = await serve(servicer)
    stub = shard_pb2_grpc.ShardServiceStub(channel)
    stream = ShardStream(stub.SearchStream)
    try:
        yield server, stub, stream
    finally:
        await stream.close()
        await channel.close()
        await server.stop(None)


def ask(stream: ShardStream, request: shard_pb2.SearchRequest, timeout: float = 10.0):
    return stream.ask(shard_pb2.SearchStreamRequest(search=request), timeout)


async def test_concurrent_searches_get_their_own_answers(stores):
    async with serving(ShardServicer(Node(stores))) as (_, stub, stream):
        queries = vectors(40, seed=1)
        # Unfiltered ones are answered inline, filtered ones in worker threads (so out of order).
        requests = [
            search_request(queries[i : i + 1], k=1 + i % 7, shard=i % 2, filter=red_filter() if i % 4 == 0 else None)
            for i in range(len(queries))
        ]
        streamed = await asyncio.gather(*(ask(stream, r) for r in requests))
        unary = [await stub.Search(r) for r in requests]
        for request, got, expected in zip(requests, streamed, unary):
            assert list(got.ids) == list(expected.ids)
            assert got.scores == expected.scores
            assert len(got.ids) == request.k
        filtered = [got for request, got in zip(requests, streamed) if request.HasField("filter")]
        assert all(r.metadata["colour"] == "red" for got in filtered for r in got.records)


async def test_a_rejected_search_raises_its_error_and_the_stream_goes_on(stores):
    async with serving(ShardServicer(Node(stores))) as (_, _, stream):
        query = vectors(1, seed=2)
        with pytest.raises(errors.NotFound) as missing:
            await ask(stream, search_request(query, shard=5))
        assert missing.value.reason == "SHARD_NOT_FOUND"
        bad = search_request(query)
        bad.dimension = DIM + 1
        bad.queries = vectors(1, seed=3).tobytes()[:-4]
        with pytest.raises(errors.InvalidArgument):
            await ask(stream, bad)
        reply = await ask(stream, search_request(query))
        assert len(reply.ids) == 5 and stream.open


async def test_a_late_search_times_out_without_holding_up_the_others(stores):
    servicer = SlowServicer(Node(stores))
    async with serving(servicer) as (_, _, stream):
        query = vectors(1, seed=4)
        slow = asyncio.ensure_future(ask(stream, search_request(query, k=SLOW_K, filter=red_filter()), 0.3))
        quick = await ask(stream, search_request(query, k=3))
        assert len(quick.ids) == 3 and not slow.done()
        with pytest.raises(asyncio.TimeoutError):
            await slow
        servicer.release.set()  # its late answer is dropped; the stream still works
        again = await ask(stream, search_request(query, k=4))
        assert len(again.ids) == 4


async def test_searches_in_flight_fail_when_the_node_goes_away(stores):
    servicer = SlowServicer(Node(stores))
    async with serving(servicer) as (server, _, stream):
        held = asyncio.ensure_future(ask(stream, search_request(vectors(1), k=SLOW_K, filter=red_filter())))
        await asyncio.sleep(0.2)
        await server.stop(None)
        with pytest.raises(StreamClosed):
            await held
        assert not stream.open
        with pytest.raises(StreamClosed):
            await ask(stream, search_request(vectors(1)))
        servicer.release.set()


class Shards:
    """The router's view of the mesh: collection `items` on one node at `channel`."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.layout = Layout()
        self.channel = channel
        self.stream: ShardStream | None = None
        self.unary = False

    def config(self, collection_id: str) -> shard_pb2.CollectionConfig:
        return shard_pb2.CollectionConfig(
            collection=indexer_pb2.Collection(
                name="collections/items", dimension=DIM, shard_count=2, metric=indexer_pb2.METRIC_INNER_PRODUCT
            )
        )

    def stub(self, storage: str, shard: int, collection_id: str = "") -> shard_pb2_grpc.ShardServiceStub:
        return shard_pb2_grpc.ShardServiceStub(self.channel)

    def storages(self) -> set[str]:
        return {"items"}

    def search_stream(self, storage: str, shard: int, collection_id: str = "") -> ShardStream | None:
        if self.unary:
            return None
        if self.stream is None or not self.stream.open:
            self.stream = ShardStream(self.stub(storage, shard).SearchStream)
        return self.stream

    def unary_only(self, storage: str, shard: int) -> None:
        self.unary = True


def router_search(query: np.ndarray, k: int = 6) -> indexer_pb2.SearchRequest:
    return indexer_pb2.SearchRequest(
        collection="collections/items",
        k=k,
        queries=[indexer_pb2.Query(vector=common_pb2.Vector(dimension=DIM, data=q.tobytes())) for q in query],
    )


@pytest.mark.parametrize("node_kind", ["streaming", "unary-only"])
async def test_router_searches_each_shard_once_on_the_stream_or_unary(stores, node_kind):
    node = Node(stores)
    servicer = ShardServicer(node) if node_kind == "streaming" else UnaryOnly(node)
    server, channel = await serve(servicer)
    try:
        shards = Shards(channel)
        router = Router(shards, None, None)
        data = vectors(200)
        queries = vectors(3, seed=5)
        for _ in range(2):
            reply = await router.search.run(search_plan(router_search(queries)), 10)
            for result, row in zip(reply.results, queries @ data.T):
                assert [h.id for h in result.hits] == [f"r{j}" for j in np.argsort(-row)[:6]]
                assert [h.score for h in result.hits] == pytest.approx(np.sort(row)[::-1][:6], rel=1e-5)
        if node_kind == "unary-only":
            # Each search of each shard was answered by a unary call after the stream was refused.
            assert servicer.calls == 4
        else:
            assert shards.stream is not None and shards.stream.open
            await shards.stream.close()
    finally:
        await channel.close()
        await server.stop(None)
