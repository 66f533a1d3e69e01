"""Resource names (`collection/{id}`, AIP-122) and generated ids, for every service.

project_id = parse_name(request.name, "projects", PROJECT_ID_RE, "name")
"projects/birds" -> "birds"; anything else -> InvalidArgument(reason INVALID_NAME, field "name")
"""

from __future__ import annotations

import re
import secrets
import time

from simmesh.kit.errors import InvalidArgument


def new_id() -> str:
    """A fresh id: 12 hex digits of milliseconds since the epoch, then 16 random hex digits,
    so generated ids sort in creation order."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def name(collection: str, resource_id: str) -> str:
    return f"{collection}/{resource_id}"


def parse_name(
    value: str, collection: str, id_re: re.Pattern[str], field: str, *, reason: str = "INVALID_NAME", shape: str = ""
) -> str:
    """The id in `{collection}/{id}` when the id matches `id_re`; else InvalidArgument naming
    `field`, whose message says what was expected (`shape`, by default `collection/{id}`)."""
    prefix, sep, resource_id = value.partition("/")
    if prefix != collection or not sep or not id_re.match(resource_id):
        expected = shape or f"`{collection}/{{id}}`"
        raise InvalidArgument(f"{field} must be {expected}, got {value!r}", reason=reason, field=field)
    return resource_id


def check_id(
    value: str, id_re: re.Pattern[str], field: str, *, reason: str, rule: str, subject: str = "", trimmed: bool = False
) -> str:
    """`value` when `id_re` matches it (and, if `trimmed`, it has no surrounding spaces); else
    InvalidArgument naming `field`: "{subject or field} {value!r} must be {rule}"."""
    if not id_re.match(value or "") or (trimmed and value.strip() != value):
        raise InvalidArgument(f"{subject or field} {value!r} must be {rule}", reason=reason, field=field)
    return value
