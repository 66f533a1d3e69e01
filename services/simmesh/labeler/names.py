"""Resource names and ids of the labeler.

    project_id = parse_project(request.name, "name")               # "projects/birds" -> "birds"
    project_id, image_id = parse_image_name(request.image.name, "image.name")

Project ids are 1-59 lower-case letters, digits or `-`, starting with a letter or digit, so the
project's indexer collection `lbl-{project}` is a valid collection id. Image ids are the
caller's (1-256 characters, no `/` and no control characters) or generated.

Projects belong to a tenant: parsing a request's name gives the caller's internal project id
(`acme.birds` for tenant `acme`, see kit.auth.tenancy), which the store keeps; the project's
collection is internal too (`acme.lbl-birds`, what the router keeps for tenant `acme`'s
`lbl-birds`). Replies name projects by their public ids (`project_name`, `image_name`).
"""

from __future__ import annotations

import re

from simmesh.kit import reasons
from simmesh.kit.auth.tenancy import owner, public, scoped, unscoped
from simmesh.kit.errors import InvalidArgument
from simmesh.kit.names import check_id, name, new_id, parse_name

PROJECTS = "projects"
IMAGES = "images"
COLLECTION_PREFIX = "lbl-"

PROJECT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,58}$")
IMAGE_ID_RE = re.compile(r"^[^/\x00-\x1f\x7f]{1,256}$")
LABEL_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


_PROJECT_RULE = "1-59 lower-case letters, digits or '-', starting with a letter or digit"


def check_project_id(value: str, field: str) -> str:
    """`value` if it is a valid project id (of an internal id: the id after the tenant)."""
    check_id(unscoped(value), PROJECT_ID_RE, field, reason=reasons.INVALID_PROJECT_ID, rule=_PROJECT_RULE)
    return value


def given_project_id(value: str, field: str) -> str:
    """The internal id of a project the caller creates: `value` when given (InvalidArgument naming
    `field` when it is not a valid project id), else a generated id."""
    if value:
        check_id(value, PROJECT_ID_RE, field, reason=reasons.INVALID_PROJECT_ID, rule=_PROJECT_RULE)
    return scoped(value or new_id())


def check_image_id(value: str, field: str) -> str:
    rule = "1-256 characters without '/', control characters or surrounding spaces"
    return check_id(value, IMAGE_ID_RE, field, reason=reasons.INVALID_IMAGE_ID, rule=rule, trimmed=True)


def check_labels(values: list[str] | tuple[str, ...], field: str) -> tuple[str, ...]:
    """The labels in order without repeats; InvalidArgument for an empty or malformed one."""
    rule = "1-128 characters without control characters or surrounding spaces"
    for i, label in enumerate(values):
        check_id(label, LABEL_RE, f"{field}[{i}]", reason=reasons.INVALID_LABEL, rule=rule, trimmed=True)
    return tuple(dict.fromkeys(values))


def project_name(project_id: str) -> str:
    """`projects/{project}` as the caller calls the project (`project_id` internal)."""
    return name(PROJECTS, public(project_id))


def image_name(project_id: str, image_id: str) -> str:
    return f"{PROJECTS}/{public(project_id)}/{IMAGES}/{image_id}"


def collection_id(project_id: str) -> str:
    """The internal id of the project's collection: `lbl-{project}` of the project's tenant."""
    return scoped(COLLECTION_PREFIX + unscoped(project_id), owner(project_id))


def parse_project(value: str, field: str) -> str:
    """The internal id of `projects/{project}`."""
    return scoped(parse_name(value, PROJECTS, PROJECT_ID_RE, field, shape="`projects/{project}`"))


def parse_image_name(value: str, field: str) -> tuple[str, str]:
    """(internal project id, image id) of `projects/{project}/images/{image}`."""
    parts = value.split("/", 3)
    if (
        len(parts) != 4
        or parts[0] != PROJECTS
        or parts[2] != IMAGES
        or not PROJECT_ID_RE.match(parts[1])
        or not IMAGE_ID_RE.match(parts[3])
    ):
        raise InvalidArgument(
            f"{field} must be `projects/{{project}}/images/{{image}}`, got {value!r}",
            reason=reasons.INVALID_NAME,
            field=field,
        )
    return scoped(parts[1]), parts[3]
