"""Inserting through the router in process: batches placed on real shard stores, and streamed
batches prepared while the batch before them is written, yet written in request order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

from simmesh.indexer.layout import Layout, placement
from simmesh.indexer.requests import insert_batch, search_plan
from simmesh.indexer.router import Router
from simmesh.indexer.router.plans import InsertBatch
from simmesh.indexer.router.write_streams import WriteStreams
from simmesh.indexer.shard_servicer import ShardServicer
from simmesh.indexer.store import ShardStore
from simmesh.kit import errors
from simmesh.kit.blobstore import FileBlobStore
from simmesh.kit.channels import open_channel
from simmesh.kit.errors import Internal, InvalidArgument, NotFound
from simmesh.kit.server import binding, build_server
from simmesh.kit.settings import ServerSettings
from simmesh_proto.internal.v1 import shard_pb2, shard_pb2_grpc
from simmesh_proto.v1 import common_pb2, embedder_pb2, indexer_pb2

DIM = 8
SHARDS = 2


def vector(n: int, version: int = 0) -> np.ndarray:
    return np.random.default_rng(n * 100 + version).normal(size=DIM).astype("<f4")


def item(n: int, version: int = 0, **fields) -> indexer_pb2.RecordInput:
    metadata = struct_pb2.Struct()
    metadata.update({"version": version, **fields})
    return indexer_pb2.RecordInput(
        id=f"r{n}", metadata=metadata, vector=common_pb2.Vector(dimension=DIM, data=vector(n, version).tobytes())
    )


def placement_of(record_id: str) -> int:
    return placement(record_id, SHARDS)


def batch(items, upsert: bool = False, collection: str = "collections/items") -> indexer_pb2.InsertRecordsRequest:
    return indexer_pb2.InsertRecordsRequest(collection=collection, records=list(items), upsert=upsert)


class HookedServicer(ShardServicer):
    """The shard servicer, with a hook that can hold a batch back before it is written, and the
    ids of the records that arrived on its write streams."""

    def __init__(self, node) -> None:
        super().__init__(node)
        self.hook = None  # async (request) -> None, before a batch is written
        self.arrived: set[str] = set()

    async def WriteStream(self, requests, context) -> None:
        async def arriving():
            async for item in requests:
                self.arrived.update(r.id for r in item.write.records)
                yield item

        await super().WriteStream(arriving(), context)

    async def _write(self, request: shard_pb2.WriteRequest) -> shard_pb2.WriteResponse:
        if self.hook is not None:
            await self.hook(request)
        return await super()._write(request)


async def until(condition, what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} never happened")


class UnaryWrites(ShardServicer):
    """A node of an older version: unary Write only, no write streams."""

    def __init__(self, node) -> None:
        super().__init__(node)
        self.calls = 0

    async def Write(self, request, context):
        self.calls += 1
        return await super().Write(request, context)

    async def WriteStream(self, requests, context):
        raise errors.Unimplemented("ShardService.WriteStream is not implemented", reason="NOT_IMPLEMENTED")


class Shards:
    """The router's view of the mesh: one collection whose shards are served by one real shard
    server (`start`), whose servicer's hook can hold a write back."""

    def __init__(self, stores: list[ShardStore], model: str = "", servicer=HookedServicer) -> None:
        self.layout = Layout()
        self.stores = stores
        self.servicer = servicer(self)
        self.collection = indexer_pb2.Collection(
            name="collections/items", dimension=DIM, shard_count=SHARDS, model=model
        )
        self.app = None
        self.channel: grpc.aio.Channel | None = None

    async def start(self) -> Shards:
        settings = ServerSettings(host="127.0.0.1", port=0, metrics_port=-1, shutdown_grace=1)
        self.app = build_server(
            settings, [binding(self.servicer, shard_pb2, shard_pb2_grpc, "ShardService")], service_label="shard"
        )
        await self.app.start()
        self.channel = open_channel(self.app.address)
        self._stub = shard_pb2_grpc.ShardServiceStub(self.channel)
        return self

    async def stop(self) -> None:
        await self.channel.close()
        await self.app.stop(0)

    @property
    def hook(self):
        return self.servicer.hook

    @hook.setter
    def hook(self, hook) -> None:
        self.servicer.hook = hook

    def config(self, collection_id: str) -> shard_pb2.CollectionConfig:
        if collection_id != "items":
            raise NotFound(f"collection `collections/{collection_id}` does not exist", reason="COLLECTION_NOT_FOUND")
        return shard_pb2.CollectionConfig(collection=self.collection)

    def store(self, storage: str, shard: int) -> ShardStore:
        return self.stores[shard]

    def stub(self, storage: str, shard: int, collection_id: str = "") -> shard_pb2_grpc.ShardServiceStub:
        return self._stub  # one per node process, as ShardMap gives

    def storages(self) -> set[str]:
        return {"items"}

    def stored(self, ids) -> dict[str, tuple[float, np.ndarray]]:
        """id -> (metadata version, vector) of the stored records."""
        out, ids = {}, list(ids)
        for store in self.stores:
            found = store.get(ids, include_vectors=True)
            for record, stored_vector in zip(found.records, found.vectors):
                out[record.id] = (record.metadata.get("version"), stored_vector)
        return out


