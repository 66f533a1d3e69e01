"""Reasons the catalog raises: similarity types, tasks, groups, training images, training, deployment."""

from grpc import StatusCode

from simmesh.kit.reasons.reason import Reason

BACKBONE_OPSET_UNSUPPORTED = Reason(
    "BACKBONE_OPSET_UNSUPPORTED",
    StatusCode.INVALID_ARGUMENT,
    "the backbone uses opset …; a head can be attached from opset …",
)
BACKBONE_REQUIRED = Reason(
    "BACKBONE_REQUIRED",
    StatusCode.INVALID_ARGUMENT,
    "an imported backbone needs training_config.backbone_model (`models/{model}` or `models/{model}/versions/{n}`)",
)
GROUP_ALREADY_EXISTS = Reason("GROUP_ALREADY_EXISTS", StatusCode.ALREADY_EXISTS, "…/… already exists")
GROUP_CYCLE = Reason(
    "GROUP_CYCLE",
    (StatusCode.FAILED_PRECONDITION, StatusCode.INVALID_ARGUMENT),
    "adding …/… to …/… would make a cycle: …",
)
GROUP_HOLDS_IMAGES_AND_GROUPS = Reason(
    "GROUP_HOLDS_IMAGES_AND_GROUPS",
    StatusCode.INVALID_ARGUMENT,
    "… holds images and is also the parent of …; a group holds images or groups, never both",
)
GROUP_KIND_MISMATCH = Reason(
    "GROUP_KIND_MISMATCH", StatusCode.FAILED_PRECONDITION, "…/… holds …; a group holds images or groups, never both"
)
GROUP_TYPE_MISMATCH = Reason(
    "GROUP_TYPE_MISMATCH",
    StatusCode.FAILED_PRECONDITION,
    "…/… is of …/…, not …/… like …/…; member groups must share their parent's similarity type",
)
INVALID_GROUP_INDEX = Reason(
    "INVALID_GROUP_INDEX", StatusCode.INVALID_ARGUMENT, "image … names group …, but there are … groups (0..…)"
)
INVALID_ID = Reason("INVALID_ID", StatusCode.INVALID_ARGUMENT, "… must be 1-63 lower-case letters, digits or '-'")
INVALID_TRAINING_CONFIG = Reason("INVALID_TRAINING_CONFIG", StatusCode.INVALID_ARGUMENT, "")
INVALID_VERSION = Reason("INVALID_VERSION", StatusCode.INVALID_ARGUMENT, "version number must be positive, got …")
MERGED_MODEL_MISMATCH = Reason(
    "MERGED_MODEL_MISMATCH", StatusCode.INTERNAL, "the merged model differs from backbone + head by … (> …)"
)
MISSING_COLLECTION = Reason(
    "MISSING_COLLECTION", StatusCode.INVALID_ARGUMENT, "collection is required: `collections/{collection}`"
)
MODEL_VERSION_CONFLICT = Reason(
    "MODEL_VERSION_CONFLICT",
    StatusCode.FAILED_PRECONDITION,
    "the registry gave …, but … is already recorded: models/… was changed outside the catalog",
)
NEED_MORE_GROUPS = Reason(
    "NEED_MORE_GROUPS",
    StatusCode.FAILED_PRECONDITION,
    "training needs images in at least two groups that are not test groups; the similarity types of …/… have …",
)
NO_ITEMS = Reason("NO_ITEMS", StatusCode.INVALID_ARGUMENT, "give images or records to describe")
NO_SIMILARITY_TYPES = Reason(
    "NO_SIMILARITY_TYPES", StatusCode.FAILED_PRECONDITION, "…/… has no similarity types to train on; add some first"
)
RECORD_HAS_NO_URL = Reason(
    "RECORD_HAS_NO_URL", StatusCode.FAILED_PRECONDITION, "… has no `_url` to embed its image from"
)
SIMILARITY_TYPE_ALREADY_EXISTS = Reason(
    "SIMILARITY_TYPE_ALREADY_EXISTS", StatusCode.ALREADY_EXISTS, "…/… already exists"
)
TASK_ALREADY_EXISTS = Reason("TASK_ALREADY_EXISTS", StatusCode.ALREADY_EXISTS, "…/… already exists")
TASK_VERSION_ALREADY_EXISTS = Reason("TASK_VERSION_ALREADY_EXISTS", StatusCode.ALREADY_EXISTS, "… already exists")
TRAINING_CANCELLED = Reason(
    "TRAINING_CANCELLED", StatusCode.CANCELLED, "training was cancelled while reading its images"
)
TRAINING_SET_MISMATCH = Reason(
    "TRAINING_SET_MISMATCH", StatusCode.INVALID_ARGUMENT, "training_set has … images but … group indices"
)
UNEXPECTED_RESPONSE = Reason(
    "UNEXPECTED_RESPONSE", StatusCode.INTERNAL, "the indexer's operation … answered …, not a ReembedResponse"
)
