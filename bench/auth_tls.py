"""The cost of API keys and TLS on search through the indexer, against the same indexer without them, in one run.

Four indexers (a router and shard node processes each) on one etcd and one S3 server, holding the
same clustered vectors in a trained IVF-Flat collection, called through the SDK:

- plain: no auth, plaintext;
- API keys: every call carries a tenant's API key (a record in etcd), checked by the router, which
  calls its shards with the internal credential and the caller's identity;
- mTLS: the SDK over TLS with a client certificate, router <-> shard over mutual TLS (one CA,
  certificates made for the run);
- API keys + mTLS: both.

Each round makes single queries (their p50) and a few batch searches (queries/s of the median
one), each call on every configuration in turn, in an order that rotates from call to call, so
that the shared machine's drift falls on all configurations alike. The table gives, over the
rounds, the median and range of each and of its difference to plain in the same round (target:
at most +0.1 ms on the single-query p50 and at most 5% off the batch throughput).

    python bench/auth_tls.py [--n 50000] [--dim 128] [--shards 2] [--rounds 7] [--singles 200] \
        [--batch 500] [--batches 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from indexer import clustered

from simmesh.devstack.certs import CertAuthority
from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.indexer import IndexerCluster
from simmesh.devstack.s3 import S3Server
from simmesh.kit.auth.etcd_store import keys_prefix
from simmesh.kit.auth.identity import Role
from simmesh.kit.auth.keys import new_key
from simmesh.kit.discovery import EtcdConfig
from simmesh.kit.tls import ChannelTls
from simmesh_client import Client, ClientConfig
from simmesh_client.tls import TlsOptions
from simmesh_proto.v1 import common_pb2, indexer_pb2

CONFIGURATIONS = (
    ("plain", False, False),
    ("API keys", True, False),
    ("mTLS", False, True),
    ("API keys + mTLS", True, True),
)
NPROBE = 16


@dataclass
class Served:
    """One configuration's indexer and the SDK client that calls it."""

    name: str
    cluster: IndexerCluster
    client: Client


def api_key_env(etcd_endpoint: str, prefix: str) -> tuple[dict[str, str], str]:
    """The variables that turn API keys on for an indexer under `prefix`, and a writer key of
    tenant `bench` stored there."""
    secret, record = new_key("bench", Role.WRITER)
    etcd = EtcdConfig(etcd_endpoint).connect()
    try:
        etcd.put(keys_prefix(prefix) + record.key_id, record.to_json())
    finally:
        etcd.close()
    env = {"SIMMESH_API_KEYS": "etcd", "SIMMESH_INTERNAL_TOKEN": os.urandom(16).hex()}
    return env, secret


@contextlib.contextmanager
def served_indexers(root: Path, shards: int) -> Iterator[list[Served]]:
    """etcd, S3 and one indexer per configuration, each with its SDK client."""
    etcd = EtcdServer(root / "etcd", root / "logs").start()
    s3 = S3Server(root / "s3", root / "logs").start()
    authority = CertAuthority.create(root / "ca", "bench CA")
    server_cert, client_cert = authority.issue("mesh"), authority.issue("client")
    served: list[Served] = []
    try:
        for name, keys, tls in CONFIGURATIONS:
            cluster_tls: ChannelTls | None = server_cert if tls else None
            cluster = IndexerCluster(
                root / name.replace(" ", ""),
                etcd.endpoint,
                s3,
                shards,
                env={"SIMMESH_LOG_LEVEL": "WARNING"},
                tls=cluster_tls,
            )
            token = None
            if keys:
                env, token = api_key_env(etcd.endpoint, cluster.prefix)
                cluster.common.update(env)
            served.append(Served(name, cluster, client(cluster.router_address, token, client_cert if tls else None)))
            cluster.start()
        yield served
    finally:
        for one in served:
            one.client.close()
            one.cluster.stop()
        s3.stop()
        etcd.stop()


def client(address: str, token: str | None, tls: ChannelTls | None) -> Client:
    options = TlsOptions(ca_file=tls.ca_file, cert_file=tls.cert_file, key_file=tls.key_file) if tls else None
    return Client(ClientConfig(indexer_address=address, token=token, tls=options, timeout=600))


