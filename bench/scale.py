"""Many vectors on one machine: an IVF-SQ8 collection on 2 shard processes, its build rate, memory, recall and latency.

N x 256-d clustered vectors (default 10M) are generated 100,000 at a time and never held whole
by this client: the first 200,000 (`--warm`) are inserted, TrainIndex builds IVF-SQ8 (nlist
4 * sqrt(N)), and the rest are streamed in through the SDK's insert. Then:

- build rate: N over the time from the first insert to the last (training included);
- resident memory of each shard process (VmRSS from /proc) and GetCollectionStats' memory by
  part, in all and per vector;
- recall@10 of a batch of 1,000 queries against exact search, its ground truth kept as a running
  top 10 per query over the generated chunks;
- single-query p50 / p99 and the rate of a batch of 1,000 queries.

etcd, an S3 server, the shard nodes and the router run on this machine and are stopped (by pid)
however the run ends. Not part of the test suite: a 10M run needs about 20 GB of disk and hours.

    python bench/scale.py [--n 10000000] [--warm 200000] [--nprobe 32] [--shards 2]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np
from indexer import clustered

from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.indexer import IndexerCluster
from simmesh.devstack.s3 import S3Server
from simmesh_client import Client, ClientConfig
from simmesh_proto.v1 import common_pb2, indexer_pb2

CHUNK = 100_000
CENTERS_SEED = 0
QUERY_SEED = 1
COLLECTION = "scale"
TARGET_BYTES = 8 << 30
GIB = 1 << 30


def chunk(index: int, n: int, dim: int) -> np.ndarray:
    """Vectors `index * CHUNK` up to n: the same on every call, all around the same centres."""
    size = min(CHUNK, n - index * CHUNK)
    return clustered(size, dim, seed=1000 + index, centers_seed=CENTERS_SEED)


def records(start: int, stop: int, n: int, dim: int) -> Iterator[indexer_pb2.RecordInput]:
    for index in range(start // CHUNK, (stop + CHUNK - 1) // CHUNK):
        vectors = chunk(index, n, dim)
        base = index * CHUNK
        for at in range(max(start, base), min(stop, base + len(vectors))):
            vector = common_pb2.Vector(dimension=dim, data=vectors[at - base].tobytes())
            yield indexer_pb2.RecordInput(id=str(at), vector=vector)


def ground_truth(queries: np.ndarray, n: int, k: int = 10) -> np.ndarray:
    """The ids of each query's k best vectors by inner product, a running top k over the chunks."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.full((len(queries), k), -1, dtype=np.int64)
    for index in range((n + CHUNK - 1) // CHUNK):
        scores, ids = faiss.knn(queries, chunk(index, n, queries.shape[1]), k, metric=faiss.METRIC_INNER_PRODUCT)
        scores = np.concatenate([best_scores, scores], axis=1)
        ids = np.concatenate([best_ids, ids + index * CHUNK], axis=1)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        best_scores, best_ids = np.take_along_axis(scores, top, 1), np.take_along_axis(ids, top, 1)
    return best_ids


def resident(pid: int | None) -> tuple[int, int]:
    """The process's resident bytes (VmRSS) and, of those, its own memory (RssAnon): the rest is
    mapped files, the memory-mapped raw vectors among them, which the kernel can drop."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines() if pid else []:
        name, _, value = line.partition(":")
        fields[name] = int(value.split()[0]) * 1024 if value.strip().endswith("kB") else 0
    return fields.get("VmRSS", 0), fields.get("RssAnon", 0)


@contextlib.contextmanager
def mesh(root: Path, shards: int) -> Iterator[IndexerCluster]:
    """etcd, S3 and the indexer cluster, every process stopped on the way out."""
    with contextlib.ExitStack() as stack:
        etcd = EtcdServer(root / "etcd", root / "logs")
        stack.callback(etcd.stop)
        etcd.start()
        s3 = S3Server(root / "s3", root / "logs")
        stack.callback(s3.stop)
        s3.start()
        cluster = IndexerCluster(root / "cluster", etcd.endpoint, s3, shards, env={"SIMMESH_LOG_LEVEL": "WARNING"})
        stack.callback(cluster.stop)
        yield cluster.start()


def build(client: Client, n: int, dim: int, warm: int, nlist: int, shards: int) -> tuple[float, float]:
    """Inserts the vectors, training IVF-SQ8 after the first `warm`; the build rate (vectors/s)
    over it all and the rate of the streamed insert after training."""
    client.indexer.create_collection(COLLECTION, dim, shard_count=shards, index_kind="ivf_sq8")
    started = time.perf_counter()
    client.indexer.insert(COLLECTION, records(0, warm, n, dim), batch_size=5000, timeout=3600)
    client.indexer.train_index(COLLECTION, kind="ivf_sq8", nlist=nlist, timeout=3600)
    streamed = time.perf_counter()
    summary = client.indexer.insert(COLLECTION, records(warm, n, n, dim), batch_size=5000, timeout=36000)
    done = time.perf_counter()
    if summary.failures:
        raise RuntimeError(f"{len(summary.failures)} records failed, the first: {summary.failures[0]}")
    return n / (done - started), (n - warm) / (done - streamed)


def searches(
    client: Client, queries: np.ndarray, nprobe: int, singles: int
) -> tuple[list[list[int]], float, list[float]]:
    """The batch's hit ids, the batch rate (median of 3) and single-query latencies (ms)."""
    rates, reply = [], None
    for _ in range(3):
        started = time.perf_counter()
        reply = client.indexer.search_batch(COLLECTION, queries, k=10, nprobe=nprobe, timeout=600)
        rates.append(len(queries) / (time.perf_counter() - started))
    assert reply is not None
    found = [[int(hit.id) for hit in result.hits] for result in reply.results]
    latencies = []
    for q in queries[:singles]:
        started = time.perf_counter()
        client.indexer.search(COLLECTION, vector=q, k=10, nprobe=nprobe, timeout=60)
        latencies.append((time.perf_counter() - started) * 1000)
    return found, float(np.median(rates)), latencies


def report(
    args: argparse.Namespace,
    nlist: int,
    rates: tuple[float, float],
    rss: list[tuple[int, int]],
    stats,
    found,
    truth,
    qps: float,
    latencies: list[float],
) -> None:
    n, memory = args.n, stats.memory
    total, anonymous = sum(r for r, _ in rss), sum(a for _, a in rss)
    recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth.tolist())]))
    per_vector = total / n
    print(
        f"\n{n:,} x {args.dim}-d clustered vectors, IVF-SQ8 nlist {nlist} nprobe {args.nprobe}, {args.shards} shards\n"
    )
    print("| what | value |")
    print("|---|---|")
    print(f"| build (insert {args.warm:,} + TrainIndex + streamed insert), vectors/s | {rates[0]:,.0f} |")
    print(f"| streamed insert after training, vectors/s | {rates[1]:,.0f} |")
    for ordinal, (size, own) in enumerate(rss):
        print(f"| shard {ordinal} resident (VmRSS; of it RssAnon) | {size / GIB:.2f} GiB; {own / GIB:.2f} GiB |")
    print(f"| shards resident in all (VmRSS) | {total / GIB:.2f} GiB ({per_vector:.0f} B per vector) |")
    print(f"| shards' own memory in all (RssAnon) | {anonymous / GIB:.2f} GiB ({anonymous / n:.0f} B per vector) |")
    parts = ("codes", "ids", "metadata", "raw_vectors", "raw_vectors_on_disk")
    for part in parts:
        value = getattr(memory, f"{part}_bytes")
        print(f"| stats: {part.replace('_', ' ')} | {value / GIB:.3f} GiB ({value / n:.1f} B per vector) |")
    print(f"| stats: resident per vector | {memory.bytes_per_vector:.1f} B |")
    print(f"| recall@10, {len(found):,} queries vs exact | {recall:.3f} |")
    print(f"| single query p50 / p99 | {np.percentile(latencies, 50):.2f} / {np.percentile(latencies, 99):.2f} ms |")
    print(f"| batch of {len(found):,} queries | {qps:,.0f} q/s |")
    for what, size in (("VmRSS", total), ("RssAnon", anonymous)):
        at_10m = size / n * 10_000_000
        verdict = "within" if at_10m <= TARGET_BYTES else "over"
        print(f"At {size / n:.0f} B per vector ({what}), 10M take {at_10m / GIB:.2f} GiB: {verdict} the 8 GiB target.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--warm", type=int, default=200_000, help="vectors inserted before TrainIndex")
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=500, help="single-query searches")
    args = parser.parse_args(argv)
    if not 0 < args.warm < args.n:
        parser.error("--warm must be between 1 and --n - 1")
    nlist = int(4 * np.sqrt(args.n))
    queries = clustered(args.queries, args.dim, seed=QUERY_SEED, centers_seed=CENTERS_SEED)
    with (
        tempfile.TemporaryDirectory() as tmp,
        mesh(Path(tmp), args.shards) as cluster,
        Client(ClientConfig(indexer_address=cluster.router_address, timeout=600)) as client,
    ):
        rates = build(client, args.n, args.dim, args.warm, nlist, args.shards)
        time.sleep(2.0)  # let the shards settle after the last batch
        rss = [resident(proc.pid) for proc in cluster.shards.values()]
        stats = client.indexer.stats(COLLECTION)
        found, qps, latencies = searches(client, queries, args.nprobe, args.singles)
    truth = ground_truth(queries, args.n)
    report(args, nlist, rates, rss, stats, found, truth, qps, latencies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
