"""A shard node asked for a slice it has not opened yet (just restarted, or its data unreadable
while the object store is away) answers with a reason a client's retry can mend."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from simmesh.indexer.layout import Layout
from simmesh.indexer.shard_node import ShardNode
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.discovery import EtcdClient
from simmesh.kit.errors import NotFound, Unavailable
from simmesh_client.retries import retryable


def _unreadable() -> BlobStore:
    raise ConnectionError("the object store is away")


def _node(tmp_path: Path) -> ShardNode:
    """A node not started: it has not listed the collections nor opened any slice."""
    return ShardNode(0, "127.0.0.1:1", tmp_path, _unreadable, cast(EtcdClient, None), Layout())


def test_a_slice_not_open_yet_is_unavailable_for_a_retryable_reason(tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as raised:
        _node(tmp_path).store("items", 0)
    assert raised.value.reason == "SHARD_UNAVAILABLE"
    assert retryable(raised.value.code, raised.value.reason)


def test_a_shard_of_another_ordinal_is_not_here(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as raised:
        _node(tmp_path).store("items", 1)
    assert raised.value.reason == "SHARD_NOT_HERE"