class Embedder:
    """Embeds every image as a fixed vector, and says when it was called."""

    def __init__(self) -> None:
        self.called = asyncio.Event()

    async def embed(self, model, images, ids=(), timeout=None):
        self.called.set()
        data = np.ones((len(images), DIM), dtype="<f4")
        return embedder_pb2.EmbedResponse(
            vectors=common_pb2.VectorBatch(dimension=DIM, count=len(images), data=data.tobytes())
        )


@pytest.fixture
def stores(tmp_path: Path):
    opened = [
        ShardStore.open(
            indexer_pb2.Collection(name="collections/items", dimension=DIM),
            shard,
            tmp_path / f"shard{shard}",
            FileBlobStore(tmp_path / "blobs"),
        )
        for shard in range(SHARDS)
    ]
    yield opened
    for store in opened:
        store.close()


@pytest.fixture
async def served(stores):
    """`served(model="", servicer=HookedServicer)`: Shards over the stores, on a started shard
    server stopped after the test."""
    started: list[Shards] = []

    async def start(model: str = "", servicer=HookedServicer) -> Shards:
        started.append(await Shards(stores, model, servicer).start())
        return started[-1]

    yield start
    for shards in started:
        await shards.stop()


async def stream(router: Router, requests) -> tuple[list[indexer_pb2.InsertRecordsResponse], Exception | None]:
    async def source():
        for request in requests:
            yield insert_batch(request)

    replies = []
    try:
        async for reply in router.writes.insert_stream(source(), lambda: None):
            replies.append(reply)
    except errors.SimmeshError as error:
        return replies, error
    return replies, None


def normed(values: np.ndarray) -> np.ndarray:
    return values / np.linalg.norm(values)


async def test_streamed_batches_reply_in_order_and_the_later_upsert_wins(stores, served) -> None:
    shards = await served()
    router = Router(shards, None, None)

    async def slow_second_batch(request) -> None:
        # Were the third batch written before the second was done, the second would win.
        if request.records[0].metadata["version"] == 1:
            await asyncio.sleep(0.2)

    shards.hook = slow_second_batch
    replies, error = await stream(
        router,
        [
            batch(item(n, 0) for n in range(20)),
            batch((item(n, 1) for n in range(20)), upsert=True),
            batch((item(n, 2) for n in range(10)), upsert=True),
            batch(item(n, 3) for n in range(15, 25)),
        ],
    )
    assert error is None
    assert [(r.inserted_count, r.updated_count) for r in replies] == [(20, 0), (0, 20), (0, 10), (5, 0)]
    assert list(replies[1].ids) == [f"r{n}" for n in range(20)] and list(replies[2].ids) == [f"r{n}" for n in range(10)]
    assert list(replies[3].ids) == [""] * 5 + [f"r{n}" for n in range(20, 25)]
    assert [(e.index, e.id, errors.from_status(e.status).reason) for e in replies[3].errors] == [
        (i, f"r{15 + i}", "RECORD_EXISTS") for i in range(5)
    ]

    stored = shards.stored(f"r{n}" for n in range(25))
    expected = {f"r{n}": (2 if n < 10 else 1 if n < 20 else 3) for n in range(25)}
    assert {i: version for i, (version, _) in stored.items()} == expected
    for record_id, version in expected.items():
        np.testing.assert_allclose(stored[record_id][1], normed(vector(int(record_id[1:]), version)), rtol=1e-5)


