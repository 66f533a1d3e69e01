"""What the REST gateway adds to a search, against the same search over gRPC, in one run; then the
console's first page in a real browser (`bench/console.py`).

Starts the local mesh (etcd, S3 server, shard node, router, embedder, catalog, labeler, gateway) on
free ports, fills a collection with clustered vectors, and searches by record id (k 10) over
gRPC through the SDK and over HTTP/JSON through the gateway (one kept-alive connection, the answer
parsed as JSON, as a client would). Each round makes each search on both paths in turn, the order
alternating from call to call, so the machine's drift falls on both alike; the table gives the
median and [range] over the rounds of each p50 and of their difference (target: the gateway adds
at most 1 ms at p50).

    python bench/gateway.py [--n 20000] [--dim 128] [--rounds 7] [--searches 200] [--no-console]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from indexer import clustered

from simmesh.devstack.mesh import Mesh, MeshConfig
from simmesh_client import Client, ClientConfig
from simmesh_proto.v1 import common_pb2, indexer_pb2

COLLECTION = "bench"


def fill(client: Client, data: np.ndarray) -> None:
    client.indexer.create_collection(COLLECTION, data.shape[1], metric="inner_product")
    records = (
        indexer_pb2.RecordInput(id=str(i), vector=common_pb2.Vector(dimension=data.shape[1], data=row.tobytes()))
        for i, row in enumerate(data)
    )
    summary = client.indexer.insert(COLLECTION, records, batch_size=2000)
    if summary.failures:
        raise RuntimeError(f"insert failed: {summary.failures[0]}")


class HttpSearch:
    """Search by record id over HTTP/JSON on one kept-alive connection."""

    def __init__(self, address: str) -> None:
        self.connection = http.client.HTTPConnection(address, timeout=60)
        self.headers = {"Content-Type": "application/json"}

    def __call__(self, record_id: str) -> list[str]:
        body = json.dumps({"queries": [{"recordId": record_id}], "k": 10})
        self.connection.request("POST", f"/v1/collections/{COLLECTION}:search", body=body, headers=self.headers)
        answer = self.connection.getresponse()
        payload = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"HTTP {answer.status}: {payload[:300]!r}")
        return [hit["id"] for hit in json.loads(payload)["results"][0]["hits"]]


def grpc_search(client: Client):
    def search(record_id: str) -> list[str]:
        result = client.indexer.search(COLLECTION, record_id=record_id, k=10)
        return [hit.id for hit in result.hits]

    return search


def one_round(paths: dict[str, object], ids: list[str]) -> dict[str, float]:
    """Each id searched on every path in turn (the first path alternating): p50 ms by path."""
    names = list(paths)
    times: dict[str, list[float]] = {name: [] for name in names}
    for at, record_id in enumerate(ids):
        for name in names[at % 2 :] + names[: at % 2]:
            started = time.perf_counter()
            paths[name](record_id)  # type: ignore[operator]
            times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values)) * 1000 for name, values in times.items()}


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}, {format(max(values), fmt)}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--searches", type=int, default=200, help="searches per path and round")
    parser.add_argument("--no-console", action="store_true", help="skip the browser's first-page measurement")
    args = parser.parse_args(argv)
    data = clustered(args.n, args.dim)
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory(prefix="simmesh-gateway-bench-") as tmp:
        config = MeshConfig(
            Path(tmp) / "mesh",
            ports="auto",
            with_triton=False,
            shard_nodes=1,
            env={"SIMMESH_BUILTIN_MODELS": "false", "SIMMESH_LOG_LEVEL": "WARNING"},
        )
        with Mesh(config) as mesh:
            client = Client(ClientConfig(indexer_address=mesh.addresses["indexer"], timeout=600))
            try:
                fill(client, data)
                gateway = HttpSearch(mesh.addresses["gateway"])
                paths = {"gRPC (SDK)": grpc_search(client), "HTTP/JSON (gateway)": gateway}
                same = [path("0") for path in paths.values()]
                if same[0] != same[1]:
                    raise RuntimeError(f"the two paths disagree: {same}")
                one_round(paths, [str(i) for i in range(50)])  # warm-up
                rounds = []
                for _ in range(args.rounds):
                    ids = [str(i) for i in rng.integers(0, args.n, args.searches)]
                    rounds.append(one_round(paths, ids))
            finally:
                client.close()
    grpc_p50 = [r["gRPC (SDK)"] for r in rounds]
    http_p50 = [r["HTTP/JSON (gateway)"] for r in rounds]
    added = [h - g for h, g in zip(http_p50, grpc_p50)]
    print(
        f"\n{args.n:,} x {args.dim}-d vectors (exact), 1 shard, search by record id, k 10, {os.cpu_count()} cores; "
        f"{args.rounds} rounds of {args.searches} searches per path, alternating call by call\n"
    )
    print("| path | p50 (ms) | added by the gateway (ms) |")
    print("|---|---|---|")
    print(f"| gRPC (SDK) | {spread(grpc_p50, '.3f')} | - |")
    print(f"| HTTP/JSON (gateway) | {spread(http_p50, '.3f')} | {spread(added, '+.3f')} |")
    if not args.no_console:
        import console

        print("\n## console\n", flush=True)
        return console.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
