"""Resource names and ids of the catalog.

Ids are 1-63 lower-case letters, digits or `-`, given by the caller or generated. Generated ids
start with the creation time in milliseconds (hex), so they sort in creation order.

    type_id = parse_name(request.name, TYPES, "name")      # "similarityTypes/shoes" -> "shoes"
    task_id, number = parse_version_name(request.version, "version")

Parsing a request's name gives the caller's internal id (`acme.shoes` for tenant `acme`, see
kit.auth.tenancy), which is what the store keeps; `public` turns stored ids back into what the
caller calls them. A task's registry model id is internal too (`acme.task-shoes`): the catalog
calls the embedder for the caller with `public_model_name(...)` and stores what it answers with
`stored_model_name(...)`, so the same model is meant whichever identity the call carries.
"""

from __future__ import annotations

import hashlib
import re

from simmesh.kit import names, reasons
from simmesh.kit.auth.tenancy import owner, public, scoped, unscoped
from simmesh.kit.errors import InvalidArgument

ID_RE = re.compile(r"^[a-z0-9-]{1,63}$")
VERSION_RE = re.compile(r"^tasks/([^/]+)/versions/([1-9][0-9]{0,17})$")

TYPES = "similarityTypes"
TASKS = "tasks"
GROUPS = "groups"
IMAGES = "trainingImages"
MODELS = "models"

# The registry model id a task's versions live under: `task-{task}`, shortened with a hash
# where that would pass the registry's 63 characters.
_MODEL_PREFIX = "task-"
_MAX_ID = 63
_ID_RULE = "1-63 lower-case letters, digits or '-'"


def check_id(value: str, field: str) -> str:
    """`value` if it is a valid id (of an internal id: the id after the tenant), else InvalidArgument naming `field`."""
    names.check_id(unscoped(value), ID_RE, field, reason=reasons.INVALID_ID, rule=_ID_RULE)
    return value


def given_id(value: str, field: str) -> str:
    """The internal id of a resource the caller creates: `value` when given (InvalidArgument naming
    `field` when it is not a valid id), else a generated id."""
    if value:
        names.check_id(value, ID_RE, field, reason=reasons.INVALID_ID, rule=_ID_RULE)
    return scoped(value or names.new_id())


def parse_name(value: str, collection: str, field: str) -> str:
    """The internal id of `collection/{id}`; InvalidArgument (reason INVALID_NAME) for anything else."""
    return scoped(
        names.parse_name(
            value,
            collection,
            ID_RE,
            field,
            shape=f"{collection}/{{id}} with an id of 1-63 lower-case letters, digits or '-'",
        )
    )


def parse_names(values: list[str] | tuple[str, ...], collection: str, field: str) -> list[str]:
    """Ids of every name, in order and without repeats."""
    ids = [parse_name(value, collection, f"{field}[{i}]") for i, value in enumerate(values)]
    return list(dict.fromkeys(ids))


def public_name(collection: str, internal_id: str) -> str:
    """`collection/{id}` with the public id of `internal_id`."""
    return f"{collection}/{public(internal_id)}"


def version_name(task_id: str, number: int) -> str:
    return f"{TASKS}/{task_id}/versions/{number}"


def public_version_name(task_id: str, number: int) -> str:
    """`tasks/{task}/versions/{n}` as the caller calls it (`task_id` internal)."""
    return version_name(public(task_id), number)


def parse_version_name(value: str, field: str) -> tuple[str, int]:
    """(internal task id, version number) of `tasks/{task}/versions/{n}`, n counted from 1."""
    match = VERSION_RE.match(value)
    if match is None or not ID_RE.match(match.group(1)):
        raise InvalidArgument(
            f"{field} must be tasks/{{task}}/versions/{{n}} with n >= 1, got {value!r}",
            reason=reasons.INVALID_NAME,
            field=field,
        )
    return scoped(match.group(1)), int(match.group(2))


def task_model_id(task_id: str) -> str:
    """The internal registry model id of a task (internal id): `task-{task}` (at most 63
    characters) of the task's public id, scoped to the task's tenant: `acme.task-shoes`."""
    public_id = unscoped(task_id)
    model_id = _MODEL_PREFIX + public_id
    if len(model_id) > _MAX_ID:
        digest = hashlib.sha256(public_id.encode()).hexdigest()[:8]
        model_id = f"{model_id[: _MAX_ID - len(digest) - 1]}-{digest}"
    return scoped(model_id, owner(task_id))


def public_model_name(model_name: str) -> str:
    """`models/{model}[/versions/{n}]` with the model's internal id as the caller calls it (what
    replies show and what calls to the embedder for the caller pass)."""
    model_id, separator, rest = model_name.removeprefix(f"{MODELS}/").partition("/")
    return f"{MODELS}/{public(model_id)}{separator}{rest}" if model_name.startswith(f"{MODELS}/") else model_name


def stored_model_name(model_name: str, task_id: str) -> str:
    """What the catalog stores of a model name the embedder answered for the owner of `task_id`
    (an internal id): the model's internal id, whether the answer gave it public or internal."""
    model_id, separator, rest = model_name.removeprefix(f"{MODELS}/").partition("/")
    return f"{MODELS}/{scoped(unscoped(model_id), owner(task_id))}{separator}{rest}"