async def test_the_next_batch_is_embedded_while_the_one_before_is_written(stores, served) -> None:
    shards = await served(model="models/m")
    embedder = Embedder()
    router = Router(shards, embedder, None)

    async def wait_for_the_next_batch(request) -> None:
        if request.records[0].id.startswith("r"):
            await asyncio.wait_for(embedder.called.wait(), 10)

    shards.hook = wait_for_the_next_batch
    images = batch(
        indexer_pb2.RecordInput(id=f"img{n}", image=common_pb2.Image(url=f"https://x/{n}.jpg")) for n in range(3)
    )
    replies, error = await stream(router, [batch(item(n) for n in range(10)), images])
    assert error is None and [r.inserted_count for r in replies] == [10, 3]
    assert sorted(shards.stored(["img0", "img1", "img2", "r0"])) == ["img0", "img1", "img2", "r0"]


async def test_item_errors_keep_their_reasons_and_fields(stores, served) -> None:
    shards = await served()
    router = Router(shards, None, None)
    nan = item(2)
    nan.vector.data = np.full(DIM, np.nan, dtype="<f4").tobytes()
    short = item(3)
    short.vector.CopyFrom(common_pb2.Vector(dimension=DIM - 1, data=vector(3)[:-1].tobytes()))
    reply = await router.writes.insert(
        InsertBatch(
            "items",
            [
                item(0),
                item(1, _secret=1),
                nan,
                short,
                indexer_pb2.RecordInput(id="r4"),
                indexer_pb2.RecordInput(id="r5", image=common_pb2.Image(url="https://x/5.jpg")),
                indexer_pb2.RecordInput(
                    vector=common_pb2.Vector(dimension=DIM, data=vector(6).tobytes()), url="https://x/6"
                ),
            ],
            False,
        ),
        None,
    )
    failures = {}
    for e in reply.errors:
        error = errors.from_status(e.status)
        failures[e.index] = (e.id, error.reason, [field for field, _ in error.violations])
    assert failures == {
        1: ("", "RESERVED_FIELD", ["records[1].metadata"]),
        2: ("", "INVALID_VECTOR", ["records[2].vector"]),
        3: ("", "DIMENSION_MISMATCH", ["records[3].vector"]),
        4: ("", "NO_VECTOR_OR_IMAGE", ["records[4]"]),
        5: ("", "NO_MODEL", ["records[5].image"]),
    }
    generated = reply.ids[6]
    assert list(reply.ids) == ["r0", "", "", "", "", "", generated] and len(generated) == 32
    assert reply.inserted_count == 2
    got = [r for store in stores for r in store.get([generated]).records]
    assert got[0].url == "https://x/6" and got[0].metadata == {}


async def test_a_zero_vector_in_a_cosine_batch_fails_only_its_item(stores, served) -> None:
    shards = await served()  # a collection without a metric is a cosine one
    router = Router(shards, None, None)
    zero = item(3)
    zero.vector.data = np.zeros(DIM, dtype="<f4").tobytes()
    records = [item(n) for n in range(8)]
    records[3] = zero
    reply = await router.writes.insert(InsertBatch("items", records, False), None)
    assert [(e.index, e.id) for e in reply.errors] == [(3, "")]
    error = errors.from_status(reply.errors[0].status)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.reason == "INVALID_VECTOR"
    assert [field for field, _ in error.violations] == ["records[3].vector"]
    assert reply.inserted_count == 7
    assert sorted(shards.stored([f"r{n}" for n in range(8)])) == [f"r{n}" for n in range(8) if n != 3]


