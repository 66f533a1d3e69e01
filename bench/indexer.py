"""Search and insert through the indexer (router + shard processes) vs in-process FAISS, in one run.

Clustered vectors (default 1M x 256-d), IVF-Flat with the same nlist and nprobe on both sides:

- in-process: one `faiss.IndexIVFFlat` (inner product on L2-normalised vectors), trained on a
  sample, `add` of the vectors after the first 100k, batch search of 1,000 queries, single-query
  latency, recall@10 against exact search;
- through simmesh: etcd, an S3 server, 2 shard node processes and a router; the first 100k
  vectors inserted, TrainIndex, the rest inserted through the router in batches of 5,000 on one
  StreamInsertRecords call, as the SDK does (write-ahead log fsync included), the same searches
  over gRPC.

    python bench/indexer.py [--n 1000000] [--dim 256] [--shards 2] [--nprobe 16]

Prints a Markdown table with the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import faiss
import grpc
import numpy as np
from google.longrunning import operations_pb2_grpc
from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc
from simmesh_client.operations import wait_operation

from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.indexer import IndexerCluster
from simmesh.devstack.s3 import S3Server

OPTIONS = [("grpc.max_receive_message_length", 1 << 28), ("grpc.max_send_message_length", 1 << 28)]


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((1000, dim)).astype(np.float32) * 4
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        out[start:stop] = centers[rng.integers(0, len(centers), stop - start)]
        out[start:stop] += rng.standard_normal((stop - start, dim)).astype(np.float32)
    faiss.normalize_L2(out)
    return out


def recall(found: list[list[str]] | np.ndarray, truth: np.ndarray, as_ids) -> float:
    return float(np.mean([len(set(as_ids(f)) & set(t)) / len(t) for f, t in zip(found, truth)]))


def in_process(data: np.ndarray, queries: np.ndarray, warm: int, nlist: int, nprobe: int, truth: np.ndarray):
    quantizer = faiss.IndexFlatIP(data.shape[1])
    index = faiss.IndexIVFFlat(quantizer, data.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(7)
    index.train(data[:warm][rng.choice(warm, min(warm, 100_000), replace=False)])
    index.add(data[:warm])
    started = time.perf_counter()
    for start in range(warm, len(data), 10_000):
        index.add(data[start:start + 10_000])
    add_rate = (len(data) - warm) / (time.perf_counter() - started)
    index.nprobe = nprobe
    started = time.perf_counter()
    _, ids = index.search(queries, 10)
    qps = len(queries) / (time.perf_counter() - started)
    singles = []
    for q in queries[:300]:
        started = time.perf_counter()
        index.search(q[None, :], 10)
        singles.append(time.perf_counter() - started)
    return add_rate, qps, float(np.median(singles) * 1000), recall(ids, truth, lambda row: row.tolist())


def vector(v: np.ndarray) -> common_pb2.Vector:
    return common_pb2.Vector(dimension=len(v), data=v.tobytes())


def through_simmesh(root: Path, data, queries, warm, nlist, nprobe, shards, truth):
    etcd = EtcdServer(root / "etcd", root / "logs").start()
    s3 = S3Server(root / "s3", root / "logs").start()
    cluster = IndexerCluster(root / "cluster", etcd.endpoint, s3, shards, env={"SIMMESH_LOG_LEVEL": "WARNING"})
    try:
        cluster.start()
        with grpc.insecure_channel(cluster.router_address, options=OPTIONS) as channel:
            stub = indexer_pb2_grpc.IndexerServiceStub(channel)
            stub.CreateCollection(indexer_pb2.CreateCollectionRequest(collection_id="bench", collection=(
                indexer_pb2.Collection(dimension=data.shape[1], shard_count=shards,
                                       index=indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT, nlist=nlist,
                                                                   nprobe=nprobe)))))

            def insert(start: int, stop: int) -> None:
                # As the SDK and `simctl insert` do: batches on one StreamInsertRecords call.
                def batches():
                    for at in range(start, stop, 5000):
                        yield indexer_pb2.InsertRecordsRequest(collection="collections/bench", records=[
                            indexer_pb2.RecordInput(id=str(i), vector=vector(data[i]))
                            for i in range(at, min(stop, at + 5000))])

                for reply in stub.StreamInsertRecords(batches(), timeout=1800):
                    if reply.errors:
                        raise RuntimeError(reply.errors[0])

            insert(0, warm)
            operation = stub.TrainIndex(indexer_pb2.TrainIndexRequest(collection="collections/bench"))
            wait_operation(operations_pb2_grpc.OperationsStub(channel), operation,
                           response_type=indexer_pb2.Collection, timeout=1800, poll_interval=1.0)
            started = time.perf_counter()
            insert(warm, len(data))
            add_rate = (len(data) - warm) / (time.perf_counter() - started)
            request = indexer_pb2.SearchRequest(collection="collections/bench", k=10, nprobe=nprobe,
                                                queries=[indexer_pb2.Query(vector=vector(q)) for q in queries])
            stub.Search(request, timeout=300)  # warm-up
            started = time.perf_counter()
            reply = stub.Search(request, timeout=300)
            qps = len(queries) / (time.perf_counter() - started)
            singles = []
            for q in queries[:300]:
                one = indexer_pb2.SearchRequest(collection="collections/bench", k=10, nprobe=nprobe,
                                                queries=[indexer_pb2.Query(vector=vector(q))])
                started = time.perf_counter()
                stub.Search(one, timeout=30)
                singles.append(time.perf_counter() - started)
            found = [[h.id for h in r.hits] for r in reply.results]
            return add_rate, qps, float(np.median(singles) * 1000), recall(found, truth, lambda row: [int(i) for i in row])
    finally:
        cluster.stop()
        s3.stop()
        etcd.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--warm", type=int, default=100_000, help="vectors inserted before training")
    parser.add_argument("--nprobe", type=int, default=16)
    args = parser.parse_args(argv)
    nlist = int(4 * np.sqrt(args.n))
    data = clustered(args.n, args.dim)
    queries = clustered(args.queries, args.dim, seed=1)
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(data)
    _, truth = exact.search(queries, 10)
    del exact
    local = in_process(data, queries, args.warm, nlist, args.nprobe, truth)
    with tempfile.TemporaryDirectory() as tmp:
        served = through_simmesh(Path(tmp), data, queries, args.warm, nlist, args.nprobe, args.shards, truth)
    print(f"\n{args.n:,} x {args.dim}-d clustered vectors, IVF-Flat nlist {nlist} nprobe {args.nprobe}, "
          f"{args.shards} shards, {os.cpu_count()} cores\n")
    print("| what | in-process FAISS | through simmesh | ratio / difference |")
    print("|---|---|---|---|")
    print(f"| insert after training (vectors/s) | {local[0]:,.0f} | {served[0]:,.0f} | {served[0] / local[0]:.2f} |")
    print(f"| search, batch of {args.queries} (queries/s) | {local[1]:,.0f} | {served[1]:,.0f} | "
          f"{served[1] / local[1]:.2f} |")
    print(f"| single query p50 (ms) | {local[2]:.3f} | {served[2]:.3f} | +{served[2] - local[2]:.3f} ms |")
    print(f"| recall@10 vs exact | {local[3]:.3f} | {served[3]:.3f} | {served[3] - local[3]:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
