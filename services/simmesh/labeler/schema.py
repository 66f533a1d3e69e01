"""The labeler's tables (SQLAlchemy Core; the same DDL on SQLite and PostgreSQL).

An image's labels are rows of `image_labels` (position keeps the caller's order), so images
are listed by label and labels counted by state with an index each. Deleting a project deletes
its images and their labels in the database.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKeyConstraint, Index, Integer, MetaData, String, Table, Text

from simmesh.kit.sql import described_columns, time_columns

metadata = MetaData()

_PROJECT = 63
_IMAGE = 256
_LABEL = 128


projects = Table(
    "projects",
    metadata,
    *described_columns(_PROJECT),
    Column("model", Text, nullable=False),
    Column("model_version", Text, nullable=False),
    Column("collection", String(_PROJECT), nullable=False),
    Column("default_k", Integer, nullable=False, default=0),
    Column("default_threshold", Float, nullable=True),
    Column("default_use_first", Boolean, nullable=False, default=False),
    *time_columns(),
)

images = Table(
    "images",
    metadata,
    Column("project_id", String(_PROJECT), primary_key=True),
    Column("id", String(_IMAGE), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("url", Text, nullable=False, default=""),
    Column("metadata", JSON, nullable=False),
    *time_columns(),
    ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
    Index("images_by_state", "project_id", "state", "id"),
)

image_labels = Table(
    "image_labels",
    metadata,
    Column("project_id", String(_PROJECT), primary_key=True),
    Column("image_id", String(_IMAGE), primary_key=True),
    Column("label", String(_LABEL), primary_key=True),
    Column("position", Integer, nullable=False),
    # The image's state, repeated so labels are counted by state without a join.
    Column("state", String(16), nullable=False),
    ForeignKeyConstraint(["project_id", "image_id"], ["images.project_id", "images.id"], ondelete="CASCADE"),
    Index("image_labels_by_label", "project_id", "label", "image_id"),
)
