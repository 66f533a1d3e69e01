"""Wires the embedder's server from its settings."""

from __future__ import annotations

from simmesh.embedder.builtin import BUILTIN_MODELS
from simmesh.embedder.embedding import Embedder, ensure_builtin_models
from simmesh.embedder.onnx_runtime import OnnxRuntimeRuntime
from simmesh.embedder.registry import ModelRegistry
from simmesh.embedder.runtime import Runtime
from simmesh.embedder.servicer import EmbedderServicer
from simmesh.embedder.settings import EmbedderSettings
from simmesh.embedder.triton_runtime import TritonRuntime
from simmesh.imaging.source import ImageSource
from simmesh.kit import reasons
from simmesh.kit.blobstore_config import open_blobstore
from simmesh.kit.errors import InvalidArgument
from simmesh.kit.server import App, binding, build_server
from simmesh_proto.v1 import embedder_pb2, embedder_pb2_grpc


def make_runtime(settings: EmbedderSettings, store) -> Runtime:
    if settings.runtime == "onnxruntime":
        return OnnxRuntimeRuntime()
    if settings.runtime == "triton":
        if not settings.triton_url:
            raise InvalidArgument(
                "runtime triton needs SIMMESH_TRITON_URL", reason=reasons.INVALID_SETTINGS, field="triton_url"
            )
        return TritonRuntime(settings.triton_url, store, prefix="triton")
    raise InvalidArgument(
        f"runtime must be onnxruntime or triton, not {settings.runtime!r}",
        reason=reasons.INVALID_SETTINGS,
        field="runtime",
    )


async def build_app(settings: EmbedderSettings) -> App:
    store = open_blobstore(settings.blob_config())
    images_store = open_blobstore(settings.blob_config(settings.images_blob_url)) if settings.images_blob_url else store
    registry = ModelRegistry(store)
    images = ImageSource(settings.image_limits(), images_store)
    embedder = Embedder(registry, make_runtime(settings, store), images, budgets=settings.budgets())
    if settings.builtin_models:
        await ensure_builtin_models(registry, BUILTIN_MODELS, settings.builtin_cache())
    app = build_server(
        settings,
        [binding(EmbedderServicer(embedder), embedder_pb2, embedder_pb2_grpc, "EmbedderService")],
        service_label="embedder",
    )
    app.on_close(embedder.close)
    return app
