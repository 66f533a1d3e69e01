"""Inserts a client can retry: a batch sent again under its request id is answered as a replay,
and record ids are checked at the edge, item by item."""

from __future__ import annotations

import numpy as np
import pytest
import test_router_insert
from test_router_insert import HookedServicer, batch, item, placement_of

from simmesh.indexer.requests import insert_batch, record_name_of
from simmesh.indexer.router import Router
from simmesh.indexer.router.replays import Replays
from simmesh.indexer.store import ShardStore
from simmesh.kit import errors, reasons
from simmesh.kit.blobstore import FileBlobStore
from simmesh.kit.errors import InvalidArgument, Unavailable
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import indexer_pb2

# The shard stores and the shard server of the insert tests.
stores = test_router_insert.stores
served = test_router_insert.served


class LandThenFail(HookedServicer):
    """Writes a batch, then fails the shard's reply once where `fail_shard` says: the write
    landed, the router does not know it."""

    fail_shard: int | None = None
    writes = 0

    async def _write(self, request):
        reply = await super()._write(request)
        self.writes += 1
        if request.shard == self.fail_shard:
            self.fail_shard = None
            raise Unavailable("the shard went away", reason=reasons.SHARD_UNAVAILABLE)
        return reply


def reasons_of(reply: indexer_pb2.InsertRecordsResponse) -> dict[str, str]:
    return {e.id: errors.from_status(e.status).reason for e in reply.errors}


def with_id(request: indexer_pb2.InsertRecordsRequest, request_id: str) -> indexer_pb2.InsertRecordsRequest:
    request.request_id = request_id
    return request


async def test_items_retried_under_the_request_id_that_landed_before_are_stored_not_refused(stores, served) -> None:
    shards = await served(servicer=LandThenFail)
    router = Router(shards, None, None)
    records = [item(n) for n in range(20)]
    on_shard_0 = [r.id for r in records if placement_of(r.id) == 0]
    shards.servicer.fail_shard = 0
    first = await router.writes.insert(insert_batch(with_id(batch(records), "req-1")), None)
    assert reasons_of(first) == {i: "SHARD_UNAVAILABLE" for i in on_shard_0}
    assert first.inserted_count == 20 - len(on_shard_0)

    retried = [r for r in records if r.id in on_shard_0]
    again = await router.writes.insert(insert_batch(with_id(batch(retried), "req-1")), None)
    assert not again.errors and list(again.ids) == on_shard_0 and again.inserted_count == len(on_shard_0)

    # The same items under another request id are a new insert of existing records.
    other = await router.writes.insert(insert_batch(with_id(batch(retried), "req-2")), None)
    assert set(reasons_of(other).values()) == {"RECORD_EXISTS"}
    assert sorted(shards.stored(r.id for r in records)) == sorted(r.id for r in records)


async def test_a_retry_through_another_router_is_a_replay_that_the_shards_recognise(stores, served) -> None:
    shards = await served(servicer=LandThenFail)
    records = [item(n) for n in range(20)]
    shards.servicer.fail_shard = 0
    first = await Router(shards, None, None).writes.insert(insert_batch(with_id(batch(records), "req-1")), None)
    assert first.errors

    # A new router (the first one crashed) has no memory of the batch; the shards have.
    again = await Router(shards, None, None).writes.insert(insert_batch(with_id(batch(records), "req-1")), None)
    assert not again.errors and list(again.ids) == [r.id for r in records] and again.inserted_count == 20
    other = await Router(shards, None, None).writes.insert(insert_batch(with_id(batch(records[:3]), "req-2")), None)
    assert set(reasons_of(other).values()) == {"RECORD_EXISTS"}
    assert sorted(shards.stored(r.id for r in records)) == sorted(r.id for r in records)


def test_a_shard_reopened_from_its_log_still_knows_the_requests_it_stored(tmp_path) -> None:
    collection = indexer_pb2.Collection(name="collections/items", dimension=test_router_insert.DIM)
    blobs = FileBlobStore(tmp_path / "blobs")
    vectors = np.ones((3, test_router_insert.DIM), np.float32)

    def write(store: ShardStore, request_id: str, upsert: bool = False) -> tuple[int, int, list[str]]:
        records = [shard_pb2.ShardRecord(id=f"r{n}") for n in range(3)]
        request = shard_pb2.WriteRequest(records=records, vectors=vectors.tobytes(), upsert=upsert)
        request.request_id = request_id
        return tuple(store.write_request(request))

    store = ShardStore.open(collection, 0, tmp_path / "shard", blobs)
    assert write(store, "req-1") == (3, 0, [])
    store.close()
    store = ShardStore.open(collection, 0, tmp_path / "shard", blobs)
    try:
        assert write(store, "req-1") == (3, 0, []), "the same request again: answered as stored"
        assert write(store, "req-2") == (0, 0, ["r0", "r1", "r2"])
        assert write(store, "") == (0, 0, ["r0", "r1", "r2"])
        assert store.stats().record_count == 3
    finally:
        store.close()


