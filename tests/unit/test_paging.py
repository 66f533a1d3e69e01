"""Page tokens: opaque, bound to the request's filter, refused when tampered with or reused."""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import struct_pb2

from simmesh.kit.errors import InvalidArgument
from simmesh.kit.paging import clamp_page_size, decode_page_token, encode_page_token, fingerprint


def test_token_round_trips_position_and_is_url_safe() -> None:
    fp = fingerprint("records", {"color": "red"})
    position = {"after": "collections/c/records/é+/?", "offset": 1000}
    token = encode_page_token(position, fp)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_page_token(token, fp) == position


def test_empty_token_is_the_first_page() -> None:
    assert decode_page_token("", fingerprint("x")) is None


def test_token_from_another_filter_is_refused() -> None:
    token = encode_page_token({"after": 7}, fingerprint("records", {"color": "red"}))
    with pytest.raises(InvalidArgument) as caught:
        decode_page_token(token, fingerprint("records", {"color": "blue"}))
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
    assert caught.value.violations[0][0] == "page_token"


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"p": 5, "f": "x"}).encode()).decode(),
        "A",
    ],
)
def test_malformed_token_is_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_page_token(token, "x")
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
    assert caught.value.to_status().code == 3


def test_fingerprint_is_stable_and_distinguishes_parts() -> None:
    first = struct_pb2.Struct()
    first.update({"a": 1, "b": "x"})
    same = struct_pb2.Struct()
    same.update({"b": "x", "a": 1})
    assert fingerprint("records", first) == fingerprint("records", same)
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint("ab", "c") != fingerprint("a", "bc")
    assert fingerprint("done", True) != fingerprint("done", False)
    assert fingerprint(None) != fingerprint("")


def test_clamp_page_size() -> None:
    assert clamp_page_size(0) == 50
    assert clamp_page_size(0, default=10) == 10
    assert clamp_page_size(7) == 7
    assert clamp_page_size(5000) == 1000
    assert clamp_page_size(5000, maximum=200) == 200
    with pytest.raises(InvalidArgument) as caught:
        clamp_page_size(-1)
    assert caught.value.violations[0][0] == "page_size"
