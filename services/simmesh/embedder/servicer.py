"""gRPC surface of the embedder: proto <-> domain, no logic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from google.protobuf import empty_pb2

from simmesh.embedder.compare import compare
from simmesh.embedder.embedding import Embedder, EmbedResult
from simmesh.embedder.model_scope import ModelScope, shown_model, shown_version
from simmesh.embedder.text_tower import TextFiles
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument, ResourceExhausted
from simmesh.kit.model_registry import public_model_name
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc

# Largest ONNX file ImportModel accepts.
MAX_MODEL_BYTES = 1 << 30


def _response(result: EmbedResult, ids) -> embedder_pb2.EmbedResponse:
    rows, dimension = result.vectors.shape
    return embedder_pb2.EmbedResponse(
        model_version=public_model_name(result.model_version),
        vectors=common_pb2.VectorBatch(
            dimension=dimension, count=rows, data=result.vectors.astype("<f4", copy=False).tobytes()
        ),
        errors=[
            common_pb2.ItemError(index=i, id=ids[i] if ids else "", status=error.to_status())
            for i, error in result.errors
        ],
    )


class EmbedderServicer(embedder_pb2_grpc.EmbedderServiceServicer):
    """`simmesh.v1.EmbedderService`. Model names are the caller's (see `ModelScope`)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.scope = ModelScope(embedder.registry)

    async def Embed(self, request: embedder_pb2.EmbedRequest, context) -> embedder_pb2.EmbedResponse:
        return _response(await self._embed(request), request.ids)

    async def _embed(self, request: embedder_pb2.EmbedRequest) -> EmbedResult:
        model = await self.scope.readable_name(request.model, "model")
        return await self.embedder.embed_request(model, request.images, request.texts, request.ids)

    async def StreamEmbed(self, requests, context) -> AsyncIterator[embedder_pb2.EmbedResponse]:
        # Embed up to two batches at once so decoding of one overlaps inference of the other,
        # answering in request order.
        pending: asyncio.Queue = asyncio.Queue(maxsize=2)

        async def produce() -> None:
            async for request in requests:
                task = asyncio.ensure_future(self._embed(request))
                await pending.put((task, request.ids))
            await pending.put(None)

        producer = asyncio.ensure_future(produce())
        try:
            while (item := await pending.get()) is not None:
                task, ids = item
                yield _response(await task, ids)
            await producer
        finally:
            producer.cancel()

    async def Compare(self, request: embedder_pb2.CompareRequest, context) -> embedder_pb2.CompareResponse:
        model = await self.scope.readable_name(request.model, "model")
        comparison = await compare(self.embedder, model, request.reference, request.candidates)
        return embedder_pb2.CompareResponse(
            model_version=public_model_name(comparison.model_version), similarities=comparison.similarities.tolist()
        )

    async def ImportModel(self, requests, context) -> embedder_pb2.ModelVersion:
        header = None
        # The image graph (`chunk`), a dual encoder's text graph and tokenizer, each in pieces.
        files: dict[str, list[bytes]] = {"chunk": [], "text_chunk": [], "tokenizer_chunk": []}
        size = 0
        async for part in requests:
            kind = part.WhichOneof("part")
            if kind == "header":
                if header is not None:
                    raise InvalidArgument(
                        "the header must be sent once, first", reason=reasons.DUPLICATE_HEADER, field="header"
                    )
                header = part.header
                continue
            if header is None:
                raise InvalidArgument(
                    "the first message must carry the header", reason=reasons.MISSING_HEADER, field="header"
                )
            data = getattr(part, kind) if kind else b""
            size += len(data)
            if size > MAX_MODEL_BYTES:
                raise ResourceExhausted(
                    f"the model's files exceed {MAX_MODEL_BYTES} bytes", reason=reasons.MODEL_TOO_LARGE, field=kind
                )
            if kind:
                files[kind].append(data)
        if header is None:
            raise InvalidArgument("no header received", reason=reasons.MISSING_HEADER, field="header")
        text = None
        if files["text_chunk"] or files["tokenizer_chunk"]:
            text = TextFiles(onnx=b"".join(files["text_chunk"]), tokenizer=b"".join(files["tokenizer_chunk"]))
        header.model_id = await self.scope.new_version_id(header.model_id, "header.model_id")
        return shown_version(await self.embedder.import_model(header, b"".join(files["chunk"]), text))

    async def GetModel(self, request, context) -> embedder_pb2.Model:
        model_id, _ = await self.scope.readable(request.name, "name")
        return shown_model(await asyncio.to_thread(self.embedder.registry.get_model, model_id))

    async def ListModels(self, request, context) -> embedder_pb2.ListModelsResponse:
        models, token = await asyncio.to_thread(
            self.embedder.registry.list_models, request.page_size, request.page_token, self.scope.listed
        )
        return embedder_pb2.ListModelsResponse(models=[shown_model(m) for m in models], next_page_token=token)

    async def UpdateModel(self, request, context) -> embedder_pb2.Model:
        model_id, _ = await self.scope.writable(request.model.name, "model.name")
        paths = set(request.update_mask.paths) or {"description", "default_version"}
        unknown = paths - {"description", "default_version"}
        if unknown:
            raise InvalidArgument(
                f"update_mask may name description and default_version, not {sorted(unknown)}",
                reason=reasons.INVALID_UPDATE_MASK,
                field="update_mask",
            )
        model = await asyncio.to_thread(
            self.embedder.registry.update_model,
            model_id,
            description=request.model.description if "description" in paths else None,
            default_version=request.model.default_version if "default_version" in paths else None,
        )
        return shown_model(model)

    async def DeleteModel(self, request, context) -> empty_pb2.Empty:
        model_id, _ = await self.scope.writable(request.name, "name")
        await self.embedder.delete_model(model_id)
        return empty_pb2.Empty()

    async def GetModelVersion(self, request, context) -> embedder_pb2.ModelVersion:
        model_id, number = _versioned(await self.scope.readable(request.name, "name"))
        version = await asyncio.to_thread(self.embedder.registry.get_version, model_id, number)
        version.loaded = self.embedder.is_loaded(version.name)
        return shown_version(version)

    async def ListModelVersions(self, request, context) -> embedder_pb2.ListModelVersionsResponse:
        model_id, _ = await self.scope.readable(request.parent, "parent")
        versions, token = await asyncio.to_thread(
            self.embedder.registry.list_versions, model_id, request.page_size, request.page_token
        )
        for version in versions:
            version.loaded = self.embedder.is_loaded(version.name)
        return embedder_pb2.ListModelVersionsResponse(
            versions=[shown_version(v) for v in versions], next_page_token=token
        )

    async def DeleteModelVersion(self, request, context) -> empty_pb2.Empty:
        model_id, number = _versioned(await self.scope.writable(request.name, "name"))
        await self.embedder.delete_version(model_id, number)
        return empty_pb2.Empty()


def _versioned(parsed: tuple[str, int]) -> tuple[str, int]:
    """A parsed name that must name a version: INVALID_ARGUMENT (INVALID_MODEL_NAME) for a model's."""
    if not parsed[1]:
        raise InvalidArgument(
            "name must be `models/{model}/versions/{n}`", reason=reasons.INVALID_MODEL_NAME, field="name"
        )
    return parsed
