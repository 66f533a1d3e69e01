"""The catalog's tables (SQLAlchemy Core; the same DDL on SQLite and PostgreSQL).

Deletes cascade in the database: a similarity type takes its groups and their memberships
with it, a group its memberships, an image its memberships, a task its versions and type
links. Task versions hold no reference to groups or images, so they outlive both.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from simmesh.kit.sql import described_columns, time_columns

metadata = MetaData()

_ID = 63


def _link(name: str, left: str, left_table: str, right: str, right_table: str) -> Table:
    """A many-to-many table: two references that cascade and together form the key, indexed by the
    second (`{name}_by_{right without _id}`)."""
    return Table(
        name,
        metadata,
        Column(left, String(_ID), ForeignKey(f"{left_table}.id", ondelete="CASCADE"), primary_key=True),
        Column(right, String(_ID), ForeignKey(f"{right_table}.id", ondelete="CASCADE"), primary_key=True),
        Index(f"{name}_by_{right.removesuffix('_id')}", right),
    )


similarity_types = Table(
    "similarity_types", metadata, *described_columns(_ID), Column("metadata", JSON, nullable=False), *time_columns()
)

tasks = Table(
    "tasks",
    metadata,
    *described_columns(_ID),
    Column("training_config", JSON, nullable=False),
    Column("model_id", String(_ID), nullable=False, unique=True),
    Column("production_version", BigInteger, nullable=False, default=0),
    Column("latest_version", BigInteger, nullable=False, default=0),
    *time_columns(),
)

task_types = _link("task_similarity_types", "task_id", "tasks", "type_id", "similarity_types")

groups = Table(
    "similarity_groups",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("type_id", String(_ID), ForeignKey("similarity_types.id", ondelete="CASCADE"), nullable=False),
    Column("display_name", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=False),
    Column("test", Boolean, nullable=False, default=False),
    *time_columns(),
    Index("similarity_groups_by_type", "type_id", "id"),
)

training_images = Table(
    "training_images",
    metadata,
    Column("id", String(_ID), primary_key=True),
    # Each tenant stores the same bytes once (see TrainingImageRecords.add_training_image).
    Column("sha256", String(128), nullable=False, unique=True),  # scoped by tenant
    Column("blob_key", Text, nullable=False),
    Column("uri", Text, nullable=False),
    Column("source_url", Text, nullable=False, default=""),
    Column("content_type", String(100), nullable=False, default=""),
    Column("size_bytes", BigInteger, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
)

group_images = _link("group_images", "group_id", "similarity_groups", "image_id", "training_images")

group_members = _link("group_members", "parent_id", "similarity_groups", "member_id", "similarity_groups")

task_versions = Table(
    "task_versions",
    metadata,
    Column("task_id", String(_ID), ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("model_version", Text, nullable=False, default=""),
    Column("training_config", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("training_image_count", BigInteger, nullable=False, default=0),
    Column("training_group_count", BigInteger, nullable=False, default=0),
    Column("test_group_count", BigInteger, nullable=False, default=0),
    Column("training_seconds", Float, nullable=False, default=0.0),
    Column("create_time", DateTime(timezone=True), nullable=False),
)
