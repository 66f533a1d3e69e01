"""Inserting through the router in process: batches placed on real shard stores, and streamed
batches prepared while the batch before them is written, yet written in request order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import struct_pb2
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import common_pb2, embedder_pb2, indexer_pb2

from simmesh.indexer.layout import Layout
from simmesh.indexer.router import Router
from simmesh.indexer.shard_servicer import ShardServicer
from simmesh.indexer.store import ShardStore
from simmesh.kit import errors
from simmesh.kit.blobstore import FileBlobStore
from simmesh.kit.errors import Internal, InvalidArgument, NotFound

DIM = 8
SHARDS = 2


def vector(n: int, version: int = 0) -> np.ndarray:
    return np.random.default_rng(n * 100 + version).normal(size=DIM).astype("<f4")


def item(n: int, version: int = 0, **fields) -> indexer_pb2.RecordInput:
    metadata = struct_pb2.Struct()
    metadata.update({"version": version, **fields})
    return indexer_pb2.RecordInput(id=f"r{n}", metadata=metadata,
                                   vector=common_pb2.Vector(dimension=DIM, data=vector(n, version).tobytes()))


def batch(items, upsert: bool = False, collection: str = "collections/items") -> indexer_pb2.InsertRecordsRequest:
    return indexer_pb2.InsertRecordsRequest(collection=collection, records=list(items), upsert=upsert)


class Shards:
    """The router's view of the mesh: one collection whose shards answer in process, through
    a hook that can hold a write back."""

    def __init__(self, stores: list[ShardStore], model: str = "") -> None:
        self.layout = Layout()
        self.stores = stores
        self.servicer = ShardServicer(self)
        self.collection = indexer_pb2.Collection(name="collections/items", dimension=DIM, shard_count=SHARDS,
                                                 model=model)
        self.hook = None  # async (request) -> None, before a write reaches its shard

    def config(self, collection_id: str) -> shard_pb2.CollectionConfig:
        if collection_id != "items":
            raise NotFound(f"collection `collections/{collection_id}` does not exist", reason="COLLECTION_NOT_FOUND")
        return shard_pb2.CollectionConfig(collection=self.collection)

    def store(self, storage: str, shard: int) -> ShardStore:
        return self.stores[shard]

    def stub(self, storage: str, shard: int, collection_id: str = "") -> Shards:
        return self

    async def Write(self, request, timeout=None) -> shard_pb2.WriteResponse:
        request = shard_pb2.WriteRequest.FromString(request.SerializeToString())  # as sent
        if self.hook is not None:
            await self.hook(request)
        return await self.servicer.Write(request, None)

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

    async def Embed(self, request, timeout=None):
        self.called.set()
        data = np.ones((len(request.images), DIM), dtype="<f4")
        return embedder_pb2.EmbedResponse(vectors=common_pb2.VectorBatch(
            dimension=DIM, count=len(request.images), data=data.tobytes()))


@pytest.fixture
def stores(tmp_path: Path):
    opened = [ShardStore.open(indexer_pb2.Collection(name="collections/items", dimension=DIM), shard,
                              tmp_path / f"shard{shard}", FileBlobStore(tmp_path / "blobs"))
              for shard in range(SHARDS)]
    yield opened
    for store in opened:
        store.close()


async def stream(router: Router, requests) -> tuple[list[indexer_pb2.InsertRecordsResponse], Exception | None]:
    async def source():
        for request in requests:
            yield request

    replies = []
    try:
        async for reply in router.insert_stream(source(), lambda: None):
            replies.append(reply)
    except errors.SimmeshError as error:
        return replies, error
    return replies, None


def normed(values: np.ndarray) -> np.ndarray:
    return values / np.linalg.norm(values)


async def test_streamed_batches_reply_in_order_and_the_later_upsert_wins(stores) -> None:
    shards = Shards(stores)
    router = Router(shards, None, None)

    async def slow_second_batch(request) -> None:
        # Were the third batch written before the second was done, the second would win.
        if request.records[0].metadata["version"] == 1:
            await asyncio.sleep(0.2)

    shards.hook = slow_second_batch
    replies, error = await stream(router, [
        batch(item(n, 0) for n in range(20)),
        batch((item(n, 1) for n in range(20)), upsert=True),
        batch((item(n, 2) for n in range(10)), upsert=True),
        batch(item(n, 3) for n in range(15, 25)),
    ])
    assert error is None
    assert [(r.inserted_count, r.updated_count) for r in replies] == [(20, 0), (0, 20), (0, 10), (5, 0)]
    assert list(replies[1].ids) == [f"r{n}" for n in range(20)] and list(replies[2].ids) == [f"r{n}" for n in range(10)]
    assert list(replies[3].ids) == [""] * 5 + [f"r{n}" for n in range(20, 25)]
    assert [(e.index, e.id, errors.from_status(e.status).reason) for e in replies[3].errors] == [
        (i, f"r{15 + i}", "RECORD_EXISTS") for i in range(5)]

    stored = shards.stored(f"r{n}" for n in range(25))
    expected = {f"r{n}": (2 if n < 10 else 1 if n < 20 else 3) for n in range(25)}
    assert {i: version for i, (version, _) in stored.items()} == expected
    for record_id, version in expected.items():
        np.testing.assert_allclose(stored[record_id][1], normed(vector(int(record_id[1:]), version)), rtol=1e-5)


async def test_the_next_batch_is_embedded_while_the_one_before_is_written(stores) -> None:
    shards = Shards(stores, model="models/m")
    embedder = Embedder()
    router = Router(shards, embedder, None)

    async def wait_for_the_next_batch(request) -> None:
        if request.records[0].id.startswith("r"):
            await asyncio.wait_for(embedder.called.wait(), 10)

    shards.hook = wait_for_the_next_batch
    images = batch(indexer_pb2.RecordInput(id=f"img{n}", image=common_pb2.Image(url=f"https://x/{n}.jpg"))
                   for n in range(3))
    replies, error = await stream(router, [batch(item(n) for n in range(10)), images])
    assert error is None and [r.inserted_count for r in replies] == [10, 3]
    assert sorted(shards.stored(["img0", "img1", "img2", "r0"])) == ["img0", "img1", "img2", "r0"]


async def test_item_errors_keep_their_reasons_and_fields(stores) -> None:
    shards = Shards(stores)
    router = Router(shards, None, None)
    nan = item(2)
    nan.vector.data = np.full(DIM, np.nan, dtype="<f4").tobytes()
    short = item(3)
    short.vector.CopyFrom(common_pb2.Vector(dimension=DIM - 1, data=vector(3)[:-1].tobytes()))
    reply = await router.insert("items", [
        item(0), item(1, _secret=1), nan, short, indexer_pb2.RecordInput(id="r4"),
        indexer_pb2.RecordInput(id="r5", image=common_pb2.Image(url="https://x/5.jpg")),
        indexer_pb2.RecordInput(vector=common_pb2.Vector(dimension=DIM, data=vector(6).tobytes()), url="https://x/6"),
    ], False, None)
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


async def test_a_failing_batch_ends_the_stream_after_the_replies_before_it(stores) -> None:
    shards = Shards(stores)
    router = Router(shards, None, None)
    repeated = batch([item(10), item(11), item(10)])
    replies, error = await stream(router, [batch(item(n) for n in range(5)), repeated, batch([item(20)])])
    assert [r.inserted_count for r in replies] == [5]
    assert isinstance(error, InvalidArgument) and error.reason == "DUPLICATE_ID"
    assert error.violations[0][0] == "records[2].id"

    replies, error = await stream(router, [batch([item(30)]), batch([item(31)], collection="collections/nope")])
    assert len(replies) == 1 and isinstance(error, NotFound) and error.reason == "COLLECTION_NOT_FOUND"

    async def fail_second(request) -> None:
        if request.records[0].id == "r41":
            raise Internal("the disk is gone", reason="DISK_GONE")

    shards.hook = fail_second
    replies, error = await stream(router, [batch([item(40)]), batch([item(41)]), batch([item(42)])])
    assert len(replies) == 1 and isinstance(error, Internal) and error.reason == "DISK_GONE"
    await asyncio.sleep(0.05)
    assert shards.stored(["r10", "r11", "r20", "r31", "r41", "r42"]) == {}, "nothing after a failed batch is written"
    assert set(shards.stored(["r30", "r40"])) == {"r30", "r40"}
