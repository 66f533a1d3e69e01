"""Publishing a trained model: import it into the embedder as the task's next registry version,
then record the task version with the same number. All or nothing: if the record cannot be
written, or the training is cancelled before it is, the imported version is deleted again.

    version = await publisher.publish(task_id, trained, template, cancelled=lambda: ctx.cancelled)

Task ids and the stored model versions are internal (see catalog.names); the embedder is called
for the task's owner, with the model named as the caller calls it (`public_model_name`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from simmesh.catalog.names import MODELS, TASKS, public_model_name, stored_model_name, version_name
from simmesh.catalog.records import TaskVersion
from simmesh.catalog.store import CatalogStore
from simmesh.catalog.training import TrainedModel
from simmesh.kit import reasons
from simmesh.kit.auth.tenancy import public
from simmesh.kit.errors import AlreadyExists, Cancelled, FailedPrecondition, SimmeshError
from simmesh.kit.model_registry import parse_model_name
from simmesh.kit.peers import EmbedderClient

log = logging.getLogger(__name__)

T = TypeVar("T")


async def settle(awaitable: Awaitable[T]) -> tuple[T, bool]:
    """Runs `awaitable` to its end even if the caller is cancelled meanwhile; returns its result
    and whether a cancellation arrived while it ran."""
    task = asyncio.ensure_future(awaitable)
    interrupted = False
    while True:
        try:
            return await asyncio.shield(task), interrupted
        except asyncio.CancelledError:
            if task.done():
                raise
            interrupted = True


class Publisher:
    """Imports trained models and records task versions, one task at a time."""

    def __init__(self, store: CatalogStore, embedder: EmbedderClient) -> None:
        self.store = store
        self.embedder = embedder
        self._locks: dict[str, asyncio.Lock] = {}

    async def next_number(self, model_id: str) -> int:
        """The registry version number the model (internal id) gets at its next import."""
        try:
            return (await self.embedder.get_model(public_model_name(f"{MODELS}/{model_id}"))).latest_version + 1
        except SimmeshError as error:
            if error.reason == reasons.MODEL_NOT_FOUND:
                return 1
            raise

    async def publish(
        self, task_id: str, trained: TrainedModel, template: TaskVersion, cancelled: Callable[[], bool]
    ) -> TaskVersion:
        """Imports `trained` and records `template` under the registry's version number. Raises
        CANCELLED (and leaves nothing behind) when `cancelled()` turns true before the record is
        written; a cancellation after that is too late and the version stands."""
        lock = self._locks.setdefault(task_id, asyncio.Lock())
        async with lock:
            if cancelled():
                raise _cancelled(task_id)
            task = await asyncio.to_thread(self.store.get_task, task_id)
            imported, interrupted = await settle(
                self.embedder.import_version(
                    public(task.model_id),
                    trained.onnx,
                    trained.manifest,
                    description=f"Similarity model of {TASKS}/{task_id}",
                    metrics=trained.metrics,
                )
            )
            model_id, number = parse_model_name(imported.name, "model_version")
            if interrupted or cancelled():
                await self._withdraw(model_id, number)
                raise _cancelled(task_id)
            stored = stored_model_name(imported.name, task_id)
            record = dataclasses.replace(template, number=number, model_version=stored)
            try:
                version, _ = await settle(asyncio.to_thread(self.store.add_task_version, task_id, record))
            except Exception as error:
                await self._withdraw(model_id, number)
                if isinstance(error, AlreadyExists):
                    raise FailedPrecondition(
                        f"the registry gave {imported.name}, but {version_name(task_id, number)} is already "
                        f"recorded: models/{model_id} was changed outside the catalog",
                        reason=reasons.MODEL_VERSION_CONFLICT,
                        metadata={"model_version": imported.name},
                    ) from None
                raise
            if task.production_version == 0:
                await self._make_default(model_id, number)
            return version

    async def _make_default(self, model_id: str, number: int) -> None:
        """The registry makes a model's first version its default by itself; a model that had
        versions before the task's first training needs telling."""
        try:
            model = await self.embedder.get_model(f"models/{model_id}")
            if model.default_version != number:
                await self.embedder.set_default(f"models/{model_id}", number)
        except SimmeshError as error:
            log.warning("could not make models/%s/versions/%d the default: %s", model_id, number, error.message)

    async def _withdraw(self, model_id: str, number: int) -> None:
        """Deletes an imported version that no task version records (the whole model when the
        import created it)."""
        try:
            if number == 1:
                await settle(self.embedder.delete_model(f"models/{model_id}"))
            else:
                await settle(self.embedder.delete_version(f"models/{model_id}/versions/{number}"))
        except SimmeshError as error:
            log.error(
                "could not delete models/%s/versions/%d after a failed training: %s", model_id, number, error.message
            )


def _cancelled(task_id: str) -> Cancelled:
    return Cancelled(
        f"training of {TASKS}/{task_id} was cancelled",
        reason=reasons.TRAINING_CANCELLED,
        metadata={"task": f"{TASKS}/{task_id}"},
    )
