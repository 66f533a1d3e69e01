"""The embedder's client: embedding, and the model registry (import, get, set default, delete)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

import grpc
from google.protobuf import field_mask_pb2

from simmesh.kit import reasons
from simmesh.kit.peers.calls import PeerClient
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc

# Bytes per ImportModel chunk.
IMPORT_CHUNK = 1024 * 1024
# Seconds an import (upload plus the embedder's trial run) may take.
IMPORT_TIMEOUT = 600.0


class EmbedderClient(PeerClient):
    """`simmesh.v1.EmbedderService`. Models are named `models/{model}`, versions `models/{model}/versions/{v}`."""

    PEER = "embedder"
    UNAVAILABLE = reasons.EMBEDDER_UNAVAILABLE

    def __init__(self, channel: grpc.aio.Channel, address: str, *, default_timeout: float | None = None) -> None:
        super().__init__(channel, address, default_timeout=default_timeout)
        self._stub = embedder_pb2_grpc.EmbedderServiceStub(channel)

    async def embed(
        self,
        model: str,
        images: Sequence[common_pb2.Image],
        ids: Sequence[str] = (),
        timeout: float | None = None,
        *,
        texts: Sequence[str] = (),
    ) -> embedder_pb2.EmbedResponse:
        """Images (or, with `texts`, a dual encoder's texts) to vectors."""
        request = embedder_pb2.EmbedRequest(model=model, images=images, ids=ids, texts=texts)
        return await self.call(self._stub.Embed, request, timeout)

    async def stream_embed(
        self, requests: Sequence[embedder_pb2.EmbedRequest], timeout: float | None = None
    ) -> list[embedder_pb2.EmbedResponse]:
        """One reply per request, in order, over one StreamEmbed call."""
        try:
            return [reply async for reply in self._stub.StreamEmbed(iter(requests), timeout=self.timeout(timeout))]
        except grpc.aio.AioRpcError as error:
            raise self.error(error) from None

    async def import_version(
        self,
        model_id: str,
        onnx: bytes,
        manifest: embedder_pb2.ModelManifest,
        *,
        description: str = "",
        metrics: Mapping[str, float] | None = None,
        set_default: bool = False,
        timeout: float = IMPORT_TIMEOUT,
    ) -> embedder_pb2.ModelVersion:
        """Uploads `onnx` as the next version of `model_id` (created if new), marked TRAINED."""
        header = embedder_pb2.ImportModelRequest.Header(
            model_id=model_id,
            description=description,
            manifest=manifest,
            set_default=set_default,
            size_bytes=len(onnx),
            source=embedder_pb2.MODEL_SOURCE_TRAINED,
            metrics={k: float(v) for k, v in (metrics or {}).items()},
        )

        async def parts() -> AsyncIterator[embedder_pb2.ImportModelRequest]:
            yield embedder_pb2.ImportModelRequest(header=header)
            for start in range(0, len(onnx), IMPORT_CHUNK):
                yield embedder_pb2.ImportModelRequest(chunk=onnx[start : start + IMPORT_CHUNK])

        return await self.call(self._stub.ImportModel, parts(), timeout)

    async def get_model(self, name: str, timeout: float | None = None) -> embedder_pb2.Model:
        return await self.call(self._stub.GetModel, embedder_pb2.GetModelRequest(name=name), timeout)

    async def get_version(self, name: str, timeout: float | None = None) -> embedder_pb2.ModelVersion:
        return await self.call(self._stub.GetModelVersion, embedder_pb2.GetModelVersionRequest(name=name), timeout)

    async def set_default(self, model: str, number: int, timeout: float | None = None) -> embedder_pb2.Model:
        """Makes version `number` the default of `model` (`models/{model}`)."""
        request = embedder_pb2.UpdateModelRequest(
            model=embedder_pb2.Model(name=model, default_version=number),
            update_mask=field_mask_pb2.FieldMask(paths=["default_version"]),
        )
        return await self.call(self._stub.UpdateModel, request, timeout)

    async def delete_model(self, name: str, timeout: float | None = None) -> None:
        await self.call(self._stub.DeleteModel, embedder_pb2.DeleteModelRequest(name=name), timeout)

    async def delete_version(self, name: str, timeout: float | None = None) -> None:
        await self.call(self._stub.DeleteModelVersion, embedder_pb2.DeleteModelVersionRequest(name=name), timeout)
