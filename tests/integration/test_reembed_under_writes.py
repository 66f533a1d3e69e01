"""Re-embedding under continuous inserts and deletes: afterwards every acknowledged insert is
present once with the new model's vector, and no acknowledged delete has come back."""

from __future__ import annotations

import asyncio
import collections
import threading

import grpc
import numpy as np
import pytest
from fixtures.reembed import COLORS, wait_reembed
from support.apps import LOOPBACK_URLS

from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc, indexer_pb2, indexer_pb2_grpc

pytestmark = pytest.mark.integration

COLLECTION = "collections/photos"
SEEDED = 120
BATCH = 6


def _unit(data: bytes) -> np.ndarray:
    vector = np.frombuffer(data, "<f4")
    return vector / np.linalg.norm(vector)


class _Writer(threading.Thread):
    """Inserts batches of records with images and deletes every third record it inserted, until
    stopped; keeps what was acknowledged."""

    def __init__(self, stub: indexer_pb2_grpc.IndexerServiceStub, image_url: str) -> None:
        super().__init__(daemon=True)
        self.stub, self.image_url = stub, image_url
        self.stop = threading.Event()
        self.inserted: dict[str, int] = {}  # id -> colour
        self.deleted: set[str] = set()
        self.failures: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            batch = {f"w{n + i:05d}": (n + i) % len(COLORS) for i in range(BATCH)}
            n += BATCH
            inputs = [
                indexer_pb2.RecordInput(id=i, image=common_pb2.Image(url=f"{self.image_url}/{c}.png"))
                for i, c in batch.items()
            ]
            try:
                reply = self.stub.InsertRecords(indexer_pb2.InsertRecordsRequest(collection=COLLECTION, records=inputs))
                self.failures.extend(f"{e.id}: {e.status.message}" for e in reply.errors)
                self.inserted.update({i: batch[i] for i in reply.ids if i})
                doomed = sorted(i for i in batch if i in reply.ids)[::3]
                self.stub.DeleteRecords(indexer_pb2.DeleteRecordsRequest(collection=COLLECTION, ids=doomed))
                self.deleted.update(doomed)
            except grpc.RpcError as error:
                self.failures.append(f"{error.code()}: {error.details()}")


async def test_reembed_under_inserts_and_deletes_loses_nothing(embedder, indexer_cluster, image_server):
    # The router keeps copies of URL images, fetched from the image server on loopback.
    env = {"SIMMESH_URL_ALLOWED_NETWORKS": ",".join(LOOPBACK_URLS)}
    cluster = await asyncio.to_thread(indexer_cluster, 2, embedder_addr=embedder.address, env=env)

    def scenario():
        with grpc.insecure_channel(cluster.router_address) as channel, grpc.insecure_channel(embedder.address) as emb:
            stub = indexer_pb2_grpc.IndexerServiceStub(channel)
            stub.CreateCollection(
                indexer_pb2.CreateCollectionRequest(
                    collection_id="photos", collection=indexer_pb2.Collection(model="models/small", shard_count=2)
                )
            )
            seeded = {f"s{i:04d}": i % len(COLORS) for i in range(SEEDED)}
            inputs = [
                indexer_pb2.RecordInput(id=i, image=common_pb2.Image(url=f"{image_server.url}/{c}.png"))
                for i, c in seeded.items()
            ]
            seeding = stub.InsertRecords(indexer_pb2.InsertRecordsRequest(collection=COLLECTION, records=inputs))
            assert not seeding.errors

            writer = _Writer(stub, image_server.url)
            writer.start()
            operation = stub.ReembedCollection(
                indexer_pb2.ReembedCollectionRequest(collection=COLLECTION, model="models/large")
            )
            done = wait_reembed(channel, operation)
            writer.stop.set()
            writer.join(timeout=30)
            assert not writer.failures
            assert done.missing_image_count == 0

            expected = {**seeded, **writer.inserted}
            for record_id in writer.deleted:
                del expected[record_id]
            listed: list[indexer_pb2.Record] = []
            token = ""
            while True:
                page = stub.ListRecords(
                    indexer_pb2.ListRecordsRequest(
                        collection=COLLECTION, page_size=500, page_token=token, include_vectors=True
                    )
                )
                listed.extend(page.records)
                token = page.next_page_token
                if not token:
                    break
            counts = collections.Counter(r.id for r in listed)
            assert [i for i, n in counts.items() if n > 1] == []
            assert sorted(counts) == sorted(expected)  # every acknowledged insert there, no delete back

            reply = embedder_pb2_grpc.EmbedderServiceStub(emb).Embed(
                embedder_pb2.EmbedRequest(
                    model="models/large",
                    images=[common_pb2.Image(url=f"{image_server.url}/{c}.png") for c in range(len(COLORS))],
                )
            )
            row = reply.vectors.dimension * 4
            colours = [_unit(reply.vectors.data[c * row : (c + 1) * row]) for c in range(len(COLORS))]
            for record in listed:
                assert record.vector.dimension == 12, record.id
                assert np.allclose(_unit(record.vector.data), colours[expected[record.id]], atol=1e-4), record.id
            return len(writer.inserted), len(writer.deleted)

    inserted, deleted = await asyncio.to_thread(scenario)
    print(f"\nacknowledged during the re-embed: {inserted} inserts, {deleted} deletes")
    assert inserted > 0 and deleted > 0
