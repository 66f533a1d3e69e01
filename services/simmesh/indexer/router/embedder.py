"""The router's calls to the embedder: images to vectors, and a model's dimension."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import numpy as np
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc

from simmesh.kit import errors
from simmesh.kit.errors import FailedPrecondition


class Embedder:
    """The embedder service, where one is configured (`stub` None: none is)."""

    def __init__(self, stub: embedder_pb2_grpc.EmbedderServiceStub | None) -> None:
        self.stub = stub

    def _configured(self, field: str = "") -> embedder_pb2_grpc.EmbedderServiceStub:
        if self.stub is None:
            raise FailedPrecondition("no embedder is configured", reason="NO_EMBEDDER", field=field or None)
        return self.stub

    async def embed(self, model: str, images: Sequence[common_pb2.Image],
                    timeout: float | None) -> embedder_pb2.EmbedResponse:
        stub = self._configured()
        try:
            return await stub.Embed(embedder_pb2.EmbedRequest(model=model, images=images), timeout=timeout)
        except grpc.aio.AioRpcError as error:
            raise errors.from_rpc_error(error) from None

    async def model_dimension(self, model: str, field: str) -> int:
        """The dimension of the vectors of `model` (a version, or a model's default version);
        its errors name `field`."""
        stub = self._configured(field)
        try:
            if "/versions/" in model:
                version = await stub.GetModelVersion(embedder_pb2.GetModelVersionRequest(name=model))
            else:
                info = await stub.GetModel(embedder_pb2.GetModelRequest(name=model))
                version = await stub.GetModelVersion(embedder_pb2.GetModelVersionRequest(
                    name=f"{info.name}/versions/{info.default_version}"))
        except grpc.aio.AioRpcError as error:
            raised = errors.from_rpc_error(error)
            raised.violations.insert(0, (field, raised.message))
            raise raised from None
        return version.manifest.dimension


def embedded_rows(reply: embedder_pb2.EmbedResponse, dimension: int, field: str | None = None) -> np.ndarray:
    """The vectors of an Embed reply as rows, once they are of the collection's `dimension`."""
    if reply.vectors.dimension != dimension:
        raise FailedPrecondition(f"the model gives {reply.vectors.dimension}-d vectors, the collection holds "
                                 f"{dimension}-d ones", reason="DIMENSION_MISMATCH", field=field)
    return np.frombuffer(reply.vectors.data, dtype="<f4").reshape(reply.vectors.count, dimension)


def item_error(item: common_pb2.ItemError, field: str) -> errors.SimmeshError:
    """The error the embedder gave for one image, naming the request field of that image."""
    error = errors.from_status(item.status)
    error.violations = [(field, error.message)]
    return error
