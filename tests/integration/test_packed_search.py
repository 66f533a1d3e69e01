"""Packed batch answers through the mesh (router and shard node processes on real etcd and S3): the
same hits, scores and order as the per-hit answer, whatever the batch asks."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from simmesh_client.client import Client
from simmesh_client.config import ClientConfig
from simmesh_client.errors import SimmeshError
from simmesh_proto.v1 import indexer_pb2

pytestmark = pytest.mark.integration

DIM = 16
COUNT = 400


def per_hit(response: indexer_pb2.SearchResponse, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A per-hit answer as packed arrays are laid out: k places per query, "" / -inf where empty."""
    ids = np.full((len(response.results), k), "", dtype=object)
    scores = np.full((len(response.results), k), -np.inf, dtype=np.float32)
    for q, result in enumerate(response.results):
        for j, hit in enumerate(result.hits):
            ids[q, j], scores[q, j] = hit.id, hit.score
    return ids, scores


def same_answers(client: Client, queries: np.ndarray, k: int, **options) -> int:
    """Searches both ways and checks the answers agree; the hits found."""
    full = client.indexer.search_batch("items", queries, k, **options)
    packed = client.indexer.search_batch("items", queries, k, packed=True, **options)
    ids, scores = per_hit(full, k)
    assert packed.ids.shape == (len(queries), k) and packed.scores.dtype == np.float32
    assert packed.ids.tolist() == ids.tolist()
    assert packed.scores.tobytes() == scores.tobytes()
    assert (packed.partial, list(packed.unavailable_shards)) == (full.partial, list(full.unavailable_shards))
    return int(packed.counts.sum())


def test_packed_and_per_hit_answers_agree(indexer_cluster) -> None:
    cluster = indexer_cluster(shards=2)
    rng = np.random.default_rng(5)
    data = rng.standard_normal((COUNT, DIM)).astype(np.float32)
    # A few exact copies, so equal scores (ties) are broken by id on both paths.
    data[COUNT - 20 :] = data[:20]
    records = [
        {"_id": f"r{n:03d}", "_vector": data[n], "color": ["red", "green", "blue"][n % 3], "price": float(n % 50)}
        for n in range(COUNT)
    ]
    with Client(ClientConfig(indexer_address=cluster.router_address)) as client:
        client.indexer.create_collection(
            "items", DIM, shard_count=2, indexed_fields=["color"], tags_field="color", metric="inner_product"
        )
        assert not client.indexer.insert("items", records).failures
        for seed in range(3):
            queries = np.random.default_rng(seed).standard_normal((int(rng.integers(1, 60)), DIM)).astype(np.float32)
            assert same_answers(client, queries, int(rng.integers(1, 30))) > 0
        queries = np.vstack([data[:25], rng.standard_normal((10, DIM)).astype(np.float32)])
        assert same_answers(client, queries, 10) == 350
        assert same_answers(client, queries, 7, filter={"color": "red", "price": {"$lt": 20}}) > 0
        assert same_answers(client, queries, 5, filter={"color": "nothing"}) == 0
        assert 0 < same_answers(client, queries, 12, min_score=9.0) < 35 * 12
        # Blended with tags: packed answers carry the visual part too.
        blended = client.indexer.search_batch("items", queries[:3], 4, packed=True, tag_weight=0.5)
        assert (blended.visual_scores != blended.scores).any()
        # More than the collection holds: every record, then empty places.
        assert same_answers(client, queries[:4], 1000) == 4 * COUNT

        with pytest.raises(SimmeshError) as refused:
            client.indexer.search_batch("items", queries, 5, packed=True, include_metadata=True)
        assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.reason == "PACKED_DETAILS"

        cluster.kill_shard(1)
        assert same_answers(client, queries, 10, allow_partial=True) > 0
        partial = client.indexer.search_batch("items", queries, 10, packed=True, allow_partial=True)
        assert partial.partial and partial.unavailable_shards == ("collections/items/shards/1",)
        with pytest.raises(SimmeshError) as unavailable:
            client.indexer.search_batch("items", queries, 10, packed=True)
        assert unavailable.value.reason == "SHARD_UNAVAILABLE"
