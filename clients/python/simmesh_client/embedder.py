"""`client.embedder`: embed images, import and manage models and their versions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf import field_mask_pb2

from simmesh_client.base import ImageSource, ServiceClient, as_image, paginate, resource_name
from simmesh_client.errors import ItemFailure, PartialFailure
from simmesh_client.models import DEFAULT_CHUNK_SIZE, OnnxFile, OnnxSource, as_manifest, import_requests
from simmesh_client.vectors import from_vector_batch
from simmesh_proto.v1 import embedder_pb2, embedder_pb2_grpc


@dataclass(frozen=True)
class Comparison:
    """What `EmbedderClient.compare` returns."""

    # The version that produced the vectors, `models/{model}/versions/{n}`.
    model_version: str
    # Cosine similarity (-1..1) of each candidate to the reference, in the candidates' order.
    similarities: list[float]


class EmbedderClient(ServiceClient[embedder_pb2_grpc.EmbedderServiceStub]):
    service = "embedder"
    stub_class = embedder_pb2_grpc.EmbedderServiceStub

    def embed(
        self, model: str, images: Sequence[ImageSource], *, ids: Sequence[str] = (), timeout: float | None = None
    ) -> np.ndarray:
        """A (len(images), dimension) float32 array, one row per image in order.

        Raises `PartialFailure` when some images fail; its `result` holds the array with zero rows
        for them and `failures` says which and why.
        """
        request = embedder_pb2.EmbedRequest(
            model=resource_name("models", model), images=[as_image(image) for image in images], ids=ids
        )
        response = self.rpc.Embed(request, timeout=timeout)
        vectors = from_vector_batch(response.vectors)
        if response.errors:
            failures = [ItemFailure.from_proto(item) for item in response.errors]
            raise PartialFailure(failures, vectors, total=len(images))
        return vectors

    def embed_texts(
        self, model: str, texts: Sequence[str], *, ids: Sequence[str] = (), timeout: float | None = None
    ) -> np.ndarray:
        """A (len(texts), dimension) float32 array from a dual encoder's text tower, in the image
        vectors' space. An image-only model raises FAILED_PRECONDITION (NO_TEXT_TOWER)."""
        request = embedder_pb2.EmbedRequest(model=resource_name("models", model), texts=list(texts), ids=ids)
        return from_vector_batch(self.rpc.Embed(request, timeout=timeout).vectors)

    def compare(
        self, model: str, reference: ImageSource, candidates: Sequence[ImageSource], *, timeout: float | None = None
    ) -> Comparison:
        """The cosine similarity of each candidate image to `reference` under `model`.

        Unlike `embed`, one bad image fails the call with an `InvalidArgument` naming it
        (`reference` or `candidates[i]`).
        """
        request = embedder_pb2.CompareRequest(
            model=resource_name("models", model),
            reference=as_image(reference),
            candidates=[as_image(image) for image in candidates],
        )
        response = self.rpc.Compare(request, timeout=timeout)
        return Comparison(model_version=response.model_version, similarities=list(response.similarities))

    def import_model(
        self,
        model_id: str,
        onnx: OnnxSource,
        manifest: embedder_pb2.ModelManifest | Mapping[str, Any],
        *,
        description: str = "",
        set_default: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        metrics: Mapping[str, float] | None = None,
        text_onnx: OnnxSource | None = None,
        tokenizer: OnnxSource | None = None,
        timeout: float | None = None,
    ) -> embedder_pb2.ModelVersion:
        """Upload an ONNX model (bytes or a file path) as the next version of `model_id`.

        The file is streamed in `chunk_size` pieces. `manifest` is a `ModelManifest` or a dict
        (see `simmesh_client.models.as_manifest`); the server fills in `dimension` from a trial run.
        A dual encoder (manifest `kind` DUAL_ENCODER, with `text`) also takes its text graph
        `text_onnx` and its `tokenizer` (a Hugging Face tokenizers JSON file), bytes or paths.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        if (text_onnx is None) != (tokenizer is None):
            raise ValueError("a dual encoder needs both text_onnx and tokenizer")
        model_id = model_id.removeprefix("models/")
        with OnnxFile(onnx) as file, OnnxFile(text_onnx or b"") as text, OnnxFile(tokenizer or b"") as vocabulary:
            header = embedder_pb2.ImportModelRequest.Header(
                model_id=model_id,
                description=description,
                manifest=as_manifest(manifest),
                set_default=set_default,
                size_bytes=file.size,
                source=embedder_pb2.MODEL_SOURCE_IMPORTED,
                metrics=dict(metrics or {}),
                text_size_bytes=text.size,
                tokenizer_size_bytes=vocabulary.size,
            )
            requests = import_requests(header, file, chunk_size, text=text, tokenizer=vocabulary)
            return self.rpc.ImportModel(requests, timeout=timeout)

    def get_model(self, model: str) -> embedder_pb2.Model:
        return self.rpc.GetModel(embedder_pb2.GetModelRequest(name=resource_name("models", model)))

    def list_models(self, *, page_size: int = 0) -> Iterator[embedder_pb2.Model]:
        """Every model, across all pages."""
        return paginate(self.rpc.ListModels, embedder_pb2.ListModelsRequest(page_size=page_size), "models")

    def get_version(self, name: str) -> embedder_pb2.ModelVersion:
        """One version by its name, `models/{model}/versions/{n}`."""
        return self.rpc.GetModelVersion(embedder_pb2.GetModelVersionRequest(name=resource_name("models", name)))

    def list_versions(self, model: str, *, page_size: int = 0) -> Iterator[embedder_pb2.ModelVersion]:
        """Every version of a model, across all pages."""
        request = embedder_pb2.ListModelVersionsRequest(parent=resource_name("models", model), page_size=page_size)
        return paginate(self.rpc.ListModelVersions, request, "versions")

    def delete_model(self, model: str) -> None:
        """Delete a model with all its versions."""
        self.rpc.DeleteModel(embedder_pb2.DeleteModelRequest(name=resource_name("models", model)))

    def set_default_version(self, model: str, version: int) -> embedder_pb2.Model:
        """Make `version` the one used when callers name the model without a version."""
        request = embedder_pb2.UpdateModelRequest(
            model=embedder_pb2.Model(name=resource_name("models", model), default_version=version),
            update_mask=field_mask_pb2.FieldMask(paths=["default_version"]),
        )
        return self.rpc.UpdateModel(request)
