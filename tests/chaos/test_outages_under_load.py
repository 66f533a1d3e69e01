"""etcd, then the S3 server, stopped for 15 s in the middle of a mixed load of inserts, searches
and deletes from the SDK: no shard exits for etcd, searches keep answering from the live shards,
and full service is back within 10 s of etcd's return; a shard restarted while S3 is away
serves within 10 s of S3's return. Either way no acknowledged write is lost or duplicated and
no acknowledged delete comes back."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from fixtures.chaos import DIM, answered_since, log_tails, mixed_load, serving_again, wait_for_calls
from support.waiting import seconds_until

from simmesh.devstack.etcd import EtcdServer
from simmesh.devstack.load import vector_record
from simmesh.devstack.mesh import Mesh
from simmesh.devstack.s3 import S3Server
from simmesh_client import Client
from simmesh_client.errors import SimmeshError

pytestmark = pytest.mark.chaos

OUTAGE = 15.0  # seconds etcd or S3 stays away
BACK_WITHIN = 10.0  # seconds after its return


@contextmanager
def _stopped(server: EtcdServer | S3Server | None) -> Iterator[EtcdServer | S3Server]:
    """`server` stopped for the block, which starts it again; started again too if the block failed."""
    assert server is not None
    server.stop()
    try:
        yield server
    finally:
        if server.exit_status() is not None:
            server.start()


def _full_service(client: Client, collection: str, created: str) -> bool:
    """Collection `created` made (a write to etcd; made already counts), a record inserted into
    it with no retry (each of its shards open), and a search of `collection` answered."""
    try:
        client.indexer.create_collection(created, DIM, shard_count=2)
    except SimmeshError as error:
        if error.reason != "COLLECTION_EXISTS":
            raise
    records = [vector_record(DIM)(n) for n in range(8)]  # spread over both shards
    summary = client.indexer.insert(created, records, timeout=2)
    client.indexer.search(collection, vector=np.ones(DIM, dtype=np.float32), k=3, timeout=2)
    return not summary.failures


def test_etcd_stopped_for_15s_under_load_stops_no_shard_and_full_service_is_back_within_10s(
    chaos_mesh: Mesh, chaos_client: Client
) -> None:
    collection = "etcd-outage"
    load = mixed_load(chaos_client, collection)
    shards = {n: p.pid for n, p in chaos_mesh.services.items() if n.startswith("shard-")}
    with load.running(), _stopped(chaos_mesh.etcd) as etcd:
        began = time.monotonic()
        time.sleep(OUTAGE)
        ended = time.monotonic()
        alive = {n: p.pid for n, p in chaos_mesh.services.items() if n in shards and p.alive()}
        assert alive == shards, f"shards exited during the etcd outage\n{log_tails(chaos_mesh)}"
        etcd.start()
        full_service = functools.partial(_full_service, chaos_client, collection, "after-etcd-outage")
        back = seconds_until(full_service, BACK_WITHIN, interval=0.1)
        wait_for_calls(load, "insert", 3)
    searches = load.stats["search"]
    answered, late = searches.succeeded(began, ended), searches.succeeded(began + OUTAGE / 2, ended)
    print(
        f"\netcd away {ended - began:.1f}s: {answered} searches answered during the outage ({late} in its second "
        f"half); full service {back:.1f}s after etcd's return; calls {load.calls()}, failures {load.failures()}"
    )
    assert late > 0, "searches answered from the live shards all through the outage"
    assert not searches.errors_by_reason(lambda at: began <= at <= ended), "no search failed during the outage"
    assert {n: p.pid for n, p in chaos_mesh.services.items() if n in shards} == shards
    assert load.ledger.problems(chaos_client, collection) == []


def test_a_shard_restarted_while_s3_is_stopped_serves_within_10s_of_its_return(
    chaos_mesh: Mesh, chaos_client: Client
) -> None:
    collection = "s3-outage"
    load = mixed_load(chaos_client, collection)
    shard = chaos_mesh.services["shard-0"]
    with load.running():
        wait_for_calls(load, "insert", 5)
        with _stopped(chaos_mesh.s3) as s3:
            began = time.monotonic()
            shard.kill()
            shard.start()
            time.sleep(OUTAGE - (time.monotonic() - began))
            assert shard.alive(), log_tails(chaos_mesh)
            assert not serving_again(chaos_mesh, "shard-0")(), "serving before its data could be opened"
            s3.start()
            back = seconds_until(serving_again(chaos_mesh, "shard-0"), BACK_WITHIN, interval=0.1)
            returned = time.monotonic()
            answered = back + seconds_until(answered_since(load, "search", returned), BACK_WITHIN, interval=0.1)
        wait_for_calls(load, "insert", 5)
    print(
        f"\nS3 away {OUTAGE:.0f}s, shard-0 restarted in it: serving {back:.1f}s after S3's return, searches "
        f"answered again after {answered:.1f}s; "
        f"calls {load.calls()}, {load.retried} records retried, failures {load.failures()}"
    )
    assert load.stats["insert"].failures == [], "the SDK's retries outlast the shard's wait for S3"
    assert load.ledger.problems(chaos_client, collection) == []
    assert load.ledger.inserted and load.ledger.deleted
