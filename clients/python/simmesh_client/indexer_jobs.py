"""`client.indexer`'s long-running jobs: training the approximate index, re-embedding a collection,
snapshotting a collection and restoring a snapshot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal, overload

from google.longrunning import operations_pb2

from simmesh_client.base import ServiceClient, paginate, resource_name
from simmesh_client.enums import INDEX_KIND, enum_value
from simmesh_client.operations import DEFAULT_POLL_INTERVAL, OperationTypes
from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc

# Called with each progress report of a training operation being waited for.
OnTrainProgress = Callable[[indexer_pb2.TrainIndexMetadata], None] | None

TRAIN_INDEX = OperationTypes(indexer_pb2.Collection, indexer_pb2.TrainIndexMetadata)
REEMBED = OperationTypes(indexer_pb2.ReembedResponse, indexer_pb2.ReembedMetadata)
SNAPSHOT = OperationTypes(indexer_pb2.Snapshot, indexer_pb2.SnapshotOperationMetadata)
RESTORE = OperationTypes(indexer_pb2.Collection, indexer_pb2.SnapshotOperationMetadata)


class IndexerJobMethods(ServiceClient[indexer_pb2_grpc.IndexerServiceStub]):
    """The IndexerClient methods that start operations."""

    @overload
    def train_index(
        self,
        collection: str,
        index: indexer_pb2.IndexSpec | None = None,
        *,
        kind: str | int | None = None,
        nlist: int = 0,
        wait: Literal[True] = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: OnTrainProgress = None,
    ) -> indexer_pb2.Collection: ...

    @overload
    def train_index(
        self,
        collection: str,
        index: indexer_pb2.IndexSpec | None = None,
        *,
        kind: str | int | None = None,
        nlist: int = 0,
        wait: Literal[False],
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: OnTrainProgress = None,
    ) -> operations_pb2.Operation: ...

    def train_index(
        self,
        collection: str,
        index: indexer_pb2.IndexSpec | None = None,
        *,
        kind: str | int | None = None,
        nlist: int = 0,
        wait: bool = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: OnTrainProgress = None,
    ) -> indexer_pb2.Collection | operations_pb2.Operation:
        """Train the collection's approximate index.

        `kind` (`ivf_flat`, `ivf_sq8`, `ivf_pq`, `hnsw`) and `nlist` override the collection's
        settings, as do the set fields of `index`. With `wait`, polls the operation (calling
        `on_progress` with its metadata) and returns the trained collection; without, returns the
        operation at once. A collection with too few vectors is refused with FAILED_PRECONDITION
        (reason NEED_MORE_SAMPLES).
        """
        spec = indexer_pb2.IndexSpec()
        if index is not None:
            spec.CopyFrom(index)
        if kind is not None:
            spec.kind = enum_value(*INDEX_KIND, kind)
        if nlist:
            spec.nlist = nlist
        request = indexer_pb2.TrainIndexRequest(collection=resource_name("collections", collection), index=spec)
        operation = self.rpc.TrainIndex(request)
        return self._operation_result(operation, TRAIN_INDEX, wait, timeout, poll_interval, on_progress)

    def reembed(
        self,
        collection: str,
        model: str,
        *,
        allow_drop: bool = False,
        wait: bool = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> indexer_pb2.ReembedResponse | operations_pb2.Operation:
        """Re-embed every record of the collection with `model` (`models/{m}[/versions/{v}]`),
        from its kept image or else its URL, and swap the new vectors in. A record with neither
        fails the operation (FAILED_PRECONDITION, reason UNRECOVERABLE_RECORDS) and leaves the
        collection as it was, unless `allow_drop`: then the response lists the dropped records
        (`missing_image_ids`). With `wait`, returns the response; without, the operation at once.
        """
        request = indexer_pb2.ReembedCollectionRequest(
            collection=resource_name("collections", collection),
            model=resource_name("models", model),
            allow_drop=allow_drop,
        )
        operation = self.rpc.ReembedCollection(request)
        return self._operation_result(operation, REEMBED, wait, timeout, poll_interval, None)

    def snapshot_collection(
        self,
        collection: str,
        snapshot_id: str = "",
        *,
        wait: bool = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[indexer_pb2.SnapshotOperationMetadata], None] | None = None,
    ) -> indexer_pb2.Snapshot | operations_pb2.Operation:
        """Snapshot every shard of the collection into the object store (`snapshots/{snapshot_id}`,
        by default `{collection}-{UTC time}`), where it outlives the collection. With `wait`, returns
        the Snapshot; without, the operation at once. A taken id answers ALREADY_EXISTS
        (reason SNAPSHOT_EXISTS)."""
        request = indexer_pb2.SnapshotCollectionRequest(
            collection=resource_name("collections", collection), snapshot_id=snapshot_id
        )
        operation = self.rpc.SnapshotCollection(request)
        return self._operation_result(operation, SNAPSHOT, wait, timeout, poll_interval, on_progress)

    def restore_collection(
        self,
        snapshot: str,
        collection_id: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[indexer_pb2.SnapshotOperationMetadata], None] | None = None,
    ) -> indexer_pb2.Collection | operations_pb2.Operation:
        """Restore `snapshot` (`snapshots/{s}` or `{s}`) into the new collection `collection_id`:
        the same records, metadata and settings. An existing collection answers ALREADY_EXISTS
        (COLLECTION_EXISTS), an unknown snapshot NOT_FOUND (SNAPSHOT_NOT_FOUND). With `wait`,
        returns the collection; without, the operation at once."""
        request = indexer_pb2.RestoreCollectionRequest(
            snapshot=resource_name("snapshots", snapshot), collection_id=collection_id
        )
        operation = self.rpc.RestoreCollection(request)
        return self._operation_result(operation, RESTORE, wait, timeout, poll_interval, on_progress)

    def list_snapshots(self, collection: str = "", *, page_size: int = 0) -> Iterator[indexer_pb2.Snapshot]:
        """Every snapshot (of `collection` only, where given), newest first, across all pages."""
        request = indexer_pb2.ListSnapshotsRequest(
            collection=resource_name("collections", collection) if collection else "", page_size=page_size
        )
        return paginate(self.rpc.ListSnapshots, request, "snapshots")
