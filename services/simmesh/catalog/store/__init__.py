"""The catalog's metadata: one store over SQLAlchemy Core, SQLite or PostgreSQL, one module per kind of record.

    store = open_catalog_store("sqlite:////var/lib/simmesh/catalog.sqlite")   # or postgresql://...
    shoes = store.create_similarity_type("shoes", display_name="Same shoe")
    group = store.create_group("sneaker-42", "shoes", images=[image.id])
    graph = store.training_graph("my-task")                  # what the trainer reads
    store.add_task_version("my-task", TaskVersion(number=0, model_version="models/task-my-task/versions/3",
                                                   metrics={"recall@1": 0.91}))

Every public method is one transaction: it commits whole or raises and stores nothing. Writes on
SQLite take the write lock up front (`BEGIN IMMEDIATE`); on PostgreSQL they lock the rows a rule
depends on (`SELECT ... FOR UPDATE`), and reads run at REPEATABLE READ so a record built from
several queries is one snapshot.

Rules kept here:

- a group holds images or groups, never both (FailedPrecondition GROUP_KIND_MISMATCH);
- member groups have the parent's similarity type (FailedPrecondition GROUP_TYPE_MISMATCH), so
  a type's hierarchy is self-contained and group-of-group edges never cross types;
- no cycles, a group inside itself included (FailedPrecondition GROUP_CYCLE, naming the path);
- a task's types exist (NotFound SIMILARITY_TYPE_NOT_FOUND);
- deleting a type deletes its groups, their memberships and the tasks' links to it; deleting an
  image or a group removes its memberships; task versions refer to no group or image and stay.
- images are unique by SHA-256: adding known bytes returns the stored image.
"""

from __future__ import annotations

import os

from simmesh.catalog import schema
from simmesh.catalog.store.similarity_types import SimilarityTypeRecords
from simmesh.catalog.store.task_versions import TaskVersionRecords
from simmesh.catalog.store.training_images import TrainingImageRecords
from simmesh.kit import sql


class CatalogStore(SimilarityTypeRecords, TaskVersionRecords, TrainingImageRecords):
    """Similarity types, tasks, groups, training images and task versions. Thread-safe."""


def default_db_url(data_dir: str | os.PathLike[str]) -> str:
    """`sqlite:///DATA_DIR/catalog.sqlite` (absolute)."""
    return sql.default_db_url(data_dir, "catalog")


def open_catalog_store(url: str) -> CatalogStore:
    """A store over `url` (an SQLAlchemy URL), its tables created if missing."""
    return CatalogStore(sql.open_database(url, schema.metadata, "catalog", "the catalog"))