async def test_a_zero_query_vector_of_a_cosine_search_names_its_query(stores, served) -> None:
    router = Router(await served(), None, None)
    queries = [vector(0), np.zeros(DIM, dtype="<f4")]
    request = indexer_pb2.SearchRequest(
        collection="collections/items",
        k=3,
        queries=[indexer_pb2.Query(vector=common_pb2.Vector(dimension=DIM, data=q.tobytes())) for q in queries],
    )
    with pytest.raises(InvalidArgument) as caught:
        await router.search.run(search_plan(request), 10)
    assert caught.value.reason == "INVALID_VECTOR"
    assert [field for field, _ in caught.value.violations] == ["queries[1].vector"]


async def test_a_failing_batch_ends_the_stream_after_the_replies_before_it(stores, served) -> None:
    shards = await served()
    router = Router(shards, None, None)
    repeated = batch([item(10), item(11), item(10)])
    replies, error = await stream(router, [batch(item(n) for n in range(5)), repeated, batch([item(20)])])
    assert [r.inserted_count for r in replies] == [5]
    assert isinstance(error, InvalidArgument) and error.reason == "DUPLICATE_ID"
    assert error.violations[0][0] == "records[2].id"

    replies, error = await stream(router, [batch([item(30)]), batch([item(31)], collection="collections/nope")])
    assert len(replies) == 1 and isinstance(error, NotFound) and error.reason == "COLLECTION_NOT_FOUND"
    await asyncio.sleep(0.05)
    assert shards.stored(["r10", "r11", "r20", "r31"]) == {}, "nothing after a failed batch is written"
    assert sorted(shards.stored(["r0", "r30"])) == ["r0", "r30"]


async def test_a_batch_a_shard_fails_comes_back_as_item_errors_and_the_stream_goes_on(stores, served) -> None:
    shards = await served()
    router = Router(shards, None, None)
    ids = [f"r{n}" for n in range(40, 60)]
    lost = [i for i in ids[5:15] if placement_of(i) == 0]  # the second batch's records on shard 0

    async def fail_shard_0_of_the_second_batch(request) -> None:
        if request.shard == 0 and request.records[0].metadata["version"] == 1:
            raise Internal("the disk is gone", reason="DISK_GONE")

    shards.hook = fail_shard_0_of_the_second_batch
    replies, error = await stream(
        router,
        [
            batch(item(n) for n in range(40, 45)),
            batch(item(n, 1) for n in range(45, 55)),
            batch(item(n, 2) for n in range(55, 60)),
        ],
    )
    assert error is None and [r.inserted_count for r in replies] == [5, 10 - len(lost), 5]
    failed = [(e.id, errors.from_status(e.status).reason) for e in replies[1].errors]
    assert failed == [(i, "DISK_GONE") for i in lost] and lost
    assert [i for i in replies[1].ids if i] == [i for i in ids[5:15] if i not in lost]
    assert sorted(shards.stored(ids)) == sorted(i for i in ids if i not in lost)


async def test_each_shard_has_the_next_batch_while_it_writes_one_and_writes_them_in_order(stores, served) -> None:
    shards = await served()
    router = Router(shards, None, None)
    later = [f"r{n}" for n in range(20, 30)]
    assert {placement_of(i) for i in later} == {0, 1}

    async def hold_the_first_batch(request) -> None:
        if request.records[0].metadata["version"] == 0:
            await until(lambda: shards.servicer.arrived >= set(later), "the second batch's arrival")
            if request.shard == 0:
                # Shard 1 goes on to its part of the second batch while shard 0 writes the first.
                await until(
                    lambda: {i for i in later if placement_of(i) == 1} <= set(shards.stored(later)),
                    "shard 1's write of the second batch",
                )
            assert not {i for i in later if placement_of(i) == request.shard} & set(shards.stored(later)), (
                "a shard wrote a batch before the one before it"
            )

    shards.hook = hold_the_first_batch
    replies, error = await stream(router, [batch(item(n) for n in range(20)), batch(item(n, 1) for n in range(20, 30))])
    assert error is None and [r.inserted_count for r in replies] == [20, 10]
    assert len(shards.stored(f"r{n}" for n in range(30))) == 30