def fill(client: Client, data: np.ndarray, shards: int, nlist: int) -> None:
    """The collection `bench` with `data`, IVF-Flat trained with `nlist` lists."""
    client.indexer.create_collection("bench", data.shape[1], shard_count=shards, metric="inner_product")
    records = (
        indexer_pb2.RecordInput(id=str(i), vector=common_pb2.Vector(dimension=data.shape[1], data=row.tobytes()))
        for i, row in enumerate(data)
    )
    summary = client.indexer.insert("bench", records, batch_size=2000)
    if summary.failures:
        raise RuntimeError(f"insert failed: {summary.failures[0]}")
    client.indexer.train_index("bench", kind="ivf_flat", nlist=nlist, poll_interval=0.5)


def rotated(served: list[Served], at: int) -> list[Served]:
    """`served`, starting at its `at`-th (modulo its length)."""
    at %= len(served)
    return served[at:] + served[:at]


def one_round(
    served: list[Served], singles: np.ndarray, batch: np.ndarray, batches: int
) -> dict[str, tuple[float, float]]:
    """Each row of `singles` as a single query, then `batches` searches of `batch`, each call made
    on every configuration in turn (starting with the next one each time), so that the machine's
    drift reaches all alike: by configuration, (p50 ms, queries/s of the median batch search)."""
    singles_s: dict[str, list[float]] = {one.name: [] for one in served}
    batches_s: dict[str, list[float]] = {one.name: [] for one in served}
    for at, q in enumerate(singles):
        for one in rotated(served, at):
            started = time.perf_counter()
            one.client.indexer.search("bench", vector=q, k=10, nprobe=NPROBE, include_metadata=False)
            singles_s[one.name].append(time.perf_counter() - started)
    for at in range(batches):
        for one in rotated(served, at):
            started = time.perf_counter()
            one.client.indexer.search_batch("bench", batch, k=10, nprobe=NPROBE)
            batches_s[one.name].append(time.perf_counter() - started)
    return {
        name: (float(np.median(singles_s[name])) * 1000, len(batch) / float(np.median(batches_s[name])))
        for name in singles_s
    }


def spread(values: list[float], fmt: str) -> str:
    """`median [min, max]`."""
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}, {format(max(values), fmt)}]"


def report(results: dict[str, list[tuple[float, float]]], batch: int) -> None:
    plain = results["plain"]
    print(
        f"| configuration | single query p50 (ms) | p50 vs plain (ms) | batch of {batch} (queries/s) | "
        "throughput vs plain |"
    )
    print("|---|---|---|---|---|")
    for name, rounds in results.items():
        p50s, rates = [r[0] for r in rounds], [r[1] for r in rounds]
        if name == "plain":
            print(f"| {name} | {spread(p50s, '.3f')} | - | {spread(rates, ',.0f')} | - |")
            continue
        added = [mine[0] - base[0] for mine, base in zip(rounds, plain)]
        ratio = [mine[1] / base[1] for mine, base in zip(rounds, plain)]
        cells = [spread(p50s, ".3f"), spread(added, "+.3f"), spread(rates, ",.0f"), spread(ratio, ".3f")]
        print(f"| {name} | {' | '.join(cells)} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--singles", type=int, default=200, help="single queries per configuration and round")
    parser.add_argument("--batch", type=int, default=500, help="queries in each batch search")
    parser.add_argument("--batches", type=int, default=5, help="batch searches per configuration and round")
    args = parser.parse_args(argv)
    nlist = int(4 * np.sqrt(args.n))
    data = clustered(args.n, args.dim)
    queries = clustered(max(args.batch, args.singles), args.dim, seed=1)
    singles, batch = queries[: args.singles], queries[: args.batch]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in CONFIGURATIONS}
    with tempfile.TemporaryDirectory() as tmp, served_indexers(Path(tmp), args.shards) as served:
        for one in served:
            fill(one.client, data, args.shards, nlist)
        one_round(served, singles[:20], batch, 1)  # warm-up: channels open, the routers have the quantiser
        for _ in range(args.rounds):
            for name, outcome in one_round(served, singles, batch, args.batches).items():
                results[name].append(outcome)
    print(
        f"\n{args.n:,} x {args.dim}-d clustered vectors, IVF-Flat nlist {nlist} nprobe {NPROBE}, {args.shards} shards, "
        f"{os.cpu_count()} cores; {args.rounds} rounds, each: {args.singles} single queries and {args.batches} "
        f"batches of {args.batch} per configuration, each call made on every configuration in turn\n"
    )
    report(results, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
