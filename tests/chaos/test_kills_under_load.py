"""kill -9 of each kind of process (a shard node, the router, the embedder, the catalog) in the
middle of a mixed load of inserts, searches and deletes from the SDK, restarted by the same
supervision `make up` runs: every acknowledged write is stored exactly once, every acknowledged
delete stays gone, and the SDK's retries finish every insert with no failure."""

from __future__ import annotations

import os
import signal
import time

import pytest
from fixtures.chaos import answered_since, log_tails, serving_again, supervised, wait_for_calls
from fixtures.reembed import COLORS, ImageServer
from support.waiting import seconds_until

from simmesh.devstack.load import (
    Ledger,
    MixedLoad,
    catalog_counts,
    catalog_writes,
    image_query,
    image_record,
    vector_query,
    vector_record,
)
from simmesh.devstack.mesh import Mesh
from simmesh_client import Client

pytestmark = pytest.mark.chaos

DIM = 16
BACK_WITHIN = 10.0  # seconds from kill -9 to serving again


def _load(client: Client, collection: str, name: str, images: ImageServer) -> MixedLoad:
    """A load on a new collection: of images through the embedder where the embedder is killed,
    of vectors elsewhere."""
    through_embedder = name == "embedder"
    if through_embedder:
        client.indexer.create_collection(collection, model="small", shard_count=2, indexed_fields=["group"])
    else:
        client.indexer.create_collection(collection, DIM, shard_count=2, indexed_fields=["group"])
    return MixedLoad(
        client,
        collection,
        record=image_record(images.url, len(COLORS)) if through_embedder else vector_record(DIM),
        query=image_query(images.url, len(COLORS)) if through_embedder else vector_query(DIM),
        batch=20,
        interval=0.05,
        prefix=name,
    )


@pytest.mark.parametrize("name", ["shard-0", "indexer", "embedder", "catalog"])
def test_kill_9_mid_load_loses_no_acknowledged_write_and_the_retries_finish_every_insert(
    chaos_mesh: Mesh, chaos_client: Client, chaos_images: ImageServer, name: str
) -> None:
    collection = f"killed-{name}"
    load = _load(chaos_client, collection, name, chaos_images)
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
