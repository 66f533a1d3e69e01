"""The SDK's bulk insert through a shard killed (kill -9) mid-insert and restarted: its retries
finish the insert with no failure, and every record is stored exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from test_indexer import DIM, create

from simmesh_client import Client, ClientConfig

pytestmark = pytest.mark.integration

RECORDS = 12_000
KILL_AT = 3_000
RESTART_AT = 6_000


def test_a_shard_killed_mid_insert_and_restarted_leaves_every_record_once(stub, cluster) -> None:
    create(stub, "retried", indexed_fields=[])
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((RECORDS, DIM)).astype(np.float32)
    kill, killed, restart = threading.Event(), threading.Event(), threading.Event()

    def records() -> Iterator[dict]:
        for n in range(RECORDS):
            if n == KILL_AT:
                kill.set()
                assert killed.wait(30)
            if n == RESTART_AT:
                restart.set()
            # Half the records name themselves; the SDK names the others before sending them.
            yield {"_vector": vectors[n].tolist(), **({"_id": f"k{n}"} if n % 2 else {}), "n": n}

    summaries = []

    def insert() -> None:
        with Client(ClientConfig(indexer_address=cluster.router_address)) as client:
            summaries.append(client.indexer.insert("retried", records(), batch_size=250, retries=8, retry_backoff=0.5))

    writer = threading.Thread(target=insert)
    writer.start()
    assert kill.wait(60)
    cluster.kill_shard(0)
    killed.set()
    assert restart.wait(60)
    cluster.start_shard(0)
    writer.join(300)
    assert not writer.is_alive() and summaries, cluster.logs()
    summary = summaries[0]
    assert summary.failures == [] and summary.inserted == RECORDS and summary.retried > 0

    with Client(ClientConfig(indexer_address=cluster.router_address)) as client:
        stored = [r for r in client.indexer.list_records("retried", page_size=1000)]
    numbers = sorted(int(r.metadata["n"]) for r in stored)
    assert numbers == list(range(RECORDS)), "every record once"
    assert len({r.id for r in stored}) == RECORDS
    assert {r.id for r in stored if int(r.metadata["n"]) % 2} == {f"k{n}" for n in range(1, RECORDS, 2)}
