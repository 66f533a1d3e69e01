"""The SDK's bulk insert retried against a scripted indexer: ids made before the first attempt,
what is retried, how often, how long it waits, and a stream that breaks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest

from simmesh_client.bulk_insert import stream_insert
from simmesh_client.errors import SimmeshError
from simmesh_client.retries import MAX_BACKOFF_S, backoff, new_record_id, retryable
from simmesh_proto.v1 import common_pb2, indexer_pb2


def status(code: grpc.StatusCode, reason: str) -> common_pb2.ItemError:
    from google.rpc import error_details_pb2, status_pb2

    info = error_details_pb2.ErrorInfo(reason=reason, domain="simmesh")
    out = status_pb2.Status(code=code.value[0], message=reason.lower())
    out.details.add().Pack(info)
    return out


class Indexer:
    """Stores what it is sent, once per id; items whose id is in `down` fail SHARD_UNAVAILABLE
    (not stored) for the first `down_for` attempts; `exists` fail RECORD_EXISTS; a stream breaks
    with UNAVAILABLE after `break_after` replies, for the first `breaks` streams."""

    def __init__(self, down=(), down_for=0, exists=(), break_after=None, breaks=0) -> None:
        self.down, self.down_for, self.exists = set(down), down_for, set(exists)
        self.break_after, self.breaks = break_after, breaks
        self.stored: dict[str, int] = {}
        self.tries: dict[str, int] = {}
        self.requests: list[indexer_pb2.InsertRecordsRequest] = []
        self.streams = 0

    def StreamInsertRecords(self, requests, timeout=None) -> Iterator[indexer_pb2.InsertRecordsResponse]:
        self.streams += 1
        breaking = self.breaks > 0
        self.breaks -= 1
        return Replies(self._replies(requests, breaking))

    def _replies(self, requests, breaking: bool):
        for n, request in enumerate(requests):
            if breaking and n == self.break_after:
                raise SimmeshError(grpc.StatusCode.UNAVAILABLE, "router went away", reason="UNAVAILABLE")
            self.requests.append(request)
            yield self._write(request)

    def _write(self, request) -> indexer_pb2.InsertRecordsResponse:
        reply = indexer_pb2.InsertRecordsResponse()
        for i, record in enumerate(request.records):
            self.tries[record.id] = self.tries.get(record.id, 0) + 1
            if record.id in self.down and self.tries[record.id] <= self.down_for:
                failure = status(grpc.StatusCode.UNAVAILABLE, "SHARD_UNAVAILABLE")
            elif record.id in self.exists:
                failure = status(grpc.StatusCode.ALREADY_EXISTS, "RECORD_EXISTS")
            else:
                self.stored[record.id] = self.stored.get(record.id, 0) + 1
                reply.ids.append(record.id)
                reply.inserted_count += 1
                continue
            reply.ids.append("")
            reply.errors.add(index=i, id=record.id, status=failure)
        return reply


class Replies:
    def __init__(self, replies) -> None:
        self._replies = replies

    def __iter__(self):
        return self._replies

    def cancel(self) -> None:
        pass


def records(count: int, named: bool = True) -> list[dict]:
    return [{"_vector": [1.0, float(n)], **({"_id": f"r{n}"} if named else {})} for n in range(count)]


def insert(indexer: Indexer, items: list[dict], **options):
    waits: list[float] = []
    batches = []
    summary = stream_insert(
        indexer,
        "collections/c",
        items,
        batch_size=4,
        upsert=False,
        on_batch=batches.append,
        sleep=waits.append,
        **options,
    )
    return summary, waits, batches


def test_record_ids_are_uuid7_hex_in_the_order_they_were_made() -> None:
    ids = [new_record_id() for _ in range(20_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for record_id in ids[:50]:
        parsed = uuid.UUID(hex=record_id)
        assert len(record_id) == 32 and parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_records_without_ids_get_them_before_the_first_attempt_and_keep_them_on_retries() -> None:
    indexer = Indexer(break_after=1, breaks=1)
    summary, _, batches = insert(indexer, records(10, named=False), retries=2)
    assert summary.ok and summary.inserted == 10 and list(indexer.stored.values()) == [1] * 10
    first_ids = [r.id for r in indexer.requests[0].records]
    assert all(len(i) == 32 for i in first_ids) and first_ids == list(batches[0].ids)


def test_retryable_failures_are_sent_again_under_their_request_id_with_growing_waits() -> None:
    down = {"r1", "r6"}
    indexer = Indexer(down=down, down_for=2, exists={"r3"})
    summary, waits, batches = insert(indexer, records(10), retries=3, retry_backoff=0.25)
    assert [f.reason for f in summary.failures] == ["RECORD_EXISTS"] and indexer.tries["r3"] == 1
    assert summary.inserted == 9 and summary.retried == 2 and summary.total == 10
    assert sorted(indexer.stored) == sorted(f"r{n}" for n in range(10) if n != 3)
    assert waits == [0.25, 0.5]
    retried = [r for r in indexer.requests if {x.id for x in r.records} <= down]
    first = {r.records[0].id: r.request_id for r in indexer.requests[:3]}
    assert {r.request_id for r in retried} == {first["r0"], first["r4"]}
    assert [b.retried for b in batches] == [1, 1, 0] and [len(b.failures) for b in batches] == [1, 0, 0]


def test_retries_stop_at_the_limit_and_report_what_still_failed() -> None:
    indexer = Indexer(down={"r2"}, down_for=100)
    summary, waits, _ = insert(indexer, records(6), retries=2, retry_backoff=1)
    assert [(f.id, f.reason) for f in summary.failures] == [("r2", "SHARD_UNAVAILABLE")]
    assert indexer.tries["r2"] == 3 and waits == [1, 2] and summary.retried == 1

    no_retries = Indexer(down={"r2"}, down_for=100)
    summary, waits, _ = insert(no_retries, records(6))
    assert summary.failed == 1 and no_retries.tries["r2"] == 1 and waits == [] and summary.retried == 0


def test_a_broken_stream_is_opened_again_and_its_unanswered_batches_sent_first() -> None:
    indexer = Indexer(break_after=1, breaks=2)
    summary, waits, batches = insert(indexer, records(12), retries=3, retry_backoff=0.1)
    assert summary.ok and summary.inserted == 12 and indexer.streams == 3
    assert indexer.stored == {f"r{n}": 1 for n in range(12)}
    assert sorted(b.start for b in batches) == [0, 4, 8] and summary.total == 12
    assert waits and all(w > 0 for w in waits)


def test_a_stream_that_keeps_breaking_raises_after_the_limit_and_other_errors_at_once() -> None:
    with pytest.raises(SimmeshError) as raised:
        insert(Indexer(break_after=0, breaks=10), records(4), retries=2)
    assert raised.value.reason == "UNAVAILABLE"

    class Refusing(Indexer):
        def StreamInsertRecords(self, requests, timeout=None):
            self.streams += 1
            raise SimmeshError(grpc.StatusCode.NOT_FOUND, "no such collection", reason="COLLECTION_NOT_FOUND")

    refusing = Refusing()
    with pytest.raises(SimmeshError):
        insert(refusing, records(4), retries=5)
    assert refusing.streams == 1


def test_what_is_retryable_and_how_long_to_wait() -> None:
    assert retryable(grpc.StatusCode.UNAVAILABLE, "SHARD_UNAVAILABLE")
    assert retryable(grpc.StatusCode.DEADLINE_EXCEEDED, "")
    assert not retryable(grpc.StatusCode.ALREADY_EXISTS, "RECORD_EXISTS")
    assert not retryable(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_RECORD_ID")
    assert [backoff(n, 0.5) for n in range(5)] == [0.0, 0.5, 1.0, 2.0, 4.0]
    assert backoff(30, 0.5) == MAX_BACKOFF_S