async def test_a_batch_that_landed_whole_gets_its_first_reply_again_without_a_write(stores, served) -> None:
    shards = await served(servicer=LandThenFail)
    router = Router(shards, None, None)
    request = with_id(batch(item(n) for n in range(10)), "whole")
    first = await router.writes.insert(insert_batch(request), None)
    writes = shards.servicer.writes
    replies = [await router.writes.insert(insert_batch(request), None) for _ in range(2)]
    assert replies == [first, first] and first.inserted_count == 10 and not first.errors
    assert shards.servicer.writes == writes, "a replay writes nothing"

    upserted = with_id(batch((item(n) for n in range(10)), upsert=True), "whole-upsert")
    assert (await router.writes.insert(insert_batch(upserted), None)).updated_count == 10


async def test_bad_record_ids_fail_their_items_only(stores, served) -> None:
    shards = await served()
    router = Router(shards, None, None)
    bad = ["a/b", "tab\there", "nul\x00", "x" * 257, "é" * 129, "del\x7f", "c1\x85"]
    records = [item(0), *(indexer_pb2.RecordInput(id=i, vector=item(1).vector) for i in bad), item(2)]
    reply = await router.writes.insert(insert_batch(batch(records)), None)
    failed = {e.index: errors.from_status(e.status) for e in reply.errors}
    assert sorted(failed) == list(range(1, len(bad) + 1))
    for i, error in failed.items():
        assert error.reason == "INVALID_RECORD_ID" and error.violations[0][0] == f"records[{i}].id"
    assert list(reply.ids) == ["r0", *[""] * len(bad), "r2"] and reply.inserted_count == 2
    ok = indexer_pb2.RecordInput(id="é" * 126 + "-ok:", vector=item(1).vector)
    assert not (await router.writes.insert(insert_batch(batch([ok])), None)).errors


@pytest.mark.parametrize(
    "name", ["collections/items/records/a/b", "collections/items/records/new\nline", "collections/items/records/"]
)
def test_an_update_names_a_record_with_a_valid_id(name: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        record_name_of(name)
    assert raised.value.reason in ("INVALID_RECORD_NAME", "INVALID_RECORD_ID")
    assert raised.value.violations[0][0] == "record.name"
    assert record_name_of("collections/items/records/sku-1") == ("items", "sku-1")


@pytest.mark.parametrize("request_id", ["has space", "x" * 129, "ü"])
def test_a_request_id_is_short_printable_ascii(request_id: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        insert_batch(with_id(batch([item(0)]), request_id))
    assert raised.value.reason == "INVALID_REQUEST_ID"


def reply(*ids: str, failed: int = 0) -> indexer_pb2.InsertRecordsResponse:
    out = indexer_pb2.InsertRecordsResponse(ids=[*ids, *[""] * failed], inserted_count=len(ids))
    for n in range(failed):
        out.errors.add(index=len(ids) + n)
    return out


def test_replays_forget_the_oldest_batches_past_their_age_or_size() -> None:
    now = [0.0]
    replays = Replays(max_ids=12, max_age=60, clock=lambda: now[0])
    replays.record("c", "a", ["1", "2"], reply("1", "2"), [])
    replays.record("c", "b", ["3", "4", "5"], reply("3", failed=2), ["4"])
    assert replays.get("c", "a").reply is not None and replays.get("c", "b").reply is None
    assert replays.get("c", "b").landed == {"3"} and replays.get("c", "b").unsure == {"4"}
    assert replays.get("d", "a") is None and replays.get("c", "") is None
    replays.record("c", "b", ["4", "5"], reply("4", "5"), [])
    assert replays.get("c", "b").landed == {"3", "4", "5"} and not replays.get("c", "b").unsure
    replays.record("c", "e", ["6", "7", "8"], reply("6", "7", "8"), [])
    assert replays.get("c", "a") is None and len(replays) == 2, "the least recent goes when over max_ids"
    now[0] = 61
    replays.record("c", "f", ["9"], reply("9"), [])
    assert len(replays) == 1 and replays.get("c", "f") is not None


def test_a_kept_reply_is_for_the_same_ids_only() -> None:
    replays = Replays()
    replays.record("c", "a", ["x", "generated"], reply("x", "generated"), [])
    attempts = replays.get("c", "a")
    assert attempts.same_batch(["x", ""]) and attempts.same_batch(["x", "generated"])
    assert not attempts.same_batch(["x"]) and not attempts.same_batch(["y", ""])
