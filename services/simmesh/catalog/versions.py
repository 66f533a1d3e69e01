"""Which trained version a name means, and choosing a task's production version.

    version = await versions.resolve("tasks/shoes")             # the production version
    version = await versions.resolve("tasks/shoes/versions/2")
    task = await versions.set_production("shoes", 2)           # catalog and embedder default

A task's version n is the registry's `models/{task.model}/versions/n`.
"""

from __future__ import annotations

import asyncio

from simmesh.catalog.names import MODELS, TASKS, parse_name, parse_version_name, public_model_name
from simmesh.catalog.records import Task, TaskVersion
from simmesh.catalog.store import CatalogStore
from simmesh.kit import reasons
from simmesh.kit.errors import FailedPrecondition
from simmesh.kit.model_registry import parse_model_name
from simmesh.kit.peers import EmbedderClient


def not_trained(task_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"{TASKS}/{task_id} has no trained version yet; train it first (TrainTask) or name a version",
        reason=reasons.TASK_NOT_TRAINED,
        metadata={"task": f"{TASKS}/{task_id}"},
    )


def resolve_version(store: CatalogStore, name: str, field: str) -> TaskVersion:
    """The version `tasks/{t}/versions/{n}` names, or the production version of `tasks/{t}`.
    Blocks: call it off the event loop."""
    if "/versions/" in name:
        task_id, number = parse_version_name(name, field)
        return store.get_task_version(task_id, number)
    task_id = parse_name(name, TASKS, field)
    task = store.get_task(task_id)
    if task.production_version == 0:
        raise not_trained(task_id)
    return store.get_task_version(task_id, task.production_version)


class Versions:
    """Task versions as the catalog and the embedder's registry both know them."""

    def __init__(self, store: CatalogStore, embedder: EmbedderClient) -> None:
        self.store = store
        self.embedder = embedder

    async def resolve(self, name: str, field: str) -> TaskVersion:
        return await asyncio.to_thread(resolve_version, self.store, name, field)

    async def set_production(self, task_id: str, number: int) -> Task:
        """Makes version `number` what `tasks/{task}` means, and the default of the task's
        registry model, so `models/{model}` names the same version."""
        version = await asyncio.to_thread(self.store.get_task_version, task_id, number)
        model_id, model_number = parse_model_name(public_model_name(version.model_version), "model_version")
        await self.embedder.set_default(f"{MODELS}/{model_id}", model_number)
        return await asyncio.to_thread(self.store.set_production_version, task_id, number)
