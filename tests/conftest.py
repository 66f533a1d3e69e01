"""Shared test set-up. Fixtures that start real infrastructure live in tests/fixtures/."""

pytest_plugins = [
    "fixtures.infra",
    "fixtures.triton",
    "fixtures.data",
    "fixtures.indexer",
    "fixtures.labeler",
    "fixtures.sdk_servers",
    "fixtures.catalog",
    "fixtures.shard_store",
    "fixtures.embedder",
    "fixtures.reembed",
    "fixtures.chaos",
]
