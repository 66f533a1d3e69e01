"""The router's calls to the embedder: images and texts to vectors, and a model's dimension."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simmesh.kit import errors, reasons
from simmesh.kit.errors import FailedPrecondition, SimmeshError
from simmesh.kit.peers import EmbedderClient
from simmesh_proto.v1 import common_pb2, embedder_pb2


class Embedder:
    """The embedder service, where one is configured (`client` None: none is)."""

    def __init__(self, client: EmbedderClient | None) -> None:
        self.client = client

    def _configured(self, field: str = "") -> EmbedderClient:
        if self.client is None:
            raise FailedPrecondition("no embedder is configured", reason=reasons.NO_EMBEDDER, field=field or None)
        return self.client

    async def embed(
        self, model: str, images: Sequence[common_pb2.Image], timeout: float | None
    ) -> embedder_pb2.EmbedResponse:
        return await self._configured().embed(model, images, timeout=timeout)

    async def embed_texts(
        self, model: str, texts: Sequence[str], timeout: float | None, field: str
    ) -> embedder_pb2.EmbedResponse:
        """Texts through `model`'s text tower; its errors (NO_TEXT_TOWER for an image-only model) name `field`."""
        try:
            return await self._configured(field).embed(model, (), texts=texts, timeout=timeout)
        except SimmeshError as error:
            error.violations.insert(0, (field, error.message))
            raise

    async def model_dimension(self, model: str, field: str) -> int:
        """The dimension of the vectors of `model` (a version, or a model's default version);
        its errors name `field`."""
        client = self._configured(field)
        try:
            if "/versions/" in model:
                version = await client.get_version(model)
            else:
                info = await client.get_model(model)
                version = await client.get_version(f"{info.name}/versions/{info.default_version}")
        except SimmeshError as error:
            error.violations.insert(0, (field, error.message))
            raise
        return version.manifest.dimension


def embedded_rows(reply: embedder_pb2.EmbedResponse, dimension: int, field: str | None = None) -> np.ndarray:
    """The vectors of an Embed reply as rows, once they are of the collection's `dimension`."""
    if reply.vectors.dimension != dimension:
        raise FailedPrecondition(
            f"the model gives {reply.vectors.dimension}-d vectors, the collection holds {dimension}-d ones",
            reason=reasons.DIMENSION_MISMATCH,
            field=field,
        )
    return np.frombuffer(reply.vectors.data, dtype="<f4").reshape(reply.vectors.count, dimension)


def item_error(item: common_pb2.ItemError, field: str) -> errors.SimmeshError:
    """The error the embedder gave for one image, naming the request field of that image."""
    error = errors.from_status(item.status)
    error.violations = [(field, error.message)]
    return error
