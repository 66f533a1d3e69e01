"""Search and insert through the indexer (router + shard processes) vs in-process FAISS, in one run.

Clustered vectors (default 1M x 256-d), IVF-Flat with the same nlist and nprobe on both sides:

- in-process: one `faiss.IndexIVFFlat` (inner product on L2-normalised vectors), trained on a
  sample, `add` of the vectors after the first 100k (`--warm`), batch search of 1,000 queries, single-query
  latency, recall@10 against exact search;
- through simmesh: etcd, an S3 server, 2 shard node processes and a router; the first 100k
  vectors inserted, TrainIndex, the rest inserted through the router in batches of 5,000 on one
  StreamInsertRecords call, as the SDK does (write-ahead log fsync included; the request
  messages are built before the clock starts, as the in-process side's array is), the same
  searches over gRPC, and a bare call to the router (a health check: the floor under a served
  single query on this machine).

The searches alternate between the two sides (a batch here, a batch there; 50 single queries
here, 50 there), so that both meet the machine in the same state; on a small shared machine its
speed drifts by tens of percent over minutes.

    python bench/indexer.py [--n 1000000] [--dim 256] [--shards 2] [--nprobe 16] [--rounds 7]

Prints a Markdown table with the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import faiss
import grpc
import numpy as np
from google.longrunning import operations_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.indexer import IndexerCluster
from simmesh.devstack.s3 import S3Server
from simmesh_client.operations import wait_operation
from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc

SINGLES_BLOCK = 50
OPTIONS = [("grpc.max_receive_message_length", 1 << 28), ("grpc.max_send_message_length", 1 << 28)]


def clustered(n: int, dim: int, seed: int = 0, centers_seed: int | None = None) -> np.ndarray:
    """`n` unit vectors around 1,000 centres (drawn from `centers_seed`, default `seed`)."""
    rng = np.random.default_rng(seed)
    centers_rng = rng if centers_seed is None else np.random.default_rng(centers_seed)
    centers = centers_rng.standard_normal((1000, dim)).astype(np.float32) * 4
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        out[start:stop] = centers[rng.integers(0, len(centers), stop - start)]
        out[start:stop] += rng.standard_normal((stop - start, dim)).astype(np.float32)
    faiss.normalize_L2(out)
    return out


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth.tolist())]))


def in_process(data: np.ndarray, warm: int, nlist: int, nprobe: int) -> tuple[faiss.Index, float]:
    """The in-process index, trained on a sample of the first `warm` vectors, and its `add` rate
    for the rest, 10,000 at a time."""
    quantizer = faiss.IndexFlatIP(data.shape[1])
    index = faiss.IndexIVFFlat(quantizer, data.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(7)
    index.train(data[:warm][rng.choice(warm, min(warm, 100_000), replace=False)])
    index.add(data[:warm])
    started = time.perf_counter()
    for start in range(warm, len(data), 10_000):
        index.add(data[start : start + 10_000])
    add_rate = (len(data) - warm) / (time.perf_counter() - started)
    index.nprobe = nprobe
    return index, add_rate


def vector(v: np.ndarray) -> common_pb2.Vector:
    return common_pb2.Vector(dimension=len(v), data=v.tobytes())


@contextlib.contextmanager
def served_collection(root: Path, data: np.ndarray, warm: int, nlist: int, nprobe: int, shards: int):
    """etcd, S3, the shard nodes and a router holding `data` in a trained IVF-Flat collection;
    yields the channel to the router and the insert rate of the vectors after the first `warm`."""
    etcd = EtcdServer(root / "etcd", root / "logs").start()
    s3 = S3Server(root / "s3", root / "logs").start()
    cluster = IndexerCluster(root / "cluster", etcd.endpoint, s3, shards, env={"SIMMESH_LOG_LEVEL": "WARNING"})
    try:
        cluster.start()
        with grpc.insecure_channel(cluster.router_address, options=OPTIONS) as channel:
            stub = indexer_pb2_grpc.IndexerServiceStub(channel)
            stub.CreateCollection(
                indexer_pb2.CreateCollectionRequest(
                    collection_id="bench",
                    collection=(
                        indexer_pb2.Collection(
                            dimension=data.shape[1],
                            shard_count=shards,
                            index=indexer_pb2.IndexSpec(
                                kind=indexer_pb2.INDEX_KIND_IVF_FLAT, nlist=nlist, nprobe=nprobe
                            ),
                        )
                    ),
                )
            )

            def batches(start: int, stop: int) -> list[indexer_pb2.InsertRecordsRequest]:
                return [
                    indexer_pb2.InsertRecordsRequest(
                        collection="collections/bench",
                        records=[
                            indexer_pb2.RecordInput(id=str(i), vector=vector(data[i]))
                            for i in range(at, min(stop, at + 5000))
                        ],
                    )
                    for at in range(start, stop, 5000)
                ]

            def insert(requests: list[indexer_pb2.InsertRecordsRequest]) -> None:
                # As the SDK and `simctl insert` do: batches on one StreamInsertRecords call.
                for reply in stub.StreamInsertRecords(iter(requests), timeout=1800):
                    if reply.errors:
                        raise RuntimeError(reply.errors[0])

            insert(batches(0, warm))
            operation = stub.TrainIndex(indexer_pb2.TrainIndexRequest(collection="collections/bench"))
            wait_operation(
                operations_pb2_grpc.OperationsStub(channel),
                operation,
                response_type=indexer_pb2.Collection,
                timeout=1800,
                poll_interval=1.0,
            )
            # The requests are built before the clock starts, as the in-process side's array is;
            # their serialisation and transfer are timed.
            requests = batches(warm, len(data))
            started = time.perf_counter()
            insert(requests)
            elapsed = time.perf_counter() - started
            del requests
            yield channel, (len(data) - warm) / elapsed
    finally:
        cluster.stop()
        s3.stop()
        etcd.stop()


def compare_searches(
    local: faiss.Index, channel: grpc.Channel, queries: np.ndarray, nprobe: int, rounds: int, singles: int
):
    """Batch and single-query searches on both sides, alternating one with the other so that both
    see the machine in the same state: the median batch time of each, the p50 of single queries
    and of a bare call to the router (a health check: the gRPC round trip with no work behind
    it, the floor under a served single query), with both sides' batch answers."""
    batch = indexer_pb2.SearchRequest(
        collection="collections/bench",
        k=10,
        nprobe=nprobe,
        queries=[indexer_pb2.Query(vector=vector(q)) for q in queries],
    )
    ones = [
        indexer_pb2.SearchRequest(
            collection="collections/bench", k=10, nprobe=nprobe, queries=[indexer_pb2.Query(vector=vector(q))]
        )
        for q in queries[:singles]
    ]
    stub = indexer_pb2_grpc.IndexerServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel).Check
    stub.Search(batch, timeout=300)  # warm-up: the router takes the quantiser from a shard
    time.sleep(1.0)
    local_batch, served_batch = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        _, local_ids = local.search(queries, 10)
        local_batch.append(time.perf_counter() - started)
        started = time.perf_counter()
        reply = stub.Search(batch, timeout=300)
        served_batch.append(time.perf_counter() - started)
    # Single queries alternate in blocks: FAISS's OpenMP threads spin for a while after each
    # search, and on a small machine spinning threads of one side would slow the other's query.
    local_single, served_single, bare = [], [], []
    for at in range(0, singles, SINGLES_BLOCK):
        for q in queries[at : at + SINGLES_BLOCK]:
            started = time.perf_counter()
            local.search(q[None, :], 10)
            local_single.append(time.perf_counter() - started)
        time.sleep(0.05)
        for one in ones[at : at + SINGLES_BLOCK]:
            started = time.perf_counter()
            stub.Search(one, timeout=30)
            served_single.append(time.perf_counter() - started)
        for _ in range(SINGLES_BLOCK):
            started = time.perf_counter()
            health(health_pb2.HealthCheckRequest(), timeout=30)
            bare.append(time.perf_counter() - started)
    served_ids = [[int(h.id) for h in r.hits] for r in reply.results]
    return (
        (len(queries) / float(np.median(local_batch)), len(queries) / float(np.median(served_batch))),
        (float(np.median(local_single)) * 1000, float(np.median(served_single)) * 1000, float(np.median(bare)) * 1000),
        (local_ids.tolist(), served_ids),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--warm", type=int, default=None, help="vectors inserted before training (default: 100,000 or half of --n)"
    )
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7, help="batch searches on each side")
    parser.add_argument("--singles", type=int, default=500, help="single-query searches on each side")
    args = parser.parse_args(argv)
    if args.warm is None:
        args.warm = min(100_000, args.n // 2)
    if not 0 < args.warm < args.n:
        parser.error(f"--warm must be between 1 and --n - 1 ({args.n - 1:,}); the rest is the timed insert")
    nlist = int(4 * np.sqrt(args.n))
    data = clustered(args.n, args.dim)
    queries = clustered(args.queries, args.dim, seed=1)
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(data)
    _, truth = exact.search(queries, 10)
    del exact
    local, local_add = in_process(data, args.warm, nlist, args.nprobe)
    with (
        tempfile.TemporaryDirectory() as tmp,
        served_collection(Path(tmp), data, args.warm, nlist, args.nprobe, args.shards) as (channel, served_add),
    ):
        (local_qps, served_qps), (local_ms, served_ms, bare_ms), (local_ids, served_ids) = compare_searches(
            local, channel, queries, args.nprobe, args.rounds, args.singles
        )
    local_recall, served_recall = recall(local_ids, truth), recall(served_ids, truth)
    print(
        f"\n{args.n:,} x {args.dim}-d clustered vectors, IVF-Flat nlist {nlist} nprobe {args.nprobe}, "
        f"{args.shards} shards, {os.cpu_count()} cores; searches alternate between the two sides "
        f"({args.rounds} batches, {args.singles} single queries each)\n"
    )
    print("| what | in-process FAISS | through simmesh | ratio / difference |")
    print("|---|---|---|---|")
    print(
        f"| insert after training (vectors/s) | {local_add:,.0f} | {served_add:,.0f} | {served_add / local_add:.2f} |"
    )
    print(
        f"| search, batch of {args.queries} (queries/s, median) | {local_qps:,.0f} | {served_qps:,.0f} | "
        f"{served_qps / local_qps:.2f} |"
    )
    print(f"| single query p50 (ms) | {local_ms:.3f} | {served_ms:.3f} | +{served_ms - local_ms:.3f} ms |")
    print(
        f"| bare gRPC call to the router (health check) p50 (ms) | - | {bare_ms:.3f} | "
        f"single query less this: +{served_ms - bare_ms - local_ms:.3f} ms |"
    )
    print(f"| recall@10 vs exact | {local_recall:.3f} | {served_recall:.3f} | {served_recall - local_recall:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
