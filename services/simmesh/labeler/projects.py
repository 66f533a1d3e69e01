"""Projects: each with an embedder model version and its own indexer collection.

Creating a project pins the model (`models/generic`, the built-in model for photos, when the
request names none): `models/{m}` and `tasks/{t}` are resolved to the registry
version they mean at that moment, and the collection `lbl-{project}` is bound to it (cosine,
`labels` and `state` indexed), so every vector of a project comes from one version. The store's
row is written once the collection exists; if that fails, the collection is deleted again.
Collections named `lbl-*` belong to the labeler: one left behind by an interrupted creation is
replaced.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from simmesh.kit import reasons
from simmesh.kit.errors import AlreadyExists, InvalidArgument
from simmesh.kit.names import new_id
from simmesh.kit.paging import Page
from simmesh.labeler.backends import Backends
from simmesh.labeler.names import check_project_id, collection_id, project_name
from simmesh.labeler.params import GivenParams, check_params
from simmesh.labeler.records import NewProject, Project

# The model of a project created without one: the built-in model for photos.
DEFAULT_MODEL = "models/generic"

MUTABLE = (
    "display_name",
    "description",
    "default_params",
    "default_params.k",
    "default_params.threshold",
    "default_params.use_first",
)


class Projects:
    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    async def create(
        self,
        project_id: str,
        model: str,
        *,
        display_name: str = "",
        description: str = "",
        params: GivenParams | None = None,
        timeout: float | None = None,
    ) -> Project:
        project_id = check_project_id(project_id, "project_id") if project_id else new_id()
        model = model or DEFAULT_MODEL
        given = params or GivenParams()
        check_params(given, "project.default_params")
        backends = self.backends
        if await backends.run(backends.store.has_project, project_id):
            raise AlreadyExists(
                f"projects/{project_id} already exists", reason=reasons.PROJECT_EXISTS, field="project_id"
            )
        version = await backends.embedding.resolve_model(model, "project.model", timeout)
        collection = collection_id(project_id)
        description_text = f"labeler project {project_name(project_id)}"
        async with backends.writing(project_id):
            try:
                await backends.collections.create(collection, version, backends.shard_count, description_text, timeout)
            except AlreadyExists:
                await backends.collections.delete(collection, timeout)
                await backends.collections.create(collection, version, backends.shard_count, description_text, timeout)
            try:
                return await backends.run(
                    backends.store.create_project,
                    NewProject(
                        id=project_id,
                        model=model,
                        model_version=version,
                        collection=collection,
                        display_name=display_name,
                        description=description,
                        default_k=given.k or 0,
                        default_threshold=given.threshold,
                        default_use_first=given.use_first,
                    ),
                )
            except BaseException:
                await backends.collections.delete(collection, timeout)
                raise

    async def get(self, project_id: str) -> Project:
        return await self.backends.project(project_id)

    async def list(self, page_size: int, page_token: str, tenant: str | None = None) -> Page[Project]:
        """The projects of `tenant` (see sql.owned_by), every tenant's when None."""
        return await self.backends.run(self.backends.store.list_projects, page_size, page_token, tenant=tenant)

    async def update(
        self, project_id: str, paths: builtins.list[str], values: Mapping[str, Any], params: GivenParams
    ) -> Project:
        """Changes the fields named in `paths` (display_name, description, default_params[.k |
        .threshold | .use_first]); the model cannot change."""
        if not paths or any(p not in MUTABLE for p in paths):
            raise InvalidArgument(
                f"update_mask must name some of {list(MUTABLE)}; got {paths} (the model is fixed "
                "at creation: create another project for another model)",
                reason=reasons.INVALID_UPDATE_MASK,
                field="update_mask",
            )
        check_params(params, "project.default_params")
        changes: dict[str, Any] = {p: values[p] for p in ("display_name", "description") if p in paths}
        whole = "default_params" in paths
        if whole or "default_params.k" in paths:
            changes["default_k"] = params.k or 0
        if whole or "default_params.threshold" in paths:
            changes["default_threshold"] = params.threshold
        if whole or "default_params.use_first" in paths:
            changes["default_use_first"] = params.use_first
        return await self.backends.run(self.backends.store.update_project, project_id, changes)

    async def delete(self, project_id: str, timeout: float | None) -> None:
        """Deletes the collection, then the project's rows."""
        backends = self.backends
        async with backends.writing(project_id):
            project = await backends.project(project_id)
            await backends.collections.delete(project.collection, timeout)
            await backends.run(backends.store.delete_project, project_id)
