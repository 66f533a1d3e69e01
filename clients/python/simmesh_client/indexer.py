"""`client.indexer`: collections, records, nearest-neighbour search and index training.

hit = client.indexer.search("products", record_id="sku-1", k=5)       # one query
hit = client.indexer.search("shapes", text="a red circle", k=5)       # a dual encoder's text query
batch = client.indexer.search_batch("products", queries, k=5)         # one result per row
hits = client.indexer.search_batch("products", queries, k=5, packed=True)  # hits.ids, hits.scores: arrays
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from simmesh_client.base import ImageSource, as_image, as_struct, paginate, resource_name
from simmesh_client.batch_hits import BatchHits, unpack_hits
from simmesh_client.bulk_insert import stream_insert
from simmesh_client.enums import COLLECTION_TYPE, IMAGE_KEEPING, INDEX_KIND, METRIC, RECORD_VIEW, enum_value, short_name
from simmesh_client.indexer_jobs import IndexerJobMethods
from simmesh_client.records import InsertBatch, InsertSummary, RecordLike
from simmesh_client.vectors import as_float32_matrix, to_vector
from simmesh_proto.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc


class IndexerClient(IndexerJobMethods):
    service = "indexer"
    stub_class = indexer_pb2_grpc.IndexerServiceStub

    @overload
    def search_batch(
        self,
        collection: str,
        vectors: npt.ArrayLike,
        k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        packed: Literal[False] = False,
        timeout: float | None = None,
        **options: Any,
    ) -> indexer_pb2.SearchResponse: ...

    @overload
    def search_batch(
        self,
        collection: str,
        vectors: npt.ArrayLike,
        k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        packed: Literal[True],
        timeout: float | None = None,
        **options: Any,
    ) -> BatchHits: ...

    def search_batch(
        self,
        collection: str,
        vectors: npt.ArrayLike,
        k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        packed: bool = False,
        timeout: float | None = None,
        **options: Any,
    ) -> indexer_pb2.SearchResponse | BatchHits:
        """k nearest records for each row of a batch of vectors (2-D; a 1-D vector is a batch of
        one), one result per row, in order. `search` is the one-query form.

        `filter` is the MongoDB-like filter as a dict; `options` are further SearchRequest fields
        (`nprobe`, `group_by_product`, `min_score`, ...). With `packed`, the hits come back as
        arrays (`BatchHits`: ids and float32 scores, one row per query), far cheaper to send and
        decode for a large batch; they hold ids and scores only (no metadata, vectors or groups).
        """
        matrix = np.asarray(vectors)
        matrix = as_float32_matrix(matrix[np.newaxis, :] if matrix.ndim == 1 else matrix)
        rows, dimension = matrix.shape
        request = indexer_pb2.SearchRequest(
            collection=resource_name("collections", collection),
            query_vectors=common_pb2.VectorBatch(dimension=dimension, count=rows, data=matrix.tobytes()),
            k=k,
            filter=as_struct(filter) if filter is not None else None,
            include_metadata=include_metadata,
            packed=packed,
            **options,
        )
        response = self.rpc.Search(request, timeout=timeout)
        return unpack_hits(response) if packed else response

    def search_vectors(self, *args: Any, **kwargs: Any) -> indexer_pb2.SearchResponse:
        """Deprecated: the former name of `search_batch`; goes in the next release."""
        warnings.warn("IndexerClient.search_vectors is deprecated; call search_batch", DeprecationWarning, stacklevel=2)
        return self.search_batch(*args, **kwargs)

    def search(
        self,
        collection: str,
        *,
        vector: npt.ArrayLike | None = None,
        record_id: str | None = None,
        image: ImageSource | None = None,
        text: str | None = None,
        k: int = 10,
        filter: Mapping[str, Any] | None = None,
        group_by_product: bool | None = None,
        group_size: int = 0,
        tags: Sequence[str] | None = None,
        tag_weight: float = 0.0,
        nprobe: int = 0,
        ef_search: int = 0,
        min_score: float | None = None,
        include_metadata: bool = True,
        include_vectors: bool = False,
        allow_partial: bool = False,
        timeout: float | None = None,
    ) -> indexer_pb2.QueryResult:
        """k nearest records for one query (`search_batch` takes many): a vector, the `_id` of a
        stored record (left out of its own hits), or an image (bytes, a local path, or an http(s) /
        `s3://` URL) that the collection's model embeds, or a `text` ("a red circle") that the
        collection's model embeds when it is a dual encoder (else FAILED_PRECONDITION, NO_TEXT_TOWER).

        With `group_by_product`, `groups` holds the best `group_size` hits per product instead of
        `hits` (None: as the collection says; a product collection groups). `filter` is the
        MongoDB-like metadata filter as a dict.
        """
        given = [
            name
            for name, value in (("vector", vector), ("record_id", record_id), ("image", image), ("text", text))
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(f"give exactly one of vector, record_id, image or text (got {', '.join(given) or 'none'})")
        query = indexer_pb2.Query(tags=list(tags or ()))
        if vector is not None:
            query.vector.CopyFrom(to_vector(vector))
        elif record_id is not None:
            query.record_id = record_id
        elif text is not None:
            query.text = text
        else:
            assert image is not None
            query.image.CopyFrom(as_image(image))
        request = indexer_pb2.SearchRequest(
            collection=resource_name("collections", collection),
            queries=[query],
            k=k,
            filter=as_struct(filter) if filter is not None else None,
            group_by_product=group_by_product,
            group_size=group_size,
            tag_weight=tag_weight,
            nprobe=nprobe,
            ef_search=ef_search,
            min_score=min_score,
            include_metadata=include_metadata,
            include_vectors=include_vectors,
            allow_partial=allow_partial,
        )
        return self.rpc.Search(request, timeout=timeout).results[0]

    def create_collection(
        self,
        collection_id: str,
        dimension: int = 0,
        *,
        metric: str | int = "cosine",
        model: str = "",
        shard_count: int = 1,
        product_id_field: str = "",
        tags_field: str = "",
        indexed_fields: Sequence[str] = (),
        index_kind: str | int = "ivf_flat",
        description: str = "",
        type: str | int = 0,
        image_keeping: str | int = 0,
    ) -> indexer_pb2.Collection:
        """Create a collection of `dimension`-d vectors, or one bound to an embedder model
        (`models/{m}`), whose dimension it takes. `metric` is `cosine`, `l2` or `inner_product`;
        `index_kind` the approximate index TrainIndex builds (`ivf_flat`, `ivf_sq8`, `ivf_pq`, `hnsw`).
        `type` (`generic`, `product`, `colors`, `matching`, `custom`) presets the model and
        defaults; `image_keeping` (`sent`, `all`, `none`) says which original images are kept.
        """
        collection = indexer_pb2.Collection(
            description=description,
            dimension=dimension,
            metric=enum_value(*METRIC, metric),
            model=resource_name("models", model) if model else "",
            shard_count=shard_count,
            product_id_field=product_id_field,
            tags_field=tags_field,
            indexed_fields=list(indexed_fields),
            index=indexer_pb2.IndexSpec(kind=enum_value(*INDEX_KIND, index_kind)),
            type=enum_value(*COLLECTION_TYPE, type) if type else indexer_pb2.COLLECTION_TYPE_UNSPECIFIED,
            image_keeping=(
                enum_value(*IMAGE_KEEPING, image_keeping) if image_keeping else indexer_pb2.IMAGE_KEEPING_UNSPECIFIED
            ),
        )
        request = indexer_pb2.CreateCollectionRequest(collection_id=collection_id, collection=collection)
        return self.rpc.CreateCollection(request)

    def get_collection(self, collection: str) -> indexer_pb2.Collection:
        request = indexer_pb2.GetCollectionRequest(name=resource_name("collections", collection))
        return self.rpc.GetCollection(request)

    def list_collections(self, *, page_size: int = 0, type: str | int = 0) -> Iterator[indexer_pb2.Collection]:
        """Every collection (of `type`, where given), across all pages."""
        kind = short_name(*COLLECTION_TYPE, enum_value(*COLLECTION_TYPE, type)) if type else ""
        request = indexer_pb2.ListCollectionsRequest(page_size=page_size, filter=f"type = {kind}" if kind else "")
        return paginate(self.rpc.ListCollections, request, "collections")

    def delete_collection(self, collection: str) -> None:
        """Delete a collection with all its records."""
        request = indexer_pb2.DeleteCollectionRequest(name=resource_name("collections", collection))
        self.rpc.DeleteCollection(request)

    def stats(self, collection: str) -> indexer_pb2.CollectionStats:
        """Records per shard, index state and memory."""
        request = indexer_pb2.GetCollectionStatsRequest(name=resource_name("collections", collection))
        return self.rpc.GetCollectionStats(request)

    def insert(
        self,
        collection: str,
        records: Iterable[RecordLike],
        *,
        batch_size: int = 256,
        upsert: bool = False,
        on_batch: Callable[[InsertBatch], None] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        retries: int = 0,
        retry_backoff: float = 0.5,
    ) -> InsertSummary:
        """Stream records into a collection in batches of `batch_size` on one `StreamInsertRecords`
        call, and return the totals.

        `records` are JSON records (`_id`, `_url` / `_base64` / `_file` / `_vector`, other fields
        as metadata; see `simmesh_client.records`) or `RecordInput`s, consumed lazily. A record
        that fails (unreadable `_file`, wrong dimension, existing id without `upsert`, an id
        repeated within its batch...) is listed in the summary's `failures` with its position in
        `records`; the others are stored. `on_batch` gets each batch's outcome as it is answered.
        `timeout` bounds each stream (no deadline without one).

        A record without an id gets one (a time-ordered UUIDv7) before it is first sent, and each
        batch a request id, so a retry stores the same record once. With `retries`, records that
        failed for a retryable reason (`retries.RETRYABLE_REASONS`: a shard or service that was
        away, a deadline) are sent again, at most `retries` times each, waiting `retry_backoff`
        seconds before the first retry and twice as long before each next one; a stream that
        breaks for such a reason is opened again. The summary's `retried` counts the records sent
        again; `failures` lists what still failed.
        """
        return stream_insert(
            self.rpc,
            resource_name("collections", collection),
            records,
            batch_size=batch_size,
            upsert=upsert,
            on_batch=on_batch,
            base_dir=base_dir,
            timeout=timeout,
            retries=retries,
            retry_backoff=retry_backoff,
        )

    def get_records(
        self, collection: str, ids: Sequence[str], *, include_vectors: bool = False, view: str | int = 0
    ) -> indexer_pb2.BatchGetRecordsResponse:
        """The records with these ids, in order; unknown ids are listed in `missing_ids`. `view`
        (`image_uri`, `thumbnail`, `image`) adds the kept image's URIs, thumbnail or bytes."""
        request = indexer_pb2.BatchGetRecordsRequest(
            collection=resource_name("collections", collection),
            ids=list(ids),
            include_vectors=include_vectors,
            view=enum_value(*RECORD_VIEW, view) if view else indexer_pb2.RECORD_VIEW_UNSPECIFIED,
        )
        return self.rpc.BatchGetRecords(request)

    def delete_records(
        self, collection: str, ids: Sequence[str] = (), *, filter: Mapping[str, Any] | None = None
    ) -> indexer_pb2.DeleteRecordsResponse:
        """Delete records by id, or every record matching `filter`."""
        if not ids and filter is None:
            raise ValueError("give ids or a filter")
        request = indexer_pb2.DeleteRecordsRequest(
            collection=resource_name("collections", collection),
            ids=list(ids),
            filter=as_struct(filter) if filter is not None else None,
        )
        return self.rpc.DeleteRecords(request)

    def list_records(
        self,
        collection: str,
        *,
        filter: Mapping[str, Any] | None = None,
        include_vectors: bool = False,
        page_size: int = 0,
    ) -> Iterator[indexer_pb2.Record]:
        """Every record (matching `filter`), across all pages, fetched as iterated."""
        request = indexer_pb2.ListRecordsRequest(
            collection=resource_name("collections", collection),
            page_size=page_size,
            filter=as_struct(filter) if filter is not None else None,
            include_vectors=include_vectors,
        )
        return paginate(self.rpc.ListRecords, request, "records")
