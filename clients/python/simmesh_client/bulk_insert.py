"""Bulk insertion over `StreamInsertRecords`, with retries that cannot duplicate a record.

Every record gets its id before it is first sent (`retries.new_record_id` where it has none) and
every batch a request id, so that sending a batch again stores the same records and the router
answers what landed before as stored. Items that fail for a retryable reason (a shard that was
away...) are sent again after the source is sent, with exponential backoff, up to `retries`
times; a stream that breaks for such a reason is opened again and its unanswered batches go
first."""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from simmesh_client.errors import SimmeshError
from simmesh_client.records import (
    BULK_STREAM_TIMEOUT,
    DUPLICATE_ID,
    ID_FIELD,
    InsertBatch,
    InsertFailure,
    InsertSummary,
    RecordError,
    RecordLike,
    record_input,
)
from simmesh_client.retries import backoff, new_record_id, new_request_id, retryable
from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc


@dataclass
class _Pending:
    """A batch as sent: the input position, id and input of each sent record, those refused
    before sending, its request id and how many times it was sent before (`attempt`). A batch
    of the source (`first`) is reported to `on_batch` when answered; a batch of records sent
    again is not."""

    start: int
    count: int
    sent: list[int] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)
    refused: list[InsertFailure] = field(default_factory=list)
    inputs: list[indexer_pb2.RecordInput] = field(default_factory=list)
    request_id: str = field(default_factory=new_request_id)
    attempt: int = 0
    first: bool = True


@dataclass
class _Round:
    """One stream's batches taken and not yet answered; `closed` once the stream ended."""

    pending: collections.deque[_Pending] = field(default_factory=collections.deque)
    closed: bool = False


class _Feed:
    """The batches to send, those to send again first, then the source's: shared by the streams
    of one bulk insert, each of which takes from it on gRPC's thread."""

    def __init__(self, source: Iterator[_Pending]) -> None:
        self._source = source
        self._lock = threading.Lock()
        self.again: collections.deque[_Pending] = collections.deque()
        # Records that failed for a retryable reason: sent again on the next stream, after a wait.
        self.later: list[_Pending] = []
        self.exhausted = False

    def take(self, round: _Round) -> _Pending | None:
        """The next batch for the stream of `round` (kept in its `pending`); None when there is no
        more, or the stream ended."""
        with self._lock:
            if round.closed:
                return None
            batch = self.again.popleft() if self.again else next(self._source, None)
            if batch is None:
                self.exhausted = True
                return None
            round.pending.append(batch)
            return batch

    def close(self, round: _Round) -> list[_Pending]:
        """Ends the stream of `round`: its unanswered batches, which it takes no more from."""
        with self._lock:
            round.closed = True
            return list(round.pending)

    def idle(self) -> bool:
        return self.exhausted and not self.again and not self.later

    def next_stream(self) -> None:
        self.again.extend(self.later)
        self.later.clear()


