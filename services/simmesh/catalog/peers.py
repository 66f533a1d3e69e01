"""The catalog's calls to the embedder and the indexer, raising the error catalogue's exceptions.

    embedder = EmbedderPeer(open_channel(settings.embedder_addr, settings.auth_token), settings.embedder_addr)
    version = await embedder.import_version("task-shoes", onnx, manifest, metrics={"recall@1": 0.9})
    indexer = IndexerPeer(open_channel(settings.indexer_addr, settings.auth_token), settings.indexer_addr)
    operation = await indexer.reembed("collections/products", version.name)

A peer's own errors keep their code, reason and field violations; a peer that cannot be reached
is UNAVAILABLE with reason EMBEDDER_UNAVAILABLE or INDEXER_UNAVAILABLE.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

import grpc
from google.longrunning import operations_pb2_grpc, operations_proto_pb2
from google.protobuf import field_mask_pb2
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc, indexer_pb2, indexer_pb2_grpc

from simmesh.kit.errors import STATUS_DETAILS_KEY, SimmeshError, Unavailable, from_rpc_error

Operation = operations_proto_pb2.Operation

# Bytes per ImportModel chunk.
IMPORT_CHUNK = 1024 * 1024
# Seconds an import (upload plus the embedder's trial run) may take.
IMPORT_TIMEOUT = 600.0
# Seconds any other call may take when the caller gives no deadline.
CALL_TIMEOUT = 60.0


def _translate(error: grpc.aio.AioRpcError, peer: str, address: str) -> SimmeshError:
    """The peer's own error, or UNAVAILABLE naming the peer when the call never reached it."""
    carries_status = any(key == STATUS_DETAILS_KEY for key, _ in (error.trailing_metadata() or ()))
    if not carries_status and error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(f"the {peer} at {address} did not answer: {error.details() or error.code().name}",
                           reason=f"{peer.upper()}_UNAVAILABLE", metadata={"address": address})
    return from_rpc_error(error)


class EmbedderPeer:
    """The embedder's model registry and embedding calls."""

    def __init__(self, channel: grpc.aio.Channel, address: str) -> None:
        self.address = address
        self._stub = embedder_pb2_grpc.EmbedderServiceStub(channel)

    def _error(self, error: grpc.aio.AioRpcError) -> SimmeshError:
        return _translate(error, "embedder", self.address)

    async def import_version(
        self, model_id: str, onnx: bytes, manifest: embedder_pb2.ModelManifest, *,
        description: str = "", metrics: Mapping[str, float] | None = None, set_default: bool = False,
    ) -> embedder_pb2.ModelVersion:
        """Uploads `onnx` as the next version of `model_id` (created if new), marked TRAINED."""
        header = embedder_pb2.ImportModelRequest.Header(
            model_id=model_id, description=description, manifest=manifest, set_default=set_default,
            size_bytes=len(onnx), source=embedder_pb2.MODEL_SOURCE_TRAINED,
            metrics={k: float(v) for k, v in (metrics or {}).items()})

        async def parts() -> AsyncIterator[embedder_pb2.ImportModelRequest]:
            yield embedder_pb2.ImportModelRequest(header=header)
            for start in range(0, len(onnx), IMPORT_CHUNK):
                yield embedder_pb2.ImportModelRequest(chunk=onnx[start:start + IMPORT_CHUNK])

        try:
            return await self._stub.ImportModel(parts(), timeout=IMPORT_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def get_model(self, model_id: str, timeout: float | None = None) -> embedder_pb2.Model:
        try:
            return await self._stub.GetModel(embedder_pb2.GetModelRequest(name=f"models/{model_id}"),
                                             timeout=timeout or CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def get_version(self, name: str, timeout: float | None = None) -> embedder_pb2.ModelVersion:
        try:
            return await self._stub.GetModelVersion(embedder_pb2.GetModelVersionRequest(name=name),
                                                    timeout=timeout or CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def set_default(self, model_id: str, number: int, timeout: float | None = None) -> embedder_pb2.Model:
        request = embedder_pb2.UpdateModelRequest(
            model=embedder_pb2.Model(name=f"models/{model_id}", default_version=number),
            update_mask=field_mask_pb2.FieldMask(paths=["default_version"]))
        try:
            return await self._stub.UpdateModel(request, timeout=timeout or CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def delete_model(self, model_id: str) -> None:
        try:
            await self._stub.DeleteModel(embedder_pb2.DeleteModelRequest(name=f"models/{model_id}"),
                                         timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def delete_version(self, name: str) -> None:
        try:
            await self._stub.DeleteModelVersion(embedder_pb2.DeleteModelVersionRequest(name=name),
                                                timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def embed(self, model: str, images: Sequence[common_pb2.Image], ids: Sequence[str] = (),
                    timeout: float | None = None) -> embedder_pb2.EmbedResponse:
        request = embedder_pb2.EmbedRequest(model=model, images=images, ids=ids)
        try:
            return await self._stub.Embed(request, timeout=timeout or CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None


class IndexerPeer:
    """The indexer router's records, re-embedding, and its `google.longrunning.Operations`."""

    def __init__(self, channel: grpc.aio.Channel, address: str) -> None:
        self.address = address
        self._stub = indexer_pb2_grpc.IndexerServiceStub(channel)
        self._operations = operations_pb2_grpc.OperationsStub(channel)

    def _error(self, error: grpc.aio.AioRpcError) -> SimmeshError:
        return _translate(error, "indexer", self.address)

    async def reembed(self, collection: str, model: str, timeout: float | None = None) -> Operation:
        request = indexer_pb2.ReembedCollectionRequest(collection=collection, model=model)
        try:
            return await self._stub.ReembedCollection(request, timeout=timeout or CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def batch_get_records(self, collection: str, ids: Sequence[str],
                                timeout: float | None = None) -> indexer_pb2.BatchGetRecordsResponse:
        request = indexer_pb2.BatchGetRecordsRequest(collection=collection, ids=ids)
        try:
            return await self._stub.BatchGetRecords(request, timeout=timeout or CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def get_operation(self, name: str, timeout: float | None = None) -> Operation:
        try:
            return await self._operations.GetOperation(operations_proto_pb2.GetOperationRequest(name=name),
                                                       timeout=timeout or CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None

    async def cancel_operation(self, name: str) -> None:
        try:
            await self._operations.CancelOperation(operations_proto_pb2.CancelOperationRequest(name=name),
                                                   timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise self._error(error) from None
