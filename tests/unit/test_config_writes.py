"""Collection definitions changed by compare-and-swap: concurrent changes are all kept, and the
writes a re-embed holds back wait for the fence."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from simmesh.indexer.layout import decode_collection, encode
from simmesh.indexer.router.config_writes import change_config
from simmesh.indexer.router.write_fence import WriteFence
from simmesh.kit.errors import Aborted, NotFound
from simmesh_proto.internal.v1 import shard_pb2

KEY = "/simmesh/collections/photos"


@dataclass
class _Meta:
    mod_revision: int


class _Transactions:
    """Builds the compares and puts of `_Etcd.transaction` as plain tuples."""

    class _Mod:
        def __init__(self, key: str) -> None:
            self.key = key

        def __eq__(self, revision: object) -> Any:  # type: ignore[override]
            return ("mod", self.key, revision)

    def mod(self, key: str) -> _Mod:
        return self._Mod(key)

    def put(self, key: str, value: bytes) -> tuple[str, str, bytes]:
        return ("put", key, value)


class _Etcd:
    """One key in memory with etcd's revisions; the first `barrier.parties` reads wait for each
    other at `barrier` when one is set, so that concurrent changes read the same revision."""

    def __init__(self, value: bytes) -> None:
        self.transactions = _Transactions()
        self.values = {KEY: (value, 1)}
        self.revision = 1
        self.lock = threading.Lock()
        self.barrier: threading.Barrier | None = None
        self.reads = 0
        self.conflicts = 0

    def get(self, key: str) -> tuple[bytes | None, _Meta | None]:
        with self.lock:
            value, revision = self.values.get(key, (None, 0))
            self.reads += 1
            held = self.barrier is not None and self.reads <= self.barrier.parties
        if held and self.barrier is not None:
            self.barrier.wait(timeout=5)
        return value, _Meta(revision) if value is not None else None

    def transaction(self, compare: list[Any], success: list[Any], failure: list[Any]) -> tuple[bool, list[Any]]:
        with self.lock:
            for _, key, revision in compare:
                if self.values.get(key, (None, 0))[1] != revision:
                    self.conflicts += 1
                    return False, []
            for _, key, value in success:
                self.revision += 1
                self.values[key] = (value, self.revision)
            return True, []


def _config() -> bytes:
    config = shard_pb2.CollectionConfig(generation=1)
    config.collection.name = "collections/photos"
    return encode(config)


def test_two_concurrent_changes_of_a_collection_both_hold() -> None:
    etcd = _Etcd(_config())
    etcd.barrier = threading.Barrier(2)

    def describe(config: shard_pb2.CollectionConfig) -> None:
        config.collection.description = "holiday photos"

    def tune(config: shard_pb2.CollectionConfig) -> None:
        config.collection.index.nprobe = 32

    def run(change: Any) -> None:
        change_config(etcd, KEY, "photos", change)  # type: ignore[arg-type]

    threads = [threading.Thread(target=run, args=(change,)) for change in (describe, tune)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    final = decode_collection(etcd.values[KEY][0])
    assert etcd.conflicts == 1 and etcd.reads == 3  # the loser read again and applied its change anew
    assert final.collection.description == "holiday photos" and final.collection.index.nprobe == 32
    assert final.generation == 3


def test_a_change_that_keeps_conflicting_is_aborted_as_retriable() -> None:
    etcd = _Etcd(_config())

    def interfering(config: shard_pb2.CollectionConfig) -> None:
        with etcd.lock:  # another writer gets in between every read and write
            etcd.revision += 1
            etcd.values[KEY] = (etcd.values[KEY][0], etcd.revision)

    with pytest.raises(Aborted) as raised:
        change_config(etcd, KEY, "photos", interfering, attempts=3)  # type: ignore[arg-type]
    assert raised.value.reason == "CONCURRENT_CHANGE" and raised.value.retriable
    assert etcd.conflicts == 3


def test_changing_a_deleted_collection_is_not_found() -> None:
    etcd = _Etcd(_config())
    del etcd.values[KEY]
    with pytest.raises(NotFound):
        change_config(etcd, KEY, "photos", lambda config: None)  # type: ignore[arg-type]


async def test_a_closed_fence_waits_for_writes_in_flight_and_holds_new_ones_until_it_opens() -> None:
    fence = WriteFence()
    fence.track("photos")
    order: list[str] = []
    await fence.enter("photos")
    closing = asyncio.ensure_future(fence.close("photos", None))
    await asyncio.sleep(0.01)
    assert not closing.done()  # a write is in flight

    async def late_write() -> None:
        async with fence.writing("photos"):
            order.append("late write")
            fence.touched("photos", ["b"])

    late = asyncio.ensure_future(late_write())
    fence.touched("photos", ["a"])
    fence.leave("photos")
    assert await closing
    order.append("swap")
    assert fence.take("photos") == ["a"]
    fence.open("photos")
    await late
    assert order == ["swap", "late write"] and fence.take("photos") == ["b"]
    fence.untrack("photos")
    assert not fence._gates  # nothing kept once the re-embed ended


async def test_a_fence_whose_writes_do_not_drain_in_time_opens_again() -> None:
    fence = WriteFence()
    await fence.enter("photos")
    assert not await fence.close("photos", 0.01)
    async with fence.writing("photos"):  # not held back
        pass
    fence.leave("photos")
