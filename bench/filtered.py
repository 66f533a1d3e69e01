"""Filtered vs unfiltered single queries through the indexer (router + shard processes), alternating.

Clustered vectors (default 100k x 256-d), IVF-Flat (nlist 4 sqrt(n), nprobe 16), 2 shards, each
record with indexed `cat` (100 values), `tag` (200 values) and `n` (uniform in [0, 1)). Filters of
1% selectivity: an equality (`cat`), an `$in` of two tags and a range on `n` whose bounds move
with every query (so no two range queries share a filter). Blocks of single queries alternate
between unfiltered and each filter, `--runs` times; prints each run's p50 and the median and
range over runs, with recall@10 against exact filtered search.

    python bench/filtered.py [--n 100000] [--runs 5] [--singles 200]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
from google.longrunning import operations_pb2_grpc
from google.protobuf import struct_pb2

sys.path.insert(0, str(Path(__file__).parent))
from indexer import OPTIONS, clustered, vector

from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.indexer import IndexerCluster
from simmesh.devstack.s3 import S3Server
from simmesh_client.operations import wait_operation
from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc

Spec = Callable[[int], dict]


def metadata(n: int) -> list[dict]:
    numbers = np.random.default_rng(3).random(n)
    return [{"cat": i % 100, "tag": f"t{i % 200}", "n": float(numbers[i])} for i in range(n)]


@contextlib.contextmanager
def served(root: Path, data: np.ndarray, docs: list[dict], nlist: int, nprobe: int, shards: int):
    etcd = EtcdServer(root / "etcd", root / "logs").start()
    s3 = S3Server(root / "s3", root / "logs").start()
    cluster = IndexerCluster(root / "cluster", etcd.endpoint, s3, shards, env={"SIMMESH_LOG_LEVEL": "WARNING"})
    try:
        cluster.start()
        with grpc.insecure_channel(cluster.router_address, options=OPTIONS) as channel:
            stub = indexer_pb2_grpc.IndexerServiceStub(channel)
            index = indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT, nlist=nlist, nprobe=nprobe)
            collection = indexer_pb2.Collection(
                dimension=data.shape[1], shard_count=shards, index=index, indexed_fields=["cat", "tag", "n"]
            )
            stub.CreateCollection(indexer_pb2.CreateCollectionRequest(collection_id="bench", collection=collection))

            def requests():
                for at in range(0, len(data), 5000):
                    records = []
                    for i in range(at, min(len(data), at + 5000)):
                        record = indexer_pb2.RecordInput(id=str(i), vector=vector(data[i]))
                        record.metadata.update(docs[i])
                        records.append(record)
                    yield indexer_pb2.InsertRecordsRequest(collection="collections/bench", records=records)

            for reply in stub.StreamInsertRecords(requests(), timeout=1800):
                if reply.errors:
                    raise RuntimeError(reply.errors[0])
            operation = stub.TrainIndex(indexer_pb2.TrainIndexRequest(collection="collections/bench"))
            operations = operations_pb2_grpc.OperationsStub(channel)
            wait_operation(operations, operation, response_type=indexer_pb2.Collection, timeout=1800, poll_interval=1.0)
            yield stub
    finally:
        cluster.stop()
        s3.stop()
        etcd.stop()


def request(q: np.ndarray, nprobe: int, spec: dict | None) -> indexer_pb2.SearchRequest:
    out = indexer_pb2.SearchRequest(
        collection="collections/bench", k=10, nprobe=nprobe, queries=[indexer_pb2.Query(vector=vector(q))]
    )
    if spec is not None:
        out.filter.CopyFrom(struct_pb2.Struct())
        out.filter.update(spec)
    return out


def truth(data: np.ndarray, columns: dict[str, np.ndarray], q: np.ndarray, spec: dict) -> set[str]:
    """The ids of the exact top 10 among the records that pass `spec` (one field, as in FILTERS)."""
    ((field, cond),) = spec.items()
    column = columns[field]
    if not isinstance(cond, dict):
        mask = column == cond
    elif "$in" in cond:
        mask = np.isin(column, cond["$in"])
    else:
        mask = (column >= cond["$gte"]) & (column < cond["$lt"])
    rows = np.flatnonzero(mask)
    return {str(r) for r in rows[np.argsort(-(data[rows] @ q))[:10]]}


FILTERS: dict[str, Spec] = {
    "eq": lambda i: {"cat": i % 100},
    "in": lambda i: {"tag": {"$in": [f"t{i % 200}", f"t{(i + 1) % 200}"]}},
    "range": lambda i: {"n": {"$gte": (i * 0.0137) % 0.99, "$lt": (i * 0.0137) % 0.99 + 0.01}},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--singles", type=int, default=200, help="single queries per kind and run")
    args = parser.parse_args(argv)
    data = clustered(args.n, args.dim)
    queries = clustered(args.singles, args.dim, seed=1)
    docs = metadata(args.n)
    columns = {field: np.asarray([d[field] for d in docs]) for field in ("cat", "tag", "n")}
    kinds: dict[str, Spec | None] = {"unfiltered": None, **FILTERS}
    p50: dict[str, list[float]] = {kind: [] for kind in kinds}
    recalls: dict[str, list[float]] = {kind: [] for kind in FILTERS}
    nlist = int(4 * np.sqrt(args.n))
    with tempfile.TemporaryDirectory() as tmp, served(Path(tmp), data, docs, nlist, args.nprobe, args.shards) as stub:
        for q in queries[:20]:
            stub.Search(request(q, args.nprobe, None), timeout=30)  # warm-up
        for run in range(args.runs):
            for kind, spec in kinds.items():
                times = []
                for i, q in enumerate(queries):
                    one = request(q, args.nprobe, None if spec is None else spec(run * 1000 + i))
                    started = time.perf_counter()
                    reply = stub.Search(one, timeout=30)
                    times.append(time.perf_counter() - started)
                    if spec is not None and i < 20:
                        found = {h.id for h in reply.results[0].hits}
                        recalls[kind].append(len(found & truth(data, columns, q, spec(run * 1000 + i))) / 10)
                p50[kind].append(float(np.median(times)) * 1000)
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in p50.items()), flush=True)
    print(f"\n{args.n:,} x {args.dim}-d, IVF-Flat nprobe {args.nprobe}, {args.shards} shards, 1% filters\n")
    print("| single query | p50 ms, median of runs (range) | over unfiltered | recall@10 |")
    print("|---|---|---|---|")
    base = float(np.median(p50["unfiltered"]))
    for kind, values in p50.items():
        median = float(np.median(values))
        rec = f"{np.mean(recalls[kind]):.3f}" if kind in recalls else "-"
        print(f"| {kind} | {median:.3f} ({min(values):.3f}-{max(values):.3f}) | {median - base:+.3f} | {rec} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
