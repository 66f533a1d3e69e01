"""kill -9 of each kind of process (a shard node, the router, the embedder, the catalog) in the
middle of a mixed load of inserts, searches and deletes from the SDK, restarted by the same
supervision `make up` runs: every acknowledged write is stored exactly once, every acknowledged
delete stays gone, and the SDK's retries finish every insert with no failure."""

from __future__ import annotations

import os
import signal
import time

import pytest
from fixtures.chaos import answered_since, log_tails, mixed_load, serving_again, supervised, wait_for_calls
from fixtures.reembed import ImageServer
from support.waiting import seconds_until

from simmesh.devstack.load import Ledger, catalog_counts, catalog_writes
from simmesh.devstack.mesh import Mesh
from simmesh_client import Client

pytestmark = pytest.mark.chaos

BACK_WITHIN = 10.0  # seconds from kill -9 to serving again


@pytest.mark.parametrize("name", ["shard-0", "indexer", "embedder", "catalog"])
def test_kill_9_mid_load_loses_no_acknowledged_write_and_the_retries_finish_every_insert(
    chaos_mesh: Mesh, chaos_client: Client, chaos_images: ImageServer, name: str
) -> None:
    collection = f"killed-{name}"
    # Records of images, which the embedder must embed, where the embedder is the one killed.
    load = mixed_load(chaos_client, collection, chaos_images if name == "embedder" else None)
    catalog = Ledger()
    load.add("catalog", catalog_writes(chaos_client, catalog, prefix=f"killed-{name}"))
    process = chaos_mesh.services[name]
    others = {n: p.pid for n, p in chaos_mesh.services.items() if n != name}
    with supervised(chaos_mesh) as supervisor, load.running():
        wait_for_calls(load, "insert", 5)
        killed = process.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        back = seconds_until(lambda: process.pid != killed and serving_again(chaos_mesh, name)(), 60, interval=0.1)
        returned = time.monotonic()
        operation = "catalog" if name == "catalog" else "search"
        answered = back + seconds_until(answered_since(load, operation, returned), 30, interval=0.1)
        wait_for_calls(load, "insert", 5)  # inserts after the return
        wait_for_calls(load, "catalog", 3)
    print(
        f"\n{name}: serving {back:.1f}s after kill -9, {operation} answered again after {answered:.1f}s; "
        f"calls {load.calls()}, {load.retried} records retried, failures {load.failures()}"
    )
    assert supervisor.records[name].restarts == 1, log_tails(chaos_mesh)
    assert {n: p.pid for n, p in chaos_mesh.services.items() if n != name} == others, "the others kept running"
    assert load.stats["insert"].failures == [], log_tails(chaos_mesh)
    assert load.ledger.problems(chaos_client, collection) == []
    assert catalog.compare(catalog_counts(chaos_client, f"killed-{name}")) == []
    assert load.ledger.inserted and catalog.inserted and catalog.deleted
    assert back <= BACK_WITHIN, f"{name} serving {back:.1f}s after kill -9"
    assert answered <= BACK_WITHIN, f"the SDK's calls to {name} failing {answered:.1f}s after kill -9"
