"""The embedder's domain: images in, vectors out, per item; models imported, served, deleted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simmesh.embedder.builtin import BuiltinModel
from simmesh.embedder.builtin_cache import cached_export
from simmesh.embedder.registry import ModelRegistry, check_internal_model_id, runtime_key
from simmesh.embedder.runtime import Runtime, machine_cores
from simmesh.embedder.text_tower import TextEncoder, TextFiles
from simmesh.imaging.budget import Budgets
from simmesh.imaging.limits import ImageLimits
from simmesh.imaging.pipeline import ImagePipeline
from simmesh.imaging.preprocess import batch_of
from simmesh.imaging.source import ImageSource
from simmesh.kit import reasons
from simmesh.kit.batches import check_batch_size
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, SimmeshError
from simmesh.kit.model_registry import parse_model_name, public_model_name
from simmesh_proto.v1 import common_pb2, embedder_pb2

log = logging.getLogger("simmesh.embedder")

MAX_BATCH_IMAGES = 512


@dataclass
class EmbedResult:
    model_version: str
    # One row per image of the request; rows of failed items are zero.
    vectors: np.ndarray
    errors: list[tuple[int, SimmeshError]]


class Embedder:
    """The embedder's domain: images in, vectors out, per item; models imported, served, deleted.

        vectors, errors = await embedder.embed("models/match", images)

    Each batch goes through `ImagePipeline` (fetches in their own pool within the request's
    deadline, byte and pixel budgets, decode and fit a few images at a time within the process's
    pixel budget), then one inference call for the good items, L2-normalisation when the
    manifest asks for it.
    A bad image fails only its own item. Versions are loaded into the runtime on first use (and on
    import); deleting a model unloads it. A dual encoder's text tower runs in this process (see
    `TextEncoder`) whichever runtime serves the image graphs: `embed_texts`.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        runtime: Runtime,
        images: ImageSource,
        *,
        limits: ImageLimits | None = None,
        workers: int | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self.registry = registry
        self.runtime = runtime
        self.images = images
        self.limits = limits or images.limits
        self.executor = ThreadPoolExecutor(
            max_workers=workers or max(2, machine_cores() * 2), thread_name_prefix="embed"
        )
        self.pipeline = ImagePipeline(images, budgets or Budgets(), self.executor)
        self._load_locks: dict[str, asyncio.Lock] = {}
        self._text_encoders: dict[str, TextEncoder] = {}

    async def close(self) -> None:
        await self.runtime.close()
        self.images.close()
        self.pipeline.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- models -----------------------------------------------------------------------------

    async def resolve(self, name: str, field: str = "model") -> embedder_pb2.ModelVersion:
        """The version `name` means, loaded into the runtime."""
        version = await asyncio.to_thread(self.registry.resolve, name, field)
        model_id, number = parse_model_name(version.name)
        await self._ensure_loaded(model_id, number, version)
        return version

    async def _ensure_loaded(self, model_id: str, number: int, version: embedder_pb2.ModelVersion) -> str:
        key = runtime_key(model_id, number)
        if self._is_ready(key, version):
            return key
        lock = self._load_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if not self.runtime.loaded(key):
                onnx = await asyncio.to_thread(self.registry.onnx_bytes, model_id, number)
                await self.runtime.load(key, onnx, version.manifest)
                log.info("loaded %s", version.name, extra={"model": version.name, "key": key})
            if not self._is_ready(key, version):
                files = await asyncio.to_thread(self.registry.text_files, model_id, number)
                self._text_encoders[key] = await asyncio.to_thread(TextEncoder, key, files, version.manifest)
        return key

    def _is_ready(self, key: str, version: embedder_pb2.ModelVersion) -> bool:
        """The runtime serves the image graph and, for a dual encoder, this process has its text tower."""
        dual = version.manifest.kind == embedder_pb2.MODEL_KIND_DUAL_ENCODER
        return self.runtime.loaded(key) and (not dual or key in self._text_encoders)

    async def import_model(
        self, header: embedder_pb2.ImportModelRequest.Header, onnx: bytes, text: TextFiles | None = None
    ) -> embedder_pb2.ModelVersion:
        check_internal_model_id(header.model_id, "header.model_id")
        _check_size(header.size_bytes, onnx, "header.size_bytes")
        if text is not None:
            _check_size(header.text_size_bytes, text.onnx, "header.text_size_bytes")
            _check_size(header.tokenizer_size_bytes, text.tokenizer, "header.tokenizer_size_bytes")
        version = await asyncio.to_thread(
            self.registry.create_version,
            header.model_id,
            header.manifest,
            onnx,
            description=header.description,
            source=header.source or embedder_pb2.MODEL_SOURCE_IMPORTED,
            set_default=header.set_default,
            metrics=dict(header.metrics),
            text=text,
        )
        model_id, number = parse_model_name(version.name)
        await self._ensure_loaded(model_id, number, version)
        loaded = embedder_pb2.ModelVersion()
        loaded.CopyFrom(version)
        loaded.loaded = True
        return loaded

    async def delete_model(self, model_id: str) -> None:
        numbers = await asyncio.to_thread(self.registry.delete_model, model_id)
        for number in numbers:
            await self._unload(runtime_key(model_id, number))

    async def delete_version(self, model_id: str, number: int) -> None:
        await asyncio.to_thread(self.registry.delete_version, model_id, number)
        await self._unload(runtime_key(model_id, number))

    async def _unload(self, key: str) -> None:
        self._text_encoders.pop(key, None)
        if self.runtime.loaded(key):
            await self.runtime.unload(key)

    def is_loaded(self, version_name: str) -> bool:
        model_id, number = parse_model_name(version_name)
        return self.runtime.loaded(runtime_key(model_id, number))

    # -- embedding --------------------------------------------------------------------------

    async def embed_request(
        self, model: str, images: Sequence[common_pb2.Image], texts: Sequence[str], ids: Sequence[str] = ()
    ) -> EmbedResult:
        """An EmbedRequest's images, or its texts (never both)."""
        if images and texts:
            raise InvalidArgument(
                "a request embeds images or texts, not both", reason=reasons.IMAGES_AND_TEXTS, field="texts"
            )
        if texts:
            return await self.embed_texts(model, texts, ids)
        return await self.embed(model, images, ids)

    async def embed(self, model: str, images: Sequence[common_pb2.Image], ids: Sequence[str] = ()) -> EmbedResult:
        _check_batch(len(images), ids, "images", reasons.NO_IMAGES)
        version = await self.resolve(model)
        manifest = version.manifest
        rows = await self.pipeline.fit_batch(images, manifest)
        good = [i for i, row in enumerate(rows) if not isinstance(row, SimmeshError)]
        fitted = [row for row in rows if not isinstance(row, SimmeshError)]
        errors = [(i, row) for i, row in enumerate(rows) if isinstance(row, SimmeshError)]
        vectors = np.zeros((len(images), manifest.dimension), dtype=np.float32)
        if good:
            vectors[good] = await self.vectors(version, fitted)
        return EmbedResult(model_version=version.name, vectors=vectors, errors=errors)

    async def vectors(self, version: embedder_pb2.ModelVersion, fitted: Sequence[np.ndarray]) -> np.ndarray:
        """One row per image fit to a resolved `version`'s input (see `ImagePipeline`): inferred,
        normalised as the manifest says."""
        manifest = version.manifest
        batch = await asyncio.get_running_loop().run_in_executor(self.executor, batch_of, fitted, manifest)
        model_id, number = parse_model_name(version.name)
        output = await self.runtime.infer(runtime_key(model_id, number), batch)
        if manifest.normalize and not manifest.output_normalized:
            norms = np.linalg.norm(output, axis=1, keepdims=True)
            output = output / np.maximum(norms, 1e-12)
        return output

    async def embed_texts(self, model: str, texts: Sequence[str], ids: Sequence[str] = ()) -> EmbedResult:
        """Texts to vectors with a dual encoder's text tower; FAILED_PRECONDITION (NO_TEXT_TOWER) for an
        image-only model."""
        _check_batch(len(texts), ids, "texts", reasons.EMPTY_TEXT)
        for i, text in enumerate(texts):
            if not text.strip():
                raise InvalidArgument(f"texts[{i}] is empty", reason=reasons.EMPTY_TEXT, field=f"texts[{i}]")
        version = await self.resolve(model)
        if version.manifest.kind != embedder_pb2.MODEL_KIND_DUAL_ENCODER:
            shown = public_model_name(version.name)
            raise FailedPrecondition(
                f"`{shown}` has no text tower: it embeds images only (import a dual encoder to query by text)",
                reason=reasons.NO_TEXT_TOWER,
                field="model",
                metadata={"model": shown},
            )
        model_id, number = parse_model_name(version.name)
        encoder = self._text_encoders[runtime_key(model_id, number)]
        loop = asyncio.get_running_loop()
        vectors = await loop.run_in_executor(self.executor, encoder.encode, list(texts))
        return EmbedResult(model_version=version.name, vectors=vectors, errors=[])


