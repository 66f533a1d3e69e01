"""The indexer's requests checked once, at the edge, and turned into the router's frozen values."""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf import struct_pb2

from simmesh.indexer.layout import COLLECTION_ID_RE
from simmesh.indexer.query import compile_filter
from simmesh.indexer.router.plans import MAX_K, InsertBatch, Queries, RecordQuery, SearchPlan
from simmesh.kit import reasons
from simmesh.kit.batches import check_batch_size
from simmesh.kit.errors import InvalidArgument
from simmesh.kit.names import parse_name
from simmesh_proto.v1 import indexer_pb2

DEFAULT_K = 10
MAX_QUERIES = 1000


def collection_id_of(name: str, field: str = "collection") -> str:
    return parse_name(
        name,
        "collections",
        COLLECTION_ID_RE,
        field,
        reason=reasons.INVALID_COLLECTION_NAME,
        shape="`collections/{collection}`",
    )


def checked_filter(request) -> struct_pb2.Struct | None:
    """The request's `filter`, once it compiles; None where it has none."""
    if not request.HasField("filter"):
        return None
    compile_filter(request.filter)
    return request.filter


def record_query(request) -> RecordQuery:
    """A List, Sample or Delete of records: the collection, filter and vectors wanted."""
    return RecordQuery(
        collection_id_of(request.collection), checked_filter(request), getattr(request, "include_vectors", False)
    )


def record_view(request: indexer_pb2.BatchGetRecordsRequest) -> int:
    """The request's RecordView, once it is a known one."""
    if request.view not in indexer_pb2.RecordView.values():
        raise InvalidArgument(
            f"view {request.view} is not a known RecordView", reason=reasons.INVALID_RECORD_VIEW, field="view"
        )
    return request.view


def insert_batch(request: indexer_pb2.InsertRecordsRequest) -> InsertBatch:
    return InsertBatch(collection_id_of(request.collection), request.records, request.upsert)


def search_plan(
    request: indexer_pb2.SearchRequest, grouped_by_default: Callable[[str], bool] = lambda _: False
) -> SearchPlan:
    """The search the request asks for, its values checked (those that depend on the collection
    are checked by the router). Without `group_by_product`, the search groups as
    `grouped_by_default(collection_id)` says (a product collection does)."""
    collection_id = collection_id_of(request.collection)
    k = request.k or DEFAULT_K
    if not 1 <= k <= MAX_K:
        raise InvalidArgument(f"k must be 1..{MAX_K}, got {request.k}", reason=reasons.INVALID_K, field="k")
    check_batch_size(
        len(request.queries),
        MAX_QUERIES,
        "queries",
        empty_reason=reasons.NO_QUERIES,
        too_large="at most {limit} queries per call, got {count}",
        too_large_reason=reasons.TOO_MANY_QUERIES,
    )
    if request.nprobe < 0 or request.ef_search < 0:
        raise InvalidArgument(
            "nprobe and ef_search must not be negative",
            reason=reasons.INVALID_SEARCH_PARAMS,
            field="nprobe" if request.nprobe < 0 else "ef_search",
        )
    if not 0.0 <= request.tag_weight <= 1.0:
        raise InvalidArgument(
            f"tag_weight must be within 0..1, got {request.tag_weight}",
            reason=reasons.INVALID_TAG_WEIGHT,
            field="tag_weight",
        )
    group_size = request.group_size or 1
    if request.group_size < 0 or group_size > MAX_K:
        raise InvalidArgument(f"group_size must be 1..{MAX_K}", reason=reasons.INVALID_GROUP_SIZE, field="group_size")
    return SearchPlan(
        collection_id=collection_id,
        queries=_queries(request.queries),
        k=k,
        filter=checked_filter(request),
        nprobe=request.nprobe,
        ef_search=request.ef_search,
        tag_weight=request.tag_weight,
        group_by_product=(
            request.group_by_product if request.HasField("group_by_product") else grouped_by_default(collection_id)
        ),
        group_size=group_size,
        min_score=request.min_score if request.HasField("min_score") else None,
        allow_partial=request.allow_partial,
        include_metadata=request.include_metadata,
        include_vectors=request.include_vectors,
    )


def _queries(queries) -> Queries:
    vectors, record_ids, images, texts = [], [], [], []
    for i, query in enumerate(queries):
        kind = query.WhichOneof("query")
        if kind == "vector":
            vectors.append((i, query.vector))
        elif kind == "record_id":
            record_ids.append((i, query.record_id))
        elif kind == "image":
            images.append((i, query.image))
        elif kind == "text":
            if not query.text.strip():
                raise InvalidArgument(
                    f"queries[{i}].text is empty", reason=reasons.EMPTY_TEXT, field=f"queries[{i}].text"
                )
            texts.append((i, query.text))
        else:
            raise InvalidArgument(
                f"queries[{i}] needs a vector, a record_id, an image or a text",
                reason=reasons.EMPTY_QUERY,
                field=f"queries[{i}]",
            )
    return Queries(
        len(queries),
        tuple(vectors),
        tuple(record_ids),
        tuple(images),
        tuple(texts),
        tuple(frozenset(q.tags) for q in queries),
    )
