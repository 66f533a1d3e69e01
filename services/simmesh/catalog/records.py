"""The catalog's records, as the store reads and writes them (plain values, no protos).

References between records are ids (`shoes`, not `similarityTypes/shoes`); JSON-shaped fields
(`metadata`, `training_config`, `metrics`) are plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from simmesh.kit.wire import Json


@dataclass(frozen=True)
class SimilarityType:
    id: str
    display_name: str
    description: str
    metadata: Json
    group_count: int
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class Task:
    id: str
    display_name: str
    description: str
    similarity_types: tuple[str, ...]
    training_config: Json
    production_version: int
    latest_version: int
    # The registry model holding the versions (`models/{model_id}`).
    model_id: str
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class Group:
    id: str
    similarity_type: str
    display_name: str
    metadata: Json
    test: bool
    images: tuple[str, ...]
    members: tuple[str, ...]
    parents: tuple[str, ...]
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class NewTrainingImage:
    """A decoded upload whose bytes are already in the blob store under `blob_key`."""

    sha256: str
    # Key of the bytes in the catalog's blob store, and its URI there.
    blob_key: str
    uri: str
    source_url: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    metadata: Json = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TrainingImage(NewTrainingImage):
    """A stored upload: its id, the groups it belongs to and when it was stored."""

    id: str
    groups: tuple[str, ...]
    create_time: datetime


@dataclass(frozen=True)
class TaskVersion:
    """One trained version of a task. `number` 0 in `CatalogStore.add_task_version` means the
    next free number; `create_time` is set by the store."""

    number: int
    # `models/{model}/versions/{v}` in the registry.
    model_version: str
    training_config: Json = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    training_image_count: int = 0
    training_group_count: int = 0
    test_group_count: int = 0
    training_seconds: float = 0.0
    task_id: str = ""
    create_time: datetime | None = None


@dataclass(frozen=True)
class GraphImage:
    id: str
    sha256: str
    blob_key: str
    uri: str
    width: int
    height: int


@dataclass(frozen=True)
class GraphGroup:
    id: str
    similarity_type: str
    images: tuple[str, ...]
    members: tuple[str, ...]
    parents: tuple[str, ...]


@dataclass(frozen=True)
class TrainingGraph:
    """What a task trains on, read in one consistent snapshot.

    `groups` are the training groups of the task's similarity types; `test_groups` the groups
    marked test or lying under a group marked test (a held-out family holds out its subgroups).
    `parents` and `members` name groups of either list. `images` holds every image any group
    names.
    """

    task: Task
    groups: tuple[GraphGroup, ...]
    test_groups: tuple[GraphGroup, ...]
    images: Mapping[str, GraphImage]
