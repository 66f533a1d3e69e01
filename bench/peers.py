"""In-process FAISS, an embedded chromadb and simmesh through its mesh: build, recall and search speed in one run.

The same data (default 100,000 x 256-d clustered vectors, L2-normalised, inner product), the same
1,000 test queries (more vectors of the same clusters, not in the data) and the same recall@10
target (0.95) for the three:

- in-process FAISS: one `IndexIVFFlat` with the same nlist as simmesh's collection, trained on
  up to 100,000 of the vectors, then all of them added; a filtered query passes an
  `IDSelectorBatch` of the rows holding the value (the application's own id lists, made before);
- chromadb (embedded, `EphemeralClient`, HNSW): in its own virtual environment, `.venv-peers/`
  at the repository root, made on first use from bench/peers-requirements.txt (its pins would
  move the project's); it runs in a subprocess (bench/_peers_chroma.py) that reads the data and
  queries from .npy files, times its own work and answers in JSON; a filtered query is a `where`;
- simmesh: etcd, an S3 server, 2 shard processes and the router, through the SDK: the vectors
  inserted in batches of 5,000 on one stream, then TrainIndex (IVF-Flat); a filtered query
  filters on a field the collection indexes.

Every record has a `bucket` field of 100 values; a filtered query asks for one value (1% of the
rows) and is judged against exact search over those rows. Each engine's knob (nprobe for FAISS
and simmesh, HNSW ef_search for chromadb) is raised, separately for plain and filtered queries,
until recall@10 reaches the target, then the searches are timed. chromadb fixes ef_search when
it builds an index (`modify` does not reach an index already built), so each ef it tries is a
new build; the table's build rate is its first.

The build is measured once per engine. The timed searches (a batch of all queries, every
query alone, every query alone with a filter) run `--runs` times, the engines taking turns in a
rotating order, and each figure is the median with the range over the runs.

    python bench/peers.py [--n 100000] [--dim 256] [--runs 5] [--queries 1000]

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np
from _peers_table import Figures, table
from indexer import clustered, recall

from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.indexer import IndexerCluster
from simmesh.devstack.s3 import S3Server
from simmesh_client import Client, ClientConfig
from simmesh_client.batch_hits import BatchHits
from simmesh_proto.v1 import common_pb2, indexer_pb2

HERE = Path(__file__).resolve().parent
VENV = HERE.parent / ".venv-peers"
REQUIREMENTS = HERE / "peers-requirements.txt"
K = 10
VALUES = 100  # values of the `bucket` field: a filter on one selects 1% of the rows
CHROMA_EF = [16, 32, 64, 128, 256, 512]
INSERT_BATCH = 5000
PAUSE = 0.2  # between engines: FAISS's OpenMP threads spin a while after a search


@dataclass(frozen=True)
class Workload:
    data: np.ndarray
    buckets: np.ndarray
    queries: np.ndarray
    query_buckets: np.ndarray
    truth: np.ndarray  # exact top K of each query
    filtered_truth: np.ndarray  # exact top K of each query among the rows of its bucket
    nlist: int

    def groups(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Each bucket value with the rows holding it and the queries asking for it."""
        for value in range(VALUES):
            yield value, np.flatnonzero(self.buckets == value), np.flatnonzero(self.query_buckets == value)


def make_workload(n: int, dim: int, queries: int) -> Workload:
    # The queries are more vectors of the same clusters, kept out of the data.
    drawn = clustered(n + queries, dim)
    data, asked = drawn[:n], drawn[n:]
    buckets = np.arange(n) % VALUES
    query_buckets = np.arange(queries) % VALUES
    exact = faiss.IndexFlatIP(dim)
    exact.add(data)
    _, truth = exact.search(asked, K)
    filtered = np.full((queries, K), -1, dtype=np.int64)
    for value in range(VALUES):
        rows, asking = np.flatnonzero(buckets == value), np.flatnonzero(query_buckets == value)
        top = np.argsort(-(asked[asking] @ data[rows].T), axis=1)[:, :K]
        filtered[asking, : top.shape[1]] = rows[top]
    return Workload(data, buckets, asked, query_buckets, truth, filtered, int(4 * np.sqrt(n)))


Ids = list[list[int]]