def shard_write(n: int) -> shard_pb2.WriteRequest:
    """Record r{n} with vector(n), as the router writes it to shard 0 of `items`."""
    return shard_pb2.WriteRequest(
        collection="items",
        shard=0,
        records=[shard_pb2.ShardRecord(id=f"r{n}")],
        dimension=DIM,
        vectors=vector(n).tobytes(),
    )


async def test_a_shard_stream_that_ended_is_replaced_by_a_new_one(stores, served) -> None:
    shards = await served()
    config = shards.config("items")
    streams = WriteStreams(shards, None, lambda: 10.0)
    assert (await streams.write(config, 0, shard_write(1), 10.0)).inserted_count == 1
    ((_, ended),) = streams._streams.values()
    await ended.close()  # as when the node restarts
    assert (await streams.write(config, 0, shard_write(2), 10.0)).inserted_count == 1
    ((_, replaced),) = streams._streams.values()
    assert replaced is not ended and replaced.open
    assert sorted(shards.stored(["r1", "r2"])) == ["r1", "r2"]
    await streams.close(cleanly=True)
    assert not replaced.open


async def test_a_node_without_write_streams_gets_unary_writes(stores, served) -> None:
    shards = await served(servicer=UnaryWrites)
    router = Router(shards, None, None)
    replies, error = await stream(router, [batch(item(n) for n in range(6)), batch(item(n) for n in range(6, 9))])
    assert error is None and [r.inserted_count for r in replies] == [6, 3]
    assert len(shards.stored(f"r{n}" for n in range(9))) == 9
    assert shards.servicer.calls == 4  # each batch's part on each shard, once


class Restarted:
    """A shard map whose shards are served by `nodes[current]`: a new `current` is a restart."""

    def __init__(self, nodes: list[Shards]) -> None:
        self.nodes = nodes
        self.current = 0

    def stub(self, storage: str, shard: int, collection_id: str = "") -> shard_pb2_grpc.ShardServiceStub:
        return self.nodes[self.current].stub(storage, shard, collection_id)

    def unary(self, config, shard: int, request: shard_pb2.WriteRequest, timeout: float | None):
        return self.stub(request.collection, shard).Write(request, timeout=timeout)


async def test_write_streams_move_to_the_node_process_that_replaced_theirs(stores, served) -> None:
    nodes = Restarted([await served(), await served()])
    streams = WriteStreams(nodes, nodes.unary, lambda: 10.0)
    config = nodes.nodes[0].config("items")
    assert (await streams.write(config, 0, shard_write(1), 10.0)).inserted_count == 1
    ((_, before),) = streams._streams.values()
    nodes.current = 1
    assert (await streams.write(config, 0, shard_write(2), 10.0)).inserted_count == 1
    ((stub, after),) = streams._streams.values()
    assert stub is nodes.nodes[1].stub("items", 0) and after is not before and after.open
    await streams.close(cleanly=True)
    assert not before.open and not after.open
    assert sorted(nodes.nodes[1].stored(["r1", "r2"])) == ["r1", "r2"]


async def test_a_node_without_write_streams_restarted_as_one_with_them_gets_streams_again(stores, served) -> None:
    nodes = Restarted([await served(servicer=UnaryWrites), await served()])
    streams = WriteStreams(nodes, nodes.unary, lambda: 10.0)
    config = nodes.nodes[0].config("items")
    for n in (1, 2):
        assert (await streams.write(config, 0, shard_write(n), 10.0)).inserted_count == 1
    assert nodes.nodes[0].servicer.calls == 2  # the stream refused, each write unary
    nodes.current = 1
    assert (await streams.write(config, 0, shard_write(3), 10.0)).inserted_count == 1
    ((stub, stream),) = streams._streams.values()
    assert stub is nodes.nodes[1].stub("items", 0) and stream.open and stream.answered == 1
    assert nodes.nodes[0].servicer.calls == 2
    await streams.close(cleanly=True)
