"""The labeler's records, as the store reads and writes them (plain values, no protos)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Json = dict[str, Any]

DEFAULT_K = 10
DEFAULT_THRESHOLD = 30.0
# Neighbours one suggestion may ask for.
MAX_K = 500


class State(str, enum.Enum):
    """Where an image stands; the value is what the store and the indexer metadata hold."""

    LABELED = "labeled"
    SUGGESTED = "suggested"
    POOL = "pool"


# Images whose labels vote in suggestions.
VOTERS = (State.LABELED, State.SUGGESTED)


@dataclass(frozen=True)
class Params:
    """Resolved knobs of label-by-similarity."""

    k: int = DEFAULT_K
    threshold: float = DEFAULT_THRESHOLD
    use_first: bool = False


@dataclass(frozen=True)
class Project:
    id: str
    display_name: str
    description: str
    # As the caller named it: `models/...` or `tasks/...`.
    model: str
    # The registry version the project's vectors come from: `models/{m}/versions/{v}`.
    model_version: str
    collection: str
    # Defaults for SuggestLabels: 0 / None mean the service defaults.
    default_k: int
    default_threshold: float | None
    default_use_first: bool
    labeled_count: int
    pool_count: int
    create_time: datetime
    update_time: datetime

    def params(self) -> Params:
        return Params(
            k=self.default_k or DEFAULT_K,
            threshold=DEFAULT_THRESHOLD if self.default_threshold is None else self.default_threshold,
            use_first=self.default_use_first,
        )


@dataclass(frozen=True)
class NewProject:
    id: str
    model: str
    model_version: str
    collection: str
    display_name: str = ""
    description: str = ""
    default_k: int = 0
    default_threshold: float | None = None
    default_use_first: bool = False


@dataclass(frozen=True)
class Image:
    id: str
    labels: tuple[str, ...]
    state: State
    url: str
    metadata: Json
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class NewImage:
    id: str
    labels: tuple[str, ...]
    state: State
    url: str = ""
    metadata: Json = field(default_factory=dict)


@dataclass(frozen=True)
class LabelCount:
    label: str
    labeled: int
    suggested: int


def state_of(labels: tuple[str, ...], suggested: bool = False) -> State:
    """The state an image with these labels gets: POOL without labels."""
    if not labels:
        return State.POOL
    return State.SUGGESTED if suggested else State.LABELED
