"""Reasons the labeler raises: projects, labels, suggestions, mining."""

from grpc import StatusCode

from simmesh.kit.reasons.reason import Reason

EMPTY_BATCH = Reason("EMPTY_BATCH", StatusCode.INVALID_ARGUMENT, "… must not be empty")
EMPTY_ITEM = Reason("EMPTY_ITEM", StatusCode.INVALID_ARGUMENT, "items[…] needs an image or an image_id")
GRID_TOO_LARGE = Reason("GRID_TOO_LARGE", StatusCode.INVALID_ARGUMENT, "a sweep holds at most … settings, got …")
IMAGE_EXISTS = Reason("IMAGE_EXISTS", StatusCode.ALREADY_EXISTS, "image … already exists (set upsert to replace it)")
IMAGE_NOT_SUGGESTED = Reason(
    "IMAGE_NOT_SUGGESTED",
    StatusCode.FAILED_PRECONDITION,
    "image … is …, not suggested; change its labels with UpdateImage",
)
IMAGE_VECTOR_MISSING = Reason(
    "IMAGE_VECTOR_MISSING", StatusCode.FAILED_PRECONDITION, "image … has no vector in …; add it again with upsert"
)
INVALID_ACTION = Reason(
    "INVALID_ACTION", StatusCode.INVALID_ARGUMENT, "reviews[…].action must be ACCEPT, CHANGE or REJECT"
)
INVALID_DUPLICATE_SIMILARITY = Reason(
    "INVALID_DUPLICATE_SIMILARITY",
    StatusCode.INVALID_ARGUMENT,
    "duplicate_similarity must be within 0..1 (0 for …), got …",
)
INVALID_FORMAT = Reason(
    "INVALID_FORMAT", StatusCode.INVALID_ARGUMENT, "format must be EXPORT_FORMAT_CSV or EXPORT_FORMAT_JSON"
)
INVALID_IMAGE_ID = Reason(
    "INVALID_IMAGE_ID",
    StatusCode.INVALID_ARGUMENT,
    "… must be 1-256 characters without '/', control characters or surrounding spaces",
)
INVALID_LABEL = Reason(
    "INVALID_LABEL",
    StatusCode.INVALID_ARGUMENT,
    "…[…] … must be 1-128 characters without control characters or surrounding spaces",
)
INVALID_PROJECT_ID = Reason(
    "INVALID_PROJECT_ID",
    StatusCode.INVALID_ARGUMENT,
    "… must be 1-59 lower-case letters, digits or '-', starting with a letter or digit",
)
INVALID_STATE = Reason("INVALID_STATE", StatusCode.INVALID_ARGUMENT, "state … is not an ImageState")
INVALID_THRESHOLD = Reason("INVALID_THRESHOLD", StatusCode.INVALID_ARGUMENT, "….threshold must be within 0..100, got …")
LABEL_NOT_FOUND = Reason("LABEL_NOT_FOUND", StatusCode.NOT_FOUND, "no image of projects/… carries the label …")
MISSING_LABELS = Reason(
    "MISSING_LABELS",
    StatusCode.INVALID_ARGUMENT,
    "reviews[…].labels must not be empty to change a suggestion (reject it instead)",
)
NO_CATALOG = Reason(
    "NO_CATALOG", StatusCode.FAILED_PRECONDITION, "… names a task but no catalog is configured (SIMMESH_CATALOG_ADDR)"
)
NO_EXAMPLES = Reason("NO_EXAMPLES", StatusCode.INVALID_ARGUMENT, "give examples, example_ids or a label")
PARAMS_AND_SWEEP = Reason(
    "PARAMS_AND_SWEEP",
    StatusCode.INVALID_ARGUMENT,
    "give params for one setting or k_values/threshold_values for a sweep, not both",
)
PROJECT_EXISTS = Reason("PROJECT_EXISTS", StatusCode.ALREADY_EXISTS, "projects/… already exists")
PROJECT_NOT_FOUND = Reason("PROJECT_NOT_FOUND", StatusCode.NOT_FOUND, "… does not exist")
