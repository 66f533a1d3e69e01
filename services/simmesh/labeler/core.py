"""What every labeler operation shares: the store, the mesh, per-project write locks, params."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from simmesh.kit.errors import InvalidArgument, SimmeshError
from simmesh.labeler.model import DEFAULT_K, MAX_K, Params, Project
from simmesh.labeler.peers import Mesh
from simmesh.labeler.store import LabelerStore

T = TypeVar("T")

# Items one AddImages or SuggestLabels call may carry.
MAX_ITEMS = 5000


@dataclass(frozen=True)
class ItemFailure:
    """One item of a batch that failed; nothing was saved for it."""

    index: int
    id: str
    error: SimmeshError


@dataclass(frozen=True)
class GivenParams:
    """SuggestParams as a request gives them: None / False mean "the project's default"."""

    k: int | None = None
    threshold: float | None = None
    use_first: bool = False


def at_field(error: SimmeshError, field: str) -> SimmeshError:
    """`error` with `field` as the only request field at fault."""
    error.violations = [(field, error.message)]
    return error


def check_params(given: GivenParams, field: str) -> None:
    if given.k is not None and not 1 <= given.k <= MAX_K:
        raise InvalidArgument(f"{field}.k must be 1..{MAX_K} (or unset for the default), got {given.k}",
                              reason="INVALID_K", field=f"{field}.k")
    if given.threshold is not None and not (math.isfinite(given.threshold) and 0.0 <= given.threshold <= 100.0):
        raise InvalidArgument(f"{field}.threshold must be within 0..100, got {given.threshold}",
                              reason="INVALID_THRESHOLD", field=f"{field}.threshold")


def resolve_params(given: GivenParams | None, project: Project, field: str = "params") -> Params:
    """The request's params, unset fields taken from the project's defaults, then the service's."""
    defaults = project.params()
    if given is None:
        return defaults
    check_params(given, field)
    return Params(k=given.k if given.k is not None else defaults.k or DEFAULT_K,
                  threshold=defaults.threshold if given.threshold is None else float(given.threshold),
                  use_first=given.use_first or defaults.use_first)


@dataclass
class Core:
    store: LabelerStore
    mesh: Mesh
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