class Engine(Protocol):
    knob: str  # what `level` is: nprobe, ef_search

    def levels(self) -> Sequence[int]: ...

    def build(self) -> float:
        """Seconds to hold every vector in a searchable index."""

    def answers(self, level: int, filtered: bool) -> Ids:
        """Untimed answers to every query, for recall."""

    def batch(self, level: int) -> tuple[float, Ids]:
        """Seconds for one batch of every query, and the answers."""

    def singles(self, level: int, count: int, filtered: bool) -> tuple[list[float], Ids]:
        """Milliseconds of each of the first `count` queries asked alone, and the answers."""


def grouped_answers(work: Workload, search: Callable[[np.ndarray, int], Ids]) -> Ids:
    """Every query's answer, asked in one search per bucket value with its queries."""
    found: Ids = [[] for _ in work.queries]
    for value, _, asking in work.groups():
        for row, ids in zip(asking, search(work.queries[asking], value)):
            found[row] = ids
    return found


def doubling(top: int, start: int = 1) -> list[int]:
    levels = [start]
    while levels[-1] * 2 < top:
        levels.append(levels[-1] * 2)
    return [*levels, top]


class InProcessFaiss:
    knob = "nprobe"

    def __init__(self, work: Workload) -> None:
        self.work = work
        self.rows = {value: rows.astype(np.int64) for value, rows, _ in work.groups()}
        self.index: faiss.IndexIVFFlat | None = None

    def levels(self) -> Sequence[int]:
        return doubling(self.work.nlist)

    def build(self) -> float:
        data = self.work.data
        started = time.perf_counter()
        quantizer = faiss.IndexFlatIP(data.shape[1])
        index = faiss.IndexIVFFlat(quantizer, data.shape[1], self.work.nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(7).choice(len(data), min(len(data), 100_000), replace=False)
        index.train(data[np.sort(sample)])
        index.add(data)
        seconds = time.perf_counter() - started
        self.index = index
        return seconds

    def search(self, queries: np.ndarray, level: int, value: int | None = None) -> np.ndarray:
        assert self.index is not None
        params = faiss.SearchParametersIVF()
        params.nprobe = level
        if value is not None:
            selector = faiss.IDSelectorBatch(self.rows[value])  # held here while the search runs
            params.sel = selector
        return self.index.search(queries, K, params=params)[1]

    def answers(self, level: int, filtered: bool) -> Ids:
        if not filtered:
            return self.search(self.work.queries, level).tolist()
        return grouped_answers(self.work, lambda queries, value: self.search(queries, level, value).tolist())

    def batch(self, level: int) -> tuple[float, Ids]:
        started = time.perf_counter()
        found = self.search(self.work.queries, level)
        return time.perf_counter() - started, found.tolist()

    def singles(self, level: int, count: int, filtered: bool) -> tuple[list[float], Ids]:
        work, ms, found = self.work, [], []
        for row in range(count):
            value = int(work.query_buckets[row]) if filtered else None
            started = time.perf_counter()
            ids = self.search(work.queries[row : row + 1], level, value)
            ms.append((time.perf_counter() - started) * 1000)
            found.append(ids[0].tolist())
        return ms, found


class ThroughSimmesh:
    """A collection of the workload on a running mesh, searched through the SDK."""

    knob = "nprobe"
    collection = "bench"

    def __init__(self, work: Workload, client: Client, shards: int) -> None:
        self.work = work
        self.indexer = client.indexer
        self.shards = shards

    def levels(self) -> Sequence[int]:
        return doubling(self.work.nlist)

    def build(self) -> float:
        work, dim = self.work, self.work.data.shape[1]
        self.indexer.create_collection(
            self.collection,
            dim,
            metric="inner_product",
            shard_count=self.shards,
            indexed_fields=["bucket"],
            index_kind="ivf_flat",
        )
        # Built before the clock starts, as the other engines' arrays are.
        records = []
        for i, row in enumerate(work.data):
            record = indexer_pb2.RecordInput(id=str(i), vector=common_pb2.Vector(dimension=dim, data=row.tobytes()))
            record.metadata.update({"bucket": int(work.buckets[i])})
            records.append(record)
        started = time.perf_counter()
        summary = self.indexer.insert(self.collection, records, batch_size=INSERT_BATCH, timeout=1800)
        if summary.failures:
            raise RuntimeError(f"insert failed: {summary.failures[0]}")
        self.indexer.train_index(self.collection, kind="ivf_flat", nlist=work.nlist, timeout=1800, poll_interval=0.1)
        return time.perf_counter() - started

    def _search(self, queries: np.ndarray, level: int, value: int | None = None) -> BatchHits:
        """A batch, answered packed (ids and scores as arrays, as the other engines answer)."""
        where = None if value is None else {"bucket": value}
        return self.indexer.search_batch(
            self.collection, queries, K, nprobe=level, filter=where, packed=True, timeout=300
        )

    def _batch(self, queries: np.ndarray, level: int, value: int | None = None) -> Ids:
        return packed_ids(self._search(queries, level, value))

    def answers(self, level: int, filtered: bool) -> Ids:
        if not filtered:
            return self._batch(self.work.queries, level)
        return grouped_answers(self.work, lambda queries, value: self._batch(queries, level, value))

    def batch(self, level: int) -> tuple[float, Ids]:
        started = time.perf_counter()
        response = self._search(self.work.queries, level)
        return time.perf_counter() - started, packed_ids(response)

    def singles(self, level: int, count: int, filtered: bool) -> tuple[list[float], Ids]:
        work, ms, answers = self.work, [], []
        for row in range(count):
            where = {"bucket": int(work.query_buckets[row])} if filtered else None
            started = time.perf_counter()
            result = self.indexer.search(
                self.collection, vector=work.queries[row], k=K, nprobe=level, filter=where, include_metadata=False
            )
            ms.append((time.perf_counter() - started) * 1000)
            answers.append(result)
        return ms, hit_ids(answers)


def hit_ids(results: Sequence[indexer_pb2.QueryResult]) -> Ids:
    return [[int(hit.id) for hit in result.hits] for result in results]


def packed_ids(hits: BatchHits) -> Ids:
    return [[int(i) for i in row if i] for row in hits.ids]


@contextlib.contextmanager
def simmesh_mesh(work: Workload, root: Path, shards: int) -> Iterator[ThroughSimmesh]:
    """etcd, S3, the shard processes and the router; every one stopped by pid on the way out."""
    with contextlib.ExitStack() as stack:
        etcd = EtcdServer(root / "etcd", root / "logs").start()
        stack.callback(etcd.stop)
        s3 = S3Server(root / "s3", root / "logs").start()
        stack.callback(s3.stop)
        cluster = IndexerCluster(root / "cluster", etcd.endpoint, s3, shards, env={"SIMMESH_LOG_LEVEL": "WARNING"})
        stack.callback(cluster.stop)
        cluster.start()
        client = stack.enter_context(Client(ClientConfig(indexer_address=cluster.router_address, timeout=300)))
        yield ThroughSimmesh(work, client, shards)


class EmbeddedChroma:
    """chromadb in a subprocess of its own virtual environment (bench/_peers_chroma.py)."""

    knob = "ef_search"

    def __init__(self, process: subprocess.Popen[str], count: int, levels: Sequence[int]) -> None:
        self.process = process
        self.count = count
        self._levels = levels
        self.built: dict[int, float] = {}

    def levels(self) -> Sequence[int]:
        return self._levels

    def ask(self, op: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the chromadb process ended (exit {self.process.wait()}); its errors are above")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _built(self, ef: int) -> int:
        if ef not in self.built:
            self.built[ef] = self.ask("build", ef=ef)["seconds"]
        return ef

    def build(self) -> float:
        return self.built[self._built(self._levels[0])]

    def keep(self, levels: Sequence[int]) -> None:
        """Drops the collections of the levels not kept."""
        for ef in [ef for ef in self.built if ef not in levels]:
            self.ask("drop", ef=ef)
            del self.built[ef]

    def answers(self, level: int, filtered: bool) -> Ids:
        ids: Ids = self.ask("grouped" if filtered else "batch", ef=self._built(level))["ids"]
        return ids

    def batch(self, level: int) -> tuple[float, Ids]:
        answer = self.ask("batch", ef=level)
        return answer["seconds"], answer["ids"]

    def singles(self, level: int, count: int, filtered: bool) -> tuple[list[float], Ids]:
        answer = self.ask("singles", ef=level, count=count, filtered=filtered)
        return answer["ms"], answer["ids"]


def chroma_python() -> Path:
    """The python of `.venv-peers/`, made (again) when missing or made from other pins."""
    python, stamp = VENV / "bin" / "python", VENV / REQUIREMENTS.name
    if python.exists() and stamp.exists() and stamp.read_text() == REQUIREMENTS.read_text():
        return python
    print(f"making {VENV} from {REQUIREMENTS.name} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    subprocess.run([str(python), "-c", "import chromadb"], check=True)
    shutil.copyfile(REQUIREMENTS, stamp)
    return python


@contextlib.contextmanager
def embedded_chroma(work: Workload, workdir: Path, levels: Sequence[int]) -> Iterator[EmbeddedChroma]:
    """The chromadb subprocess, given the workload as .npy files; ended by pid on the way out."""
    python = chroma_python()
    for name in ("data", "buckets", "queries", "query_buckets"):
        np.save(workdir / f"{name}.npy", getattr(work, name))
    process = subprocess.Popen(
        [str(python), str(HERE / "_peers_chroma.py"), str(workdir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield EmbeddedChroma(process, len(work.queries), levels)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def lowest_level(engine: Engine, truth: np.ndarray, filtered: bool, target: float) -> tuple[int, float]:
    """The first of the engine's levels whose recall@K reaches `target` (the last one where none
    does), with that recall."""
    for level in engine.levels():
        reached = recall(engine.answers(level, filtered), truth)
        print(f"  {engine.knob} {level}{' filtered' if filtered else ''}: recall {reached:.3f}", file=sys.stderr)
        if reached >= target:
            break
    return level, reached


def prepare(name: str, engine: Engine, work: Workload, target: float) -> Figures:
    """Builds the engine's index and raises its knob to the recall target."""
    print(f"{name}: build", file=sys.stderr, flush=True)
    build_s = engine.build()
    level, _ = lowest_level(engine, work.truth, False, target)
    filtered_level, _ = lowest_level(engine, work.filtered_truth, True, target)
    if isinstance(engine, EmbeddedChroma):
        engine.keep([level, filtered_level])
    return Figures(build_s, level, filtered_level)


def timed_runs(engines: dict[str, Engine], figures: dict[str, Figures], work: Workload, runs: int, count: int) -> None:
    """`runs` rounds of the timed searches, the engines taking turns in a rotating order."""
    names = list(engines)
    for run in range(runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            engine, got = engines[name], figures[name]
            seconds, found = engine.batch(got.level)
            got.batch_qps.append(len(work.queries) / seconds)
            got.recall = recall(found, work.truth)
            time.sleep(PAUSE)
            ms, _ = engine.singles(got.level, count, filtered=False)
            got.single_p50.append(float(np.percentile(ms, 50)))
            got.single_p99.append(float(np.percentile(ms, 99)))
            time.sleep(PAUSE)
            ms, found = engine.singles(got.filtered_level, count, filtered=True)
            got.filtered_p50.append(float(np.percentile(ms, 50)))
            got.filtered_recall = recall(found, work.filtered_truth[:count])
            time.sleep(PAUSE)
        print(f"run {run + 1}/{runs} done", file=sys.stderr, flush=True)


def chroma_version() -> str:
    pins = [line for line in REQUIREMENTS.read_text().splitlines() if line.startswith("chromadb==")]
    return pins[0].split("==")[1] if pins else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5, help="rounds of the timed searches, engines alternating")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--target", type=float, default=0.95, help="recall@10 each engine's knob is raised to")
    parser.add_argument(
        "--chroma-ef", type=int, default=None, help="chromadb's ef_search, instead of trying ef from 16 up"
    )
    args = parser.parse_args(argv)
    if args.queries < VALUES:
        parser.error(f"--queries must be at least {VALUES}, one per filter value")
    # A SIGTERM unwinds as an exception does, so that everything started is stopped by pid.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = make_workload(args.n, args.dim, args.queries)
    chroma_levels = [args.chroma_ef] if args.chroma_ef else CHROMA_EF
    engines: dict[str, Engine] = {}
    figures: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        starts: list[tuple[str, Callable[[], contextlib.AbstractContextManager[Engine]]]] = [
            ("in-process FAISS IVF-Flat", lambda: contextlib.nullcontext(InProcessFaiss(work))),
            ("chromadb (embedded)", lambda: embedded_chroma(work, root, chroma_levels)),
            ("simmesh through its mesh", lambda: simmesh_mesh(work, root / "mesh", args.shards)),
        ]
        # Each engine is built before the next one starts: no other's processes are up yet.
        for name, start in starts:
            engines[name] = stack.enter_context(start())
            figures[name] = prepare(name, engines[name], work, args.target)
        timed_runs(engines, figures, work, args.runs, args.queries)
    print(
        f"\n{args.n:,} x {args.dim}-d clustered vectors, {args.queries:,} queries, recall@10 target {args.target}, "
        f"IVF-Flat nlist {work.nlist}, simmesh on {args.shards} shards + router, chromadb {chroma_version()}, "
        f"{os.cpu_count()} cores; searches: median [range] of {args.runs} runs, engines alternating\n"
    )
    print("\n".join(table(figures, {name: e.knob for name, e in engines.items()}, args.n, args.queries)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
