"""How JSON records become `RecordInput`s for `IndexerClient.insert` and `simctl insert`."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from simmesh_client import RecordError, record_input
from simmesh_client.vectors import from_vector


def test_image_sources_vector_and_metadata(tmp_path):
    by_url = record_input({"_id": "a", "_url": "https://x/a.jpg", "color": "red", "size": {"w": 3}})
    assert by_url.id == "a" and by_url.image.url == "https://x/a.jpg" and not by_url.url
    assert set(by_url.metadata.keys()) == {"color", "size"}
    assert by_url.metadata["color"] == "red" and by_url.metadata["size"]["w"] == 3

    encoded = base64.b64encode(b"\x89PNG...").decode()
    assert record_input({"_base64": encoded}).image.base64 == encoded

    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "b.png").write_bytes(b"bytes of b")
    assert record_input({"_id": 7, "_file": "img/b.png"}, base_dir=tmp_path).image.content == b"bytes of b"
    assert record_input({"_id": 7, "_file": "img/b.png"}, base_dir=tmp_path).id == "7"

    with_vector = record_input({"_id": "v", "_vector": [1, 2.5, -3], "_url": "https://x/v.jpg", "n": 1})
    assert not with_vector.HasField("image") and with_vector.url == "https://x/v.jpg"
    np.testing.assert_array_equal(from_vector(with_vector.vector), np.array([1, 2.5, -3], dtype=np.float32))
    assert set(with_vector.metadata.keys()) == {"n"}


@pytest.mark.parametrize(
    ("record", "reason", "message"),
    [
        ({"_url": "https://x/a.jpg", "_file": "a.jpg"}, "INVALID_RECORD", "one image source, not `_url` and `_file`"),
        ({"_vector": [1, 2], "_base64": "AAAA"}, "INVALID_RECORD", "`_vector` or an image, not both"),
        ({"_vector": [1, "2"]}, "INVALID_VECTOR", "list of numbers"),
        ({"_vector": [1, float("nan")]}, "INVALID_VECTOR", "finite"),
        ({"_vector": []}, "INVALID_VECTOR", "at least one dimension"),
        ({"_id": ["a"]}, "INVALID_RECORD", "`_id` must be a string"),
        ({"_base64": "not base64!"}, "INVALID_RECORD", "not valid base64"),
        ({"_file": "/nonexistent/x.jpg"}, "FILE_UNREADABLE", "No such file"),
        (["not", "an", "object"], "INVALID_RECORD", "JSON object"),
    ],
)
def test_records_refused_before_sending(record, reason, message):
    with pytest.raises(RecordError, match=message) as raised:
        record_input(record)
    assert raised.value.reason == reason
