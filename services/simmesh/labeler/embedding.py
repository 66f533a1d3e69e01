"""The labeler's use of the embedder: which registry version a model name means, and vectors of
any number of images (512 per Embed call; more go as one StreamEmbed call)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simmesh.kit import errors, reasons
from simmesh.kit.errors import FailedPrecondition, InvalidArgument, SimmeshError
from simmesh.kit.peers import CatalogClient, EmbedderClient
from simmesh_proto.v1 import common_pb2, embedder_pb2

# Images per Embed call (the embedder's limit).
MAX_EMBED = 512


class Embedding:
    """Models resolved through the embedder, or the catalog for `tasks/...`; `catalog` is None when
    no catalog is configured."""

    def __init__(self, embedder: EmbedderClient, catalog: CatalogClient | None) -> None:
        self.embedder = embedder
        self.catalog = catalog

    async def resolve_model(self, name: str, field: str, timeout: float | None) -> str:
        """The registry version `name` means: `models/{m}/versions/{v}`.

        `models/{m}` takes the model's default version; `tasks/{t}` the task's production
        version and `tasks/{t}/versions/{v}` that version, both asked of the catalog.
        """
        parts = name.split("/")
        shaped = len(parts) in (2, 4) and bool(parts[1]) and (len(parts) == 2 or parts[2] == "versions")
        try:
            if shaped and parts[0] == "models":
                return await self._model_version(name, parts, timeout)
            if shaped and parts[0] == "tasks":
                return await self._task_version(name, parts, field, timeout)
        except SimmeshError as error:
            error.violations.insert(0, (field, error.message))
            raise
        raise InvalidArgument(
            f"{field} must be `models/{{m}}[/versions/{{v}}]` or `tasks/{{t}}[/versions/{{v}}]`, got {name!r}",
            reason=reasons.INVALID_MODEL_NAME,
            field=field,
        )

    async def _model_version(self, name: str, parts: list[str], timeout: float | None) -> str:
        if len(parts) == 4:
            return (await self.embedder.get_version(name, timeout)).name
        model = await self.embedder.get_model(name, timeout)
        if not model.default_version:
            raise FailedPrecondition(f"{name} has no version yet", reason=reasons.MODEL_HAS_NO_VERSION)
        return f"{model.name}/versions/{model.default_version}"

    async def _task_version(self, name: str, parts: list[str], field: str, timeout: float | None) -> str:
        if self.catalog is None:
            raise FailedPrecondition(
                f"{field} names a task but no catalog is configured (SIMMESH_CATALOG_ADDR)", reason=reasons.NO_CATALOG
            )
        version_name = name
        if len(parts) == 2:
            task = await self.catalog.get_task(name, timeout)
            if not task.production_version:
                raise FailedPrecondition(f"{name} has not been trained yet", reason=reasons.TASK_NOT_TRAINED)
            version_name = f"{task.name}/versions/{task.production_version}"
        return (await self.catalog.get_task_version(version_name, timeout)).model_version

    async def embed(
        self, model: str, images: Sequence[common_pb2.Image], timeout: float | None
    ) -> tuple[np.ndarray, dict[int, SimmeshError]]:
        """One row per image (zero where it failed) and the failures by position."""
        chunks = [list(images[i : i + MAX_EMBED]) for i in range(0, len(images), MAX_EMBED)]
        if len(chunks) == 1:
            replies = [await self.embedder.embed(model, chunks[0], timeout=timeout)]
        else:
            requests = [embedder_pb2.EmbedRequest(model=model, images=chunk) for chunk in chunks]
            replies = await self.embedder.stream_embed(requests, timeout)
        rows, failures = [], {}
        for offset, reply in zip(range(0, len(images), MAX_EMBED), replies):
            batch = reply.vectors
            rows.append(np.frombuffer(batch.data, dtype="<f4").reshape(batch.count, batch.dimension))
            for item in reply.errors:
                failures[offset + item.index] = errors.from_status(item.status)
        return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32), failures