def _check_batch(count: int, ids: Sequence[str], field: str, empty_reason: str) -> None:
    """A batch of `count` images or texts (`field`), not empty and within the limit, with one id per
    item when ids are given."""
    too_large = "a batch holds at most {limit} {field}, got {count}; split it or use StreamEmbed"
    check_batch_size(count, MAX_BATCH_IMAGES, field, empty_reason=empty_reason, too_large=too_large)
    if ids and len(ids) != count:
        raise InvalidArgument(
            f"ids has {len(ids)} entries for {count} {field}", reason=reasons.IDS_LENGTH_MISMATCH, field="ids"
        )


def _check_size(declared: int, data: bytes, field: str) -> None:
    """A size the header declares (0: not declared) against the bytes that arrived."""
    if declared and declared != len(data):
        raise InvalidArgument(
            f"{field} says {declared} bytes but {len(data)} arrived", reason=reasons.MODEL_SIZE_MISMATCH, field=field
        )


async def ensure_builtin_models(
    registry: ModelRegistry, models: dict[str, BuiltinModel], cache_dir: Path | None = None
) -> list[str]:
    """Creates each built-in model (version 1, generated by code) that the registry lacks; the
    exports are kept in `cache_dir` (when given) so that later fresh registries skip the export."""
    created = []
    for name, builtin in models.items():
        if await asyncio.to_thread(registry.exists, name):
            continue
        onnx = await asyncio.to_thread(cached_export, builtin, cache_dir)
        await asyncio.to_thread(
            registry.create_version,
            name,
            builtin.manifest(),
            onnx,
            description=builtin.description,
            source=embedder_pb2.MODEL_SOURCE_BUILTIN,
            set_default=True,
        )
        created.append(name)
        log.info("created built-in model models/%s", name)
    return created
