"""A re-embed (ReembedCollection to another model) in the middle of a mixed load of inserts of
images, searches by image and deletes from the SDK: no acknowledged insert is lost or stored
twice, no acknowledged delete comes back, and every record holds the new model's vector."""

from __future__ import annotations

import pytest
from fixtures.chaos import log_tails, mixed_load, wait_for_calls
from fixtures.reembed import TINY_MODELS, ImageServer

from simmesh.devstack.mesh import Mesh
from simmesh_client import Client
from simmesh_proto.v1 import indexer_pb2

pytestmark = pytest.mark.chaos

LARGE_DIM = {model: dimension for model, dimension, _ in TINY_MODELS}["large"]


def test_a_reembed_under_inserts_and_deletes_loses_and_resurrects_nothing_acknowledged(
    chaos_mesh: Mesh, chaos_client: Client, chaos_images: ImageServer
) -> None:
    collection = "reembedded"
    load = mixed_load(chaos_client, collection, chaos_images)
    ledger = load.ledger
    with load.running():
        wait_for_calls(load, "insert", 10)
        before = len(ledger.inserted), len(ledger.deleted)
        done = chaos_client.indexer.reembed(collection, "large", timeout=180)
        during = len(ledger.inserted) - before[0], len(ledger.deleted) - before[1]
        wait_for_calls(load, "insert", 5)  # after the swap
    assert isinstance(done, indexer_pb2.ReembedResponse)
    print(
        f"\nre-embedded {done.reembedded_count} records; acknowledged while it ran: {during[0]} inserts, "
        f"{during[1]} deletes; calls {load.calls()}, failures {load.failures()}"
    )
    assert during[0] > 0 and during[1] > 0, "writes and deletes went on during the re-embed"
    assert done.missing_image_count == 0
    assert load.stats["insert"].failures == [], "inserts went on through the swap"
    assert load.ledger.problems(chaos_client, collection) == [], log_tails(chaos_mesh)
    dimensions = {r.vector.dimension for r in chaos_client.indexer.list_records(collection, include_vectors=True)}
    assert dimensions == {LARGE_DIM}, "every record holds the new model's vector"
    assert chaos_client.indexer.get_collection(collection).model.startswith("models/large")