def stream_insert(
    stub: indexer_pb2_grpc.IndexerServiceStub,
    collection: str,
    records: Iterable[RecordLike],
    *,
    batch_size: int,
    upsert: bool,
    on_batch: Callable[[InsertBatch], None] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    retries: int = 0,
    retry_backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> InsertSummary:
    """Send `records` in batches on `StreamInsertRecords` calls; see `IndexerClient.insert`.

    `stub` is the indexer's stub with methods raising `SimmeshError` (`IndexerClient.rpc`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if retries < 0 or retry_backoff < 0:
        raise ValueError("retries and retry_backoff must not be negative")
    inserter = _Inserter(stub, collection, upsert, on_batch, retries)
    feed = _Feed(_batches(records, batch_size, base_dir))
    broken = 0  # streams broken in a row, none of their batches answered
    while True:
        answered, error = inserter.stream(feed, timeout)
        broken = 0 if answered else broken + 1
        if error is not None and broken > retries:
            raise error
        if feed.idle():
            return inserter.summary
        feed.next_stream()
        sleep(backoff(max((b.attempt for b in feed.again), default=broken), retry_backoff))


class _Inserter:
    """The streams of one bulk insert, and the summary they add to."""

    def __init__(
        self,
        stub: indexer_pb2_grpc.IndexerServiceStub,
        collection: str,
        upsert: bool,
        on_batch: Callable[[InsertBatch], None] | None,
        retries: int,
    ) -> None:
        self.stub = stub
        self.collection = collection
        self.upsert = upsert
        self.on_batch = on_batch
        self.retries = retries
        self.summary = InsertSummary()

    def stream(self, feed: _Feed, timeout: float | None) -> tuple[bool, SimmeshError | None]:
        """Sends what `feed` holds on one stream: whether any batch was answered, and the error
        that broke the stream where a retry may mend it (the batches it left unanswered are back
        in `feed.again`). Another error is raised."""
        round = _Round()
        source_error: list[BaseException] = []
        answered = False

        def requests() -> Iterator[indexer_pb2.InsertRecordsRequest]:
            try:
                while (batch := feed.take(round)) is not None:
                    if batch.inputs:
                        yield indexer_pb2.InsertRecordsRequest(
                            collection=self.collection,
                            records=batch.inputs,
                            upsert=self.upsert,
                            request_id=batch.request_id,
                        )
            except GeneratorExit:  # gRPC closed the call (say, the server refused it): its error is raised
                raise
            except BaseException as error:  # raised again on the caller's thread
                source_error.append(error)

        def drain_refused() -> None:
            while round.pending and not round.pending[0].inputs:
                self._finish(feed, round.pending.popleft(), None)

        responses = self.stub.StreamInsertRecords(
            requests(), timeout=timeout if timeout is not None else BULK_STREAM_TIMEOUT
        )
        try:
            for response in responses:
                drain_refused()
                self._finish(feed, round.pending.popleft(), response)
                answered = True
        except SimmeshError as error:
            if source_error:
                raise source_error[0] from None
            if not retryable(error.code, error.reason):
                raise
            for batch in feed.close(round):
                self._again(feed, batch, error)
            return answered, error
        except BaseException:
            responses.cancel()
            raise
        feed.close(round)
        drain_refused()
        if source_error:
            raise source_error[0]
        return answered, None

    def _again(self, feed: _Feed, batch: _Pending, error: SimmeshError) -> None:
        """A batch its stream left unanswered: sent again, or failed past the limit."""
        if not batch.inputs or batch.attempt < self.retries:
            self._count_retried(batch, len(batch.inputs))
            batch.attempt += 1 if batch.inputs else 0
            feed.again.append(batch)
            return
        failed = [
            InsertFailure(index, record_id, error.reason or error.code.name, error.message, error.code)
            for index, record_id in zip(batch.sent, batch.sent_ids)
        ]
        self._report(batch, InsertBatch(batch.start, batch.count, 0, 0, (*batch.refused, *failed), ()))

    def _count_retried(self, batch: _Pending, count: int) -> None:
        if batch.attempt == 0:
            self.summary.retried += count

    def _finish(self, feed: _Feed, batch: _Pending, response: indexer_pb2.InsertRecordsResponse | None) -> None:
        """Adds an answered batch to the summary; its items that failed for a retryable reason
        are sent again (as one batch under the same request id) while the limit allows."""
        outcome = _outcome(batch, response)
        position = {index: n for n, index in enumerate(batch.sent)}
        again = [f for f in outcome.failures if f.index in position and retryable(f.code, f.reason)]
        if again and batch.attempt < self.retries:
            retry = _Pending(batch.start, 0, request_id=batch.request_id, attempt=batch.attempt + 1, first=False)
            for failure in again:
                n = position[failure.index]
                retry.sent.append(failure.index)
                retry.sent_ids.append(batch.sent_ids[n])
                retry.inputs.append(batch.inputs[n])
            feed.later.append(retry)
            self._count_retried(batch, len(again))
            kept = set(retry.sent)
            failures = tuple(f for f in outcome.failures if f.index not in kept)
            outcome = InsertBatch(
                outcome.start, outcome.count, outcome.inserted, outcome.updated, failures, outcome.ids, len(again)
            )
        self._report(batch, outcome)

    def _report(self, batch: _Pending, outcome: InsertBatch) -> None:
        summary = self.summary
        summary.inserted += outcome.inserted
        summary.updated += outcome.updated
        summary.failures.extend(outcome.failures)
        if batch.first:
            summary.total += outcome.count
            if self.on_batch is not None:
                self.on_batch(outcome)


def _batches(
    records: Iterable[RecordLike], batch_size: int, base_dir: str | os.PathLike[str] | None
) -> Iterator[_Pending]:
    start = 0
    batch = _Pending(start, 0)
    seen: set[str] = set()
    for index, record in enumerate(records):
        batch.count += 1
        try:
            item = record_input(record, base_dir=base_dir)
            if item.id and item.id in seen:
                raise RecordError(DUPLICATE_ID, f"id {item.id!r} appears earlier in the same batch")
        except RecordError as error:
            batch.refused.append(InsertFailure(index, _plain_id(record), error.reason, str(error)))
        else:
            if not item.id:
                item.id = new_record_id()
            seen.add(item.id)
            batch.sent.append(index)
            batch.sent_ids.append(item.id)
            batch.inputs.append(item)
        if batch.count == batch_size:
            yield batch
            start = index + 1
            batch, seen = _Pending(start, 0), set()
    if batch.count:
        yield batch


def _plain_id(record: RecordLike) -> str:
    value = (
        record.id
        if isinstance(record, indexer_pb2.RecordInput)
        else (record.get(ID_FIELD) if isinstance(record, Mapping) else None)
    )
    return value if isinstance(value, str) else "" if value is None else str(value)


def _outcome(batch: _Pending, response: indexer_pb2.InsertRecordsResponse | None) -> InsertBatch:
    failures = list(batch.refused)
    ids = [""] * batch.count
    if response is not None:
        for error in response.errors:
            failed = SimmeshError.from_status(error.status)
            index = batch.sent[error.index]
            record_id = error.id or batch.sent_ids[error.index]
            failures.append(
                InsertFailure(index, record_id, failed.reason or failed.code.name, failed.message, failed.code)
            )
        for position, record_id in zip(batch.sent, response.ids):
            if batch.first:
                ids[position - batch.start] = record_id
    failures.sort(key=lambda failure: failure.index)
    return InsertBatch(
        start=batch.start,
        count=batch.count,
        inserted=response.inserted_count if response is not None else 0,
        updated=response.updated_count if response is not None else 0,
        failures=tuple(failures),
        ids=tuple(ids),
    )
