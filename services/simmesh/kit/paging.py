"""Opaque page tokens for List methods (AIP-158).

A token is url-safe base64 of compact JSON holding the position to resume from and a
fingerprint of the request's filter parameters, so a token handed out for one filter is
refused for another instead of silently paging through the wrong result set.

    fp = fingerprint(request.filter, request.parent)
    position = decode_page_token(request.page_token, fp)      # None on the first page
    ...
    next_page_token = encode_page_token({"after": last_id}, fp) if more else ""
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

T = TypeVar("T")


def fingerprint(*parts: object) -> str:
    """A short stable digest of the request parameters a page token is bound to."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Message):
            encoded = part.SerializeToString(deterministic=True)
        elif isinstance(part, bytes):
            encoded = part
        else:
            encoded = json.dumps(part, sort_keys=True, separators=(",", ":"), default=str).encode()
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()[:16]


def encode_page_token(position: dict, request_fingerprint: str) -> str:
    """An opaque token carrying `position` (JSON-serialisable), bound to the fingerprint."""
    payload = json.dumps({"p": position, "f": request_fingerprint}, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(token: str, request_fingerprint: str) -> dict | None:
    """The position a token carries; None for an empty token (the first page).

    Raises InvalidArgument (reason INVALID_PAGE_TOKEN, field page_token) when the token is not
    one of ours or was issued for a request with other filter parameters.
    """
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise _invalid("page_token is malformed") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("p"), dict):
        raise _invalid("page_token is malformed")
    if payload.get("f") != request_fingerprint:
        raise _invalid("page_token was issued for a request with different parameters; start again without it")
    return payload["p"]


def decode_offset(token: str, request_fingerprint: str) -> int:
    """The offset an `offset_token` carries; 0 for an empty token (the first page)."""
    offset = (decode_page_token(token, request_fingerprint) or {}).get("offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise _invalid("page_token is malformed")
    return offset


def offset_token(offset: int, request_fingerprint: str) -> str:
    """A token for the page starting at item `offset` of a result computed whole."""
    return encode_page_token({"offset": offset}, request_fingerprint)


def clamp_page_size(page_size: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """The page size to use: `default` for 0, at most `maximum`; negative is an error."""
    if page_size < 0:
        raise InvalidArgument(
            f"page_size must not be negative, got {page_size}", reason=reasons.INVALID_PAGE_SIZE, field="page_size"
        )
    if page_size == 0:
        return default
    return min(page_size, maximum)


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reasons.INVALID_PAGE_TOKEN, field="page_token")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a List: its items and the token of the next page ("" after the last)."""

    items: list[T]
    next_page_token: str
