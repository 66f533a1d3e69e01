"""Searching with the queries as one matrix (`SearchRequest.query_vectors`) through the mesh: the
same hits, scores and order as one `Query` message per vector, per-hit and packed, with filters,
small batches and large ones (lists assigned by the router); what such a request may not hold."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from simmesh_client.client import Client
from simmesh_client.config import ClientConfig
from simmesh_client.errors import SimmeshError
from simmesh_proto.v1 import common_pb2, indexer_pb2

pytestmark = pytest.mark.integration

DIM = 16
COUNT = 1200


def both_forms(queries: np.ndarray, k: int, **options) -> tuple[indexer_pb2.SearchRequest, ...]:
    common = {"collection": "collections/items", "k": k, **options}
    per_query = indexer_pb2.SearchRequest(
        queries=[indexer_pb2.Query(vector=common_pb2.Vector(dimension=DIM, data=q.tobytes())) for q in queries],
        **common,
    )
    matrix = indexer_pb2.SearchRequest(
        query_vectors=common_pb2.VectorBatch(dimension=DIM, count=len(queries), data=queries.tobytes()), **common
    )
    return per_query, matrix


def hits_of(response: indexer_pb2.SearchResponse) -> list[list[tuple[str, float]]]:
    return [[(h.id, h.score) for h in r.hits] for r in response.results]


def same_answers(client: Client, queries: np.ndarray, k: int, **options) -> int:
    """Searches with both forms of the queries, per-hit and packed, checking the answers are
    the same; the hits found."""
    per_query, matrix = both_forms(queries, k, **options)
    full = hits_of(client.indexer.rpc.Search(per_query))
    assert hits_of(client.indexer.rpc.Search(matrix)) == full
    per_query.packed = matrix.packed = True
    packed = client.indexer.rpc.Search(matrix).packed
    assert packed == client.indexer.rpc.Search(per_query).packed
    sdk = client.indexer.search_batch("items", queries, k, packed=True, **options)
    assert sdk.ids.tolist() == [[hit_id for hit_id, _ in row] + [""] * (k - len(row)) for row in full]
    return sum(len(row) for row in full)


def refused(client: Client, request: indexer_pb2.SearchRequest) -> str:
    """The reason the search is refused with, as INVALID_ARGUMENT."""
    with pytest.raises(SimmeshError) as error:
        client.indexer.rpc.Search(request)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return error.value.reason


def test_query_matrix_answers_as_query_messages(indexer_cluster) -> None:
    cluster = indexer_cluster(shards=2)
    rng = np.random.default_rng(7)
    data = rng.standard_normal((COUNT, DIM)).astype(np.float32)
    data[COUNT - 20 :] = data[:20]  # exact copies: ties broken by id both ways
    records = [{"_id": f"r{n:03d}", "_vector": data[n], "color": ["red", "green"][n % 2]} for n in range(COUNT)]
    with Client(ClientConfig(indexer_address=cluster.router_address)) as client:
        client.indexer.create_collection("items", DIM, shard_count=2, indexed_fields=["color"], metric="cosine")
        assert not client.indexer.insert("items", records).failures
        queries = np.vstack([data[:30], rng.standard_normal((40, DIM)).astype(np.float32)])
        for trained in (False, True):
            if trained:
                client.indexer.train_index("items", kind="ivf_flat", nlist=8)
            assert same_answers(client, queries[:5], 10) == 50  # a few: on the shards' streams
            assert same_answers(client, queries, 10, nprobe=2) == 700
            assert same_answers(client, queries, 7, filter={"color": "red"}, min_score=0.1) > 0
            assert same_answers(client, queries[:3], 1000) == 3 * 1000

        _, matrix = both_forms(queries[:2], 5)
        nan = np.vstack([queries[0], np.full(DIM, np.nan, np.float32)])
        too_many = np.ones((1001, DIM), np.float32)
        matrix.queries.add(record_id="r001")
        assert refused(client, matrix) == "MIXED_QUERIES"
        for bad, reason in (
            (common_pb2.VectorBatch(dimension=DIM - 1, count=2, data=queries[:2, :-1].tobytes()), "DIMENSION_MISMATCH"),
            (common_pb2.VectorBatch(dimension=DIM, count=3, data=queries[:2].tobytes()), "DIMENSION_MISMATCH"),
            (common_pb2.VectorBatch(dimension=DIM, count=2, data=nan.tobytes()), "INVALID_VECTOR"),
            (
                common_pb2.VectorBatch(dimension=DIM, count=1, data=np.zeros(DIM, np.float32).tobytes()),
                "INVALID_VECTOR",
            ),
            (common_pb2.VectorBatch(dimension=DIM, count=0), "NO_QUERIES"),
            (common_pb2.VectorBatch(dimension=DIM, count=1001, data=too_many.tobytes()), "TOO_MANY_QUERIES"),
        ):
            request = indexer_pb2.SearchRequest(collection="collections/items", query_vectors=bad)
            assert refused(client, request) == reason
