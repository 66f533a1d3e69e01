"""Where a batch search's time goes through the mesh: the whole call, one shard's call, FAISS's own
scan, the router's merge and the client's decoding, with the messages' sizes.

A 2-shard IVF-Flat collection of clustered vectors (as `bench/indexer.py` builds it), one batch
of queries; the router's and client's steps are timed here, in-process, on the messages the mesh
sent. `--packed` asks the mesh for packed answers (see `SearchRequest.packed`), `--matrix` sends
the queries as one matrix (`SearchRequest.query_vectors`).

    python bench/batch_split.py [--n 100000] [--dim 256] [--queries 1000] [--nprobe 16] [--rounds 5]
        [--packed] [--matrix] [--compare RUNS]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from indexer import OPTIONS, clustered, served_collection, vector
from indexer import in_process as bench_in_process

from simmesh.indexer.coarse import CoarseQuantizer
from simmesh.indexer.requests import search_plan
from simmesh.indexer.router.plans import SearchPlan
from simmesh.indexer.router.prepare import stack_rows, vector_data
from simmesh.indexer.router.results import Answer, shard_hits
from simmesh.indexer.router.search import matrix_rows
from simmesh.indexer.vectors import INNER_PRODUCT
from simmesh_client.batch_hits import unpack_hits
from simmesh_proto.internal.v1 import shard_pb2, shard_pb2_grpc
from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc


def batch_request(queries: np.ndarray, nprobe: int, packed: bool, matrix: bool = False) -> indexer_pb2.SearchRequest:
    """The batch as one `Query` message per vector, or with `matrix` as `query_vectors` (where
    the protos have it)."""
    if matrix and "query_vectors" in indexer_pb2.SearchRequest.DESCRIPTOR.fields_by_name:
        form = {
            "query_vectors": common_pb2.VectorBatch(
                dimension=queries.shape[1], count=len(queries), data=queries.tobytes()
            )
        }
    else:
        form = {"queries": [indexer_pb2.Query(vector=vector(q)) for q in queries]}
    return indexer_pb2.SearchRequest(
        collection="collections/bench", k=10, nprobe=nprobe, **form, **({"packed": True} if packed else {})
    )


def median_ms(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--packed", action="store_true")
    parser.add_argument("--matrix", action="store_true", help="send the queries as one matrix (query_vectors)")
    parser.add_argument(
        "--compare", type=int, default=0, help="instead: this many runs of batches alternating with in-process FAISS"
    )
    args = parser.parse_args(argv)
    nlist = int(4 * np.sqrt(args.n))
    data = clustered(args.n, args.dim)
    queries = clustered(args.queries, args.dim, seed=1)
    with (
        tempfile.TemporaryDirectory() as tmp,
        served_collection(Path(tmp), data, args.n // 2, nlist, args.nprobe, 2) as (channel, _),
    ):
        rows = compare(channel, data, queries, args) if args.compare else measure(channel, queries, args)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def measure(channel: grpc.Channel, queries: np.ndarray, args: argparse.Namespace) -> list[tuple[str, str]]:
    nq, rounds = len(queries), args.rounds
    request = batch_request(queries, args.nprobe, args.packed, args.matrix)
    client_encode = median_ms(
        lambda: batch_request(queries, args.nprobe, args.packed, args.matrix).SerializeToString(), rounds
    )
    stub = indexer_pb2_grpc.IndexerServiceStub(channel)
    stub.Search(request, timeout=300)
    time.sleep(1.0)
    whole = median_ms(lambda: stub.Search(request, timeout=300), rounds)
    raw = stub.Search.with_call(request, timeout=300)[0].SerializeToString()
    # What the router sends each shard: the queries with their lists, assigned once.
    stats = stub.GetCollectionStats(indexer_pb2.GetCollectionStatsRequest(name="collections/bench"))
    storage = stats.shards[0].name.split("/")[1]
    shard_stubs = [
        shard_pb2_grpc.ShardServiceStub(grpc.insecure_channel(s.address, options=OPTIONS)) for s in stats.shards
    ]
    trained = shard_stubs[0].GetTrainedIndex(shard_pb2.GetTrainedIndexRequest(collection=storage, shard=0))
    quantizer = CoarseQuantizer(trained.trained_index, INNER_PRODUCT, trained.nprobe)
    coarse = quantizer.assign(queries, args.nprobe)
    shard_request = shard_pb2.SearchRequest(
        collection=storage,
        queries=queries.tobytes(),
        query_count=nq,
        dimension=queries.shape[1],
        k=10,
        nprobe=args.nprobe,
        coarse_lists=coarse.lists.astype("<i8").tobytes(),
        coarse_distances=coarse.distances.astype("<f4").tobytes(),
        coarse_digest=coarse.digest,
        packed=True,
    )
    replies = {}
    for shard, shard_stub in enumerate(shard_stubs):
        shard_request.shard = shard
        replies[shard] = shard_stub.Search(shard_request, timeout=60)
    shard_request.shard = 0
    shard_call = median_ms(lambda: shard_stubs[0].Search(shard_request, timeout=60), rounds)
    reply_bytes = replies[0].SerializeToString()
    reply_decode = median_ms(lambda: shard_pb2.SearchResponse.FromString(reply_bytes), rounds)
    assign = median_ms(lambda: quantizer.assign(queries, args.nprobe), rounds)
    scan = faiss_scan(trained.trained_index, queries, coarse, args, rounds)
    local = in_process(trained.trained_index, args)
    engine = median_ms(lambda: local.search(queries, 10), rounds)
    plan = search_plan(request)

    def merge() -> bytes:
        response = indexer_pb2.SearchResponse()
        hits = shard_hits(replies, nq, queries.shape[1])
        Answer(plan, indexer_pb2.Collection(dimension=queries.shape[1]), hits).write(response)
        return response.SerializeToString()

    router_merge = median_ms(merge, rounds)
    request_bytes = request.SerializeToString()
    request_parse = median_ms(lambda: search_plan(indexer_pb2.SearchRequest.FromString(request_bytes)), rounds)
    spec = indexer_pb2.Collection(dimension=queries.shape[1], metric=indexer_pb2.METRIC_INNER_PRODUCT)
    rows = median_ms(lambda: query_rows(plan, spec), rounds)
    decode = median_ms(lambda: client_decode(raw, args.packed), rounds)
    per_query = 1000 / nq
    return [
        ("in-process FAISS, whole collection, same quantiser (ms)", f"{engine:.1f}"),
        ("whole batch through the router (ms)", f"{whole:.1f}  ({whole * per_query:.1f} us/query)"),
        ("one shard's Search call, as the router makes it (ms)", f"{shard_call:.1f}"),
        ("  of which FAISS's scan of that shard's lists (ms, in-process)", f"{scan:.1f}"),
        ("router: coarse assignment (ms)", f"{assign:.1f}"),
        ("client: build + encode the request (ms)", f"{client_encode:.1f}"),
        ("router: request decode + plan (ms)", f"{request_parse:.1f}"),
        ("router: the queries' vectors checked as one matrix (ms)", f"{rows:.1f}"),
        ("router: decoding one shard's reply (ms)", f"{reply_decode:.1f}"),
        ("router: merge + write + encode the response (ms)", f"{router_merge:.1f}"),
        ("client: decode the response to ids/scores (ms)", f"{decode:.1f}"),
        ("shard reply size (bytes)", f"{len(reply_bytes):,}"),
        ("response size (bytes)", f"{len(raw):,}"),
        ("request size (bytes)", f"{len(request_bytes):,}"),
    ]


def faiss_scan(trained: bytes, queries: np.ndarray, coarse, args, rounds: int) -> float:
    """FAISS's scan of half the collection's vectors (one shard's) in the lists the router assigned,
    one thread, as a shard does it."""
    owner = faiss.deserialize_index(np.frombuffer(trained, dtype=np.uint8))
    index = faiss.extract_index_ivf(owner)
    data = clustered(args.n, args.dim)[: args.n // 2]
    index.add(data)
    params = faiss.SearchParametersIVF()
    params.nprobe = args.nprobe
    distances = np.empty((len(queries), 10), dtype=np.float32)
    labels = np.empty((len(queries), 10), dtype=np.int64)
    lists = np.ascontiguousarray(coarse.lists, dtype=np.int64)
    centroid = np.ascontiguousarray(coarse.distances, dtype=np.float32)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return median_ms(
            lambda: index.search_preassigned_c(
                len(queries),
                faiss.swig_ptr(queries),
                10,
                faiss.swig_ptr(lists),
                faiss.swig_ptr(centroid),
                faiss.swig_ptr(distances),
                faiss.swig_ptr(labels),
                False,
                params,
            ),
            rounds,
        )
    finally:
        faiss.omp_set_num_threads(threads)


def compare(channel: grpc.Channel, data: np.ndarray, queries: np.ndarray, args: argparse.Namespace) -> list:
    """Runs of `rounds` batches each, alternating in-process FAISS (its own IVF-Flat index, same
    nlist and nprobe) with the mesh, per-hit and packed: each run's ratio of queries/s (mesh over
    in-process, from the medians), then their median and range over the runs."""
    local, _ = bench_in_process(data, args.n // 2, int(4 * np.sqrt(args.n)), args.nprobe)
    stub = indexer_pb2_grpc.IndexerServiceStub(channel)
    request = batch_request(queries, args.nprobe, False)
    sides = {
        "in-process": lambda: local.search(queries, 10),
        "mesh, per-hit": lambda: stub.Search(request, timeout=300),
    }
    if "packed" in indexer_pb2.SearchRequest.DESCRIPTOR.fields_by_name:  # not before packed answers existed
        packed = batch_request(queries, args.nprobe, True)
        sides["mesh, packed"] = lambda: unpack_hits(stub.Search(packed, timeout=300))
    if "query_vectors" in indexer_pb2.SearchRequest.DESCRIPTOR.fields_by_name:  # the queries as one matrix
        sides["mesh, packed, query matrix"] = lambda: unpack_hits(
            stub.Search(batch_request(queries, args.nprobe, True, True), timeout=300)
        )
    for work in sides.values():
        work()
    ratios: dict[str, list[float]] = {name: [] for name in sides if name != "in-process"}
    for _ in range(args.compare):
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, work in sides.items():
                times[name].append(median_ms(work, 1))
        base = float(np.median(times["in-process"]))
        for name in ratios:
            ratios[name].append(base / float(np.median(times[name])))
        print({name: f"{np.median(t):.1f} ms" for name, t in times.items()}, flush=True)
    return [
        (f"{name} / in-process, queries/s", f"median {np.median(r):.2f}, range {min(r):.2f}-{max(r):.2f}")
        for name, r in ratios.items()
    ]


def in_process(trained: bytes, args: argparse.Namespace) -> faiss.Index:
    """The whole collection in one IVF-Flat index with the mesh's quantiser, searched at `nprobe`."""
    index = faiss.deserialize_index(np.frombuffer(trained, dtype=np.uint8))
    index.add(clustered(args.n, args.dim))
    faiss.extract_index_ivf(index).nprobe = args.nprobe
    return index


def query_rows(plan: SearchPlan, spec: indexer_pb2.Collection) -> np.ndarray:
    """The router's step from a plan to the queries' matrix (vectors given, as here)."""
    if plan.queries.matrix is not None:
        return matrix_rows(plan.queries.matrix, spec)
    rows = [vector_data(v, spec.dimension, "queries") for _, v in plan.queries.vectors]
    return stack_rows(rows, spec.dimension)[0]


def client_decode(raw: bytes, packed: bool) -> object:
    response = indexer_pb2.SearchResponse.FromString(raw)
    if packed:
        return unpack_hits(response)
    ids = [[h.id for h in r.hits] for r in response.results]
    scores = np.array([[h.score for h in r.hits] for r in response.results], dtype=np.float32)
    return ids, scores


if __name__ == "__main__":
    sys.exit(main())
