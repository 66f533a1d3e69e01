"""SuggestParams as a request gives them, checked and resolved against a project's defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh.labeler.records import DEFAULT_K, MAX_K, Params, Project


@dataclass(frozen=True)
class GivenParams:
    """SuggestParams as a request gives them: None / False mean "the project's default"."""

    k: int | None = None
    threshold: float | None = None
    use_first: bool = False


def check_params(given: GivenParams, field: str) -> None:
    if given.k is not None and not 1 <= given.k <= MAX_K:
        raise InvalidArgument(
            f"{field}.k must be 1..{MAX_K} (or unset for the default), got {given.k}",
            reason=reasons.INVALID_K,
            field=f"{field}.k",
        )
    if given.threshold is not None and not (math.isfinite(given.threshold) and 0.0 <= given.threshold <= 100.0):
        raise InvalidArgument(
            f"{field}.threshold must be within 0..100, got {given.threshold}",
            reason=reasons.INVALID_THRESHOLD,
            field=f"{field}.threshold",
        )


def resolve_params(given: GivenParams | None, project: Project, field: str = "params") -> Params:
    """The request's params, unset fields taken from the project's defaults, then the service's."""
    defaults = project.params()
    if given is None:
        return defaults
    check_params(given, field)
    return Params(
        k=given.k if given.k is not None else defaults.k or DEFAULT_K,
        threshold=defaults.threshold if given.threshold is None else float(given.threshold),
        use_first=given.use_first or defaults.use_first,
    )
