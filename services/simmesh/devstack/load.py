"""A mixed load on one collection through the SDK, for the chaos tests and the soak bench.

    load = MixedLoad(client, "items", record=vector_record(64), query=vector_query(64))
    with load.running():
        ...  # kill something, train an index, re-embed
    assert load.ledger.problems(client, "items") == []
    load.stats["search"].percentile(99)

Each operation runs on its own thread until stopped: `insert` streams small bulk inserts of new
records (ids made here, so a retry stores the same record; the SDK retries retryable failures),
`search` queries with a metadata filter, `delete` deletes records whose insert was acknowledged
(leaving `keep_live` of them, so that a long run holds a steady number of records).
`add` runs any further operation (catalog writes, say) the same way. Every call is timed and
every failure counted by its reason.

The `Ledger` keeps what the mesh acknowledged: an acknowledged insert must be stored exactly
once unless a delete of it was tried; an acknowledged delete must stay absent. Writes that failed
may or may not have landed, but never twice.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simmesh_client import Client
from simmesh_client.errors import SimmeshError

# One call of an operation; returning False means there was nothing to do (the call is not counted).
Operation = Callable[[random.Random], bool | None]


@dataclass
class OperationStats:
    """One operation's calls: each start (monotonic) and latency (seconds, successes and failures
    alike) and each failure's start and reason (the gRPC code's name where the server gave none)."""

    latencies: list[float] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")

    def succeeded(self, began: float, ended: float) -> int:
        """Calls that started within [`began`, `ended`] (monotonic) and did not fail."""
        failed = sum(1 for at, _ in self.failures if began <= at <= ended)
        return sum(1 for at in self.starts if began <= at <= ended) - failed

    def errors_by_reason(self, outside: Callable[[float], bool] = lambda _: True) -> Counter[str]:
        """Failures by reason, only those at times `outside` accepts (e.g. not in a kill's window)."""
        return Counter(reason for at, reason in self.failures if outside(at))


@dataclass
class Ledger:
    """What the mesh acknowledged, by record id."""

    inserted: set[str] = field(default_factory=set)  # acknowledged inserts
    unsure: set[str] = field(default_factory=set)  # inserts that failed: stored at most once
    deleting: set[str] = field(default_factory=set)  # deletes tried, not (yet) acknowledged
    deleted: set[str] = field(default_factory=set)  # acknowledged deletes
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deletable(self, rng: random.Random, count: int, keep: int = 0) -> list[str]:
        """Up to `count` acknowledged, not deleted ids, now marked as being deleted; `keep` of them are left alone."""
        with self.lock:
            live = self.inserted - self.deleting - self.deleted
            chosen = rng.sample(sorted(live), min(count, len(live) - keep)) if len(live) > keep else []
            self.deleting.update(chosen)
        return chosen

    def problems(self, client: Client, collection: str) -> list[str]:
        """Every way the stored records break the acknowledgements (empty when none do)."""
        return self.compare(Counter(record.id for record in client.indexer.list_records(collection, page_size=1000)))

    def compare(self, stored: Counter[str]) -> list[str]:
        """Every way `stored` (how many times each id is stored) breaks the acknowledgements."""
        twice = sorted(record_id for record_id, count in stored.items() if count > 1)
        with self.lock:
            lost = sorted(self.inserted - self.deleting - self.deleted - stored.keys())
            back = sorted(self.deleted & stored.keys())
            strangers = sorted(stored.keys() - self.inserted - self.unsure)
        found = []
        for what, ids in (
            ("stored more than once", twice),
            ("acknowledged but missing", lost),
            ("deleted but present", back),
            ("never written", strangers),
        ):
            if ids:
                found.append(f"{len(ids)} records {what}, e.g. {ids[:5]}")
        return found


class MixedLoad:
    """Insert, search and delete threads on `collection` (see the module's docstring).

    `record(n)` is the n-th record to insert (a JSON record without `_id`), `query(rng)` the
    keyword arguments of one `client.indexer.search` call. `interval` is the pause between one
    thread's calls (0: flat out); `batch` the records of one insert call (one stream),
    `delete_batch` the ids of one delete call; deletes leave `keep_live` acknowledged records,
    and with `keep_live` set, inserts wait while twice that many are alive (deletes are slower
    calls than inserts: without the wait the collection would grow for the whole run).
    """

    def __init__(
        self,
        client: Client,
        collection: str,
        *,
        record: Callable[[int], dict[str, Any]],
        query: Callable[[random.Random], dict[str, Any]],
        batch: int = 50,
        delete_batch: int = 5,
        keep_live: int = 0,
        retries: int = 8,
        retry_backoff: float = 0.5,
        interval: float = 0.0,
        timeout: float = 30.0,
        prefix: str = "load",
        seed: int = 0,
    ) -> None:
        self.client = client
        self.collection = collection
        self.record = record
        self.query = query
        self.batch = batch
        self.delete_batch = delete_batch
        self.keep_live = keep_live
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.interval = interval
        self.timeout = timeout
        self.prefix = prefix
        self.seed = seed
        self.ledger = Ledger()
        self.stats: dict[str, OperationStats] = {}
        self.retried = 0
        self._operations: dict[str, Operation] = {}
        self._next = 0
        self._live = 0  # acknowledged inserts not yet picked for a delete
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.add("insert", self._insert)
        self.add("search", self._search)
        self.add("delete", self._delete)

    def add(self, name: str, operation: Operation) -> None:
        """Run `operation(rng)` on a thread of its own too; a `SimmeshError` it raises is a failure."""
        self._operations[name] = operation
        self.stats[name] = OperationStats()

    def start(self) -> MixedLoad:
        self._stop.clear()
        for offset, (name, operation) in enumerate(self._operations.items()):
            rng = random.Random(self.seed * 1000 + offset)
            thread = threading.Thread(target=self._loop, args=(name, operation, rng), name=f"load-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 120.0) -> None:
        """Stop every thread after its current call (which may still be retrying)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        self._threads = []
        if alive:
            raise RuntimeError(f"load threads still running after {timeout:.0f}s: {alive}")

    @contextmanager
    def running(self) -> Iterator[MixedLoad]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def calls(self) -> dict[str, int]:
        return {name: stats.calls for name, stats in self.stats.items()}

    def failures(self) -> dict[str, dict[str, int]]:
        """Failures by reason of each operation that had any."""
        return {name: dict(stats.errors_by_reason()) for name, stats in self.stats.items() if stats.failures}

    def _loop(self, name: str, operation: Operation, rng: random.Random) -> None:
        stats = self.stats[name]
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                done = operation(rng)
            except SimmeshError as error:
                stats.failures.append((began, error.reason or error.code.name))
                done = True
            if done is not False:
                stats.latencies.append(time.monotonic() - began)
                stats.starts.append(began)
            if self.interval:
                self._stop.wait(self.interval)

    def _insert(self, rng: random.Random) -> bool:
        if self.keep_live and self._live >= 2 * self.keep_live:
            self._stop.wait(0.05)
            return False
        with self._lock:
            start, self._next = self._next, self._next + self.batch
        numbers = range(start, start + self.batch)
        ids = [f"{self.prefix}-{n}" for n in numbers]
        records = [{**self.record(n), "_id": record_id, "n": n} for n, record_id in zip(numbers, ids)]
        try:
            summary = self.client.indexer.insert(
                self.collection,
                records,
                batch_size=self.batch,
                retries=self.retries,
                retry_backoff=self.retry_backoff,
                timeout=self.timeout,
            )
        except SimmeshError:
            with self.ledger.lock:
                self.ledger.unsure.update(ids)
            raise
        failed = {failure.id for failure in summary.failures}
        with self.ledger.lock:
            self.ledger.inserted.update(record_id for record_id in ids if record_id not in failed)
            self.ledger.unsure.update(failed)
            self.retried += summary.retried
        with self._lock:
            self._live += len(ids) - len(failed)
        if summary.failures:
            first = summary.failures[0]
            raise SimmeshError(first.code, first.message, reason=first.reason)
        return True

    def _search(self, rng: random.Random) -> None:
        self.client.indexer.search(self.collection, timeout=self.timeout, **self.query(rng))

    def _delete(self, rng: random.Random) -> bool:
        ids = self.ledger.deletable(rng, self.delete_batch, self.keep_live)
        if not ids:
            self._stop.wait(0.1)
            return False
        with self._lock:
            self._live -= len(ids)
        self.client.indexer.delete_records(self.collection, ids)
        with self.ledger.lock:
            self.ledger.deleted.update(ids)
        return True


def catalog_writes(client: Client, ledger: Ledger, prefix: str = "load") -> Operation:
    """An operation for `MixedLoad.add`: creates similarity types `{prefix}-{n}` in the catalog,
    or, every third call, deletes one it created (where there is one), keeping what was
    acknowledged in `ledger` (check it with `ledger.compare(catalog_counts(client, prefix))`)."""
    made = itertools.count()

    def write(rng: random.Random) -> None:
        n = next(made)
        doomed = ledger.deletable(rng, 1) if n % 3 == 2 else []
        for type_id in doomed:
            client.catalog.delete_similarity_type(type_id)
            with ledger.lock:
                ledger.deleted.add(type_id)
        if doomed:
            return
        type_id = f"{prefix}-{n}"
        try:
            client.catalog.create_similarity_type(type_id, metadata={"n": n})
        except SimmeshError:
            with ledger.lock:
                ledger.unsure.add(type_id)
            raise
        with ledger.lock:
            ledger.inserted.add(type_id)

    return write


def catalog_counts(client: Client, prefix: str) -> Counter[str]:
    """How many times the catalog lists each similarity type whose id starts with `prefix`."""
    ids = (t.name.removeprefix("similarityTypes/") for t in client.catalog.list_similarity_types(page_size=500))
    return Counter(type_id for type_id in ids if type_id.startswith(f"{prefix}-"))


def vector_record(dimension: int, groups: int = 10) -> Callable[[int], dict[str, Any]]:
    """Records of random unit vectors with a `group` field (n mod `groups`) to filter on."""

    def make(n: int) -> dict[str, Any]:
        vector = np.random.default_rng(n).standard_normal(dimension).astype(np.float32)
        return {"_vector": (vector / np.linalg.norm(vector)).tolist(), "group": n % groups}

    return make


def image_record(url: str, images: int, groups: int = 10) -> Callable[[int], dict[str, Any]]:
    """Records of the images `{url}/{i}.png` (i < `images`), for a collection bound to a model:
    the embedder makes each vector. Grouped as `vector_record` groups them."""

    def make(n: int) -> dict[str, Any]:
        return {"_url": f"{url}/{n % images}.png", "group": n % groups}

    return make


def vector_query(dimension: int, groups: int = 10, k: int = 10) -> Callable[[random.Random], dict[str, Any]]:
    """Searches by a random vector, half of them filtered to a few groups."""

    def make(rng: random.Random) -> dict[str, Any]:
        vector = np.random.default_rng(rng.getrandbits(32)).standard_normal(dimension).astype(np.float32)
        return _maybe_filtered({"vector": vector, "k": k}, rng, groups)

    return make


def image_query(url: str, images: int, groups: int = 10, k: int = 10) -> Callable[[random.Random], dict[str, Any]]:
    """Searches by one of the images `{url}/{i}.png` (the collection's model embeds it, whichever
    model that is), half of them filtered to a few groups."""

    def make(rng: random.Random) -> dict[str, Any]:
        return _maybe_filtered({"image": f"{url}/{rng.randrange(images)}.png", "k": k}, rng, groups)

    return make


def file_image_record(paths: Sequence[Path], groups: int = 10) -> Callable[[int], dict[str, Any]]:
    """Records of the images at `paths` in turn (sent as bytes, so the collection keeps them), with
    a `group` field (n mod `groups`) to filter on."""

    def make(n: int) -> dict[str, Any]:
        return {"_file": str(paths[n % len(paths)]), "group": n % groups}

    return make


def _maybe_filtered(query: dict[str, Any], rng: random.Random, groups: int) -> dict[str, Any]:
    if rng.random() < 0.5:
        query["filter"] = {"group": {"$in": rng.sample(range(groups), 3)}}
    return query


def file_image_query(paths: Sequence[Path], groups: int = 10, k: int = 10) -> Callable[[random.Random], dict[str, Any]]:
    """Searches by one of the images at `paths` (embedded by the collection's model, whichever it is
    now), half of them filtered to a few groups."""

    def make(rng: random.Random) -> dict[str, Any]:
        return _maybe_filtered({"image": rng.choice(paths).read_bytes(), "k": k}, rng, groups)

    return make


def summary_rows(stats: Mapping[str, OperationStats], seconds: float) -> list[tuple[str, ...]]:
    """(operation, calls, calls/s, p50 ms, p99 ms, failures) per operation, for a report table."""
    return [
        (
            name,
            str(s.calls),
            f"{s.calls / seconds:.1f}" if seconds else "-",
            f"{1000 * s.percentile(50):.1f}",
            f"{1000 * s.percentile(99):.1f}",
            str(len(s.failures)),
        )
        for name, s in stats.items()
    ]
