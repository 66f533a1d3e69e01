"""Resource names and ids of the catalog.

Ids are 1-63 lower-case letters, digits or `-`, given by the caller or generated. Generated ids
start with the creation time in milliseconds (hex), so they sort in creation order.

    type_id = parse_name(request.name, TYPES, "name")      # "similarityTypes/shoes" -> "shoes"
    task_id, number = parse_version_name(request.version, "version")
"""

from __future__ import annotations

import hashlib
import re

from simmesh.kit import names, reasons
from simmesh.kit.errors import InvalidArgument

ID_RE = re.compile(r"^[a-z0-9-]{1,63}$")
VERSION_RE = re.compile(r"^tasks/([^/]+)/versions/([1-9][0-9]{0,17})$")

TYPES = "similarityTypes"
TASKS = "tasks"
GROUPS = "groups"
IMAGES = "trainingImages"

# The registry model id a task's versions live under: `task-{task}`, shortened with a hash
# where that would pass the registry's 63 characters.
_MODEL_PREFIX = "task-"
_MAX_ID = 63


def check_id(value: str, field: str) -> str:
    """`value` if it is a valid id, else InvalidArgument naming `field`."""
    return names.check_id(value, ID_RE, field, reason=reasons.INVALID_ID, rule="1-63 lower-case letters, digits or '-'")


def parse_name(value: str, collection: str, field: str) -> str:
    """The id in `collection/{id}`; InvalidArgument (reason INVALID_NAME) for anything else."""
    return names.parse_name(
        value,
        collection,
        ID_RE,
        field,
        shape=f"{collection}/{{id}} with an id of 1-63 lower-case letters, digits or '-'",
    )


def parse_names(values: list[str] | tuple[str, ...], collection: str, field: str) -> list[str]:
    """Ids of every name, in order and without repeats."""
    ids = [parse_name(value, collection, f"{field}[{i}]") for i, value in enumerate(values)]
    return list(dict.fromkeys(ids))


def version_name(task_id: str, number: int) -> str:
    return f"{TASKS}/{task_id}/versions/{number}"


def parse_version_name(value: str, field: str) -> tuple[str, int]:
    """(task id, version number) of `tasks/{task}/versions/{n}`, n counted from 1."""
    match = VERSION_RE.match(value)
    if match is None or not ID_RE.match(match.group(1)):
        raise InvalidArgument(
            f"{field} must be tasks/{{task}}/versions/{{n}} with n >= 1, got {value!r}",
            reason=reasons.INVALID_NAME,
            field=field,
        )
    return match.group(1), int(match.group(2))


def task_model_id(task_id: str) -> str:
    """The registry model id of a task: `task-{task}` (at most 63 characters)."""
    model_id = _MODEL_PREFIX + task_id
    if len(model_id) <= _MAX_ID:
        return model_id
    digest = hashlib.sha256(task_id.encode()).hexdigest()[:8]
    return f"{model_id[: _MAX_ID - len(digest) - 1]}-{digest}"
