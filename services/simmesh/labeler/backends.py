"""What every labeler operation runs on: the store, the embedder, the collections, per-project write locks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from simmesh.labeler.collection import Collections
from simmesh.labeler.embedding import Embedding
from simmesh.labeler.records import Project
from simmesh.labeler.store import LabelerStore

T = TypeVar("T")


@dataclass
class Backends:
    """What the labeler's operations run on: its store, the embedder, the indexer's collections, and
    per-project write locks."""

    store: LabelerStore
    embedding: Embedding
    collections: Collections
    shard_count: int = 1
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def run(self, function: Callable[..., T], *args, **kwargs) -> T:
        """A store call, off the event loop."""
        return await asyncio.to_thread(function, *args, **kwargs)

    async def project(self, project_id: str) -> Project:
        return await self.run(self.store.get_project, project_id)

    @asynccontextmanager
    async def writing(self, project_id: str) -> AsyncIterator[None]:
        """Serialises the writes of one project in this process, so each one's check of the store,
        write to the indexer and commit to the store happen without another in between."""
        lock = self._locks.setdefault(project_id, asyncio.Lock())
        async with lock:
            yield
