"""The reason catalogue: every `ErrorInfo.reason` simmesh raises, declared once.

Each reason names its canonical gRPC code (a few have a second, listed after the first) and
whether a retry of the same call can help. Raise sites use these names, never literals:

    raise NotFound(f"collection `collections/{cid}` does not exist", reason=reasons.COLLECTION_NOT_FOUND)

A `Reason` is a `str`, so `error.reason == "COLLECTION_NOT_FOUND"` holds where clients compare
strings. `docs/reasons.md` lists them for client authors (`tools/reasons_doc.py` writes it).
"""

from __future__ import annotations

from grpc import StatusCode


class Reason(str):
    """A declared reason: its name (the string clients see), its gRPC code(s), whether a retry can help."""

    codes: tuple[StatusCode, ...]
    retriable: bool
    example: str

    def __new__(
        cls, name: str, codes: StatusCode | tuple[StatusCode, ...], example: str = "", *, retriable: bool = False
    ) -> Reason:
        reason = super().__new__(cls, name)
        reason.codes = codes if isinstance(codes, tuple) else (codes,)
        reason.retriable = retriable
        reason.example = example
        return reason

    @property
    def code(self) -> StatusCode:
        """The reason's canonical code (the first declared)."""
        return self.codes[0]


def declared() -> dict[str, Reason]:
    """Every declared reason by name."""
    return {name: value for name, value in globals().items() if isinstance(value, Reason)}


ABORTED = Reason("ABORTED", StatusCode.ABORTED, "a concurrent change aborted the call; retry it", retriable=True)
ALREADY_EXISTS = Reason("ALREADY_EXISTS", StatusCode.ALREADY_EXISTS, "the resource already exists")
ALREADY_TRAINING = Reason(
    "ALREADY_TRAINING", StatusCode.FAILED_PRECONDITION, "collection `collections/…` is already training"
)
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
BATCH_TOO_LARGE = Reason(
    "BATCH_TOO_LARGE", StatusCode.INVALID_ARGUMENT, "a call describes at most … images and records, got …"
)
BLOB_BUCKET_NOT_FOUND = Reason("BLOB_BUCKET_NOT_FOUND", StatusCode.FAILED_PRECONDITION, "bucket … does not exist")
BLOB_KEY_CONFLICT = Reason(
    "BLOB_KEY_CONFLICT",
    StatusCode.FAILED_PRECONDITION,
    "blob key … clashes with an existing key used as a folder (or the reverse)",
)
BLOB_NOT_FOUND = Reason("BLOB_NOT_FOUND", StatusCode.NOT_FOUND, "blob … not found")
BLOB_STORE_ACCESS_DENIED = Reason(
    "BLOB_STORE_ACCESS_DENIED",
    (StatusCode.UNAUTHENTICATED, StatusCode.PERMISSION_DENIED),
    "the S3 server refused the credentials (…)",
)
BLOB_STORE_ERROR = Reason(
    "BLOB_STORE_ERROR", StatusCode.INTERNAL, "the S3 server described … without size, ETag or Last-Modified"
)
BLOB_STORE_UNAVAILABLE = Reason(
    "BLOB_STORE_UNAVAILABLE", StatusCode.UNAVAILABLE, "S3 server unreachable or failing: …", retriable=True
)
CANCELLED = Reason("CANCELLED", StatusCode.CANCELLED, "the call or job was cancelled")
CATALOG_DB_UNAVAILABLE = Reason(
    "CATALOG_DB_UNAVAILABLE", StatusCode.UNAVAILABLE, "the catalog database is unavailable: …", retriable=True
)
CATALOG_UNAVAILABLE = Reason(
    "CATALOG_UNAVAILABLE", StatusCode.UNAVAILABLE, "the catalog at … did not answer: …", retriable=True
)
COLLECTION_BUSY = Reason(
    "COLLECTION_BUSY", StatusCode.FAILED_PRECONDITION, "collection `collections/…` is busy (re-embedding or training)"
)
COLLECTION_EXISTS = Reason("COLLECTION_EXISTS", StatusCode.ALREADY_EXISTS, "collection `collections/…` already exists")
COLLECTION_NOT_FOUND = Reason("COLLECTION_NOT_FOUND", StatusCode.NOT_FOUND, "collection `collections/…` does not exist")
CONCURRENT_CHANGE = Reason(
    "CONCURRENT_CHANGE", StatusCode.ABORTED, "… changed concurrently; retry the call", retriable=True
)
DEADLINE_EXCEEDED = Reason(
    "DEADLINE_EXCEEDED", StatusCode.DEADLINE_EXCEEDED, "the call's deadline passed", retriable=True
)
DIMENSION_MISMATCH = Reason(
    "DIMENSION_MISMATCH",
    (StatusCode.INVALID_ARGUMENT, StatusCode.FAILED_PRECONDITION),
    "collection.dimension … differs from the model's …",
)
DUPLICATE_HEADER = Reason("DUPLICATE_HEADER", StatusCode.INVALID_ARGUMENT, "the header must be sent once, first")
DUPLICATE_ID = Reason("DUPLICATE_ID", StatusCode.INVALID_ARGUMENT, "records[…].id … repeats records[…].id")
DUPLICATE_ROW = Reason("DUPLICATE_ROW", StatusCode.INVALID_ARGUMENT, "rows repeat within one add")
EMBEDDER_UNAVAILABLE = Reason(
    "EMBEDDER_UNAVAILABLE", StatusCode.UNAVAILABLE, "the embedder at … did not answer: …", retriable=True
)
EMPTY_BATCH = Reason("EMPTY_BATCH", StatusCode.INVALID_ARGUMENT, "… must not be empty")
EMPTY_ITEM = Reason("EMPTY_ITEM", StatusCode.INVALID_ARGUMENT, "items[…] needs an image or an image_id")
EMPTY_QUERY = Reason(
    "EMPTY_QUERY", StatusCode.INVALID_ARGUMENT, "queries[…] needs a vector, a record_id, an image or a text"
)
EMPTY_TEXT = Reason("EMPTY_TEXT", StatusCode.INVALID_ARGUMENT, "texts[…] is empty")
ETCD_UNAVAILABLE = Reason("ETCD_UNAVAILABLE", StatusCode.UNAVAILABLE, "etcd unavailable during …: …", retriable=True)
EXCLUDE_COUNT_MISMATCH = Reason(
    "EXCLUDE_COUNT_MISMATCH", StatusCode.INVALID_ARGUMENT, "… exclusion lists for … queries"
)
FAILED_PRECONDITION = Reason(
    "FAILED_PRECONDITION", StatusCode.FAILED_PRECONDITION, "the system is not in a state the call needs"
)
GRID_TOO_LARGE = Reason("GRID_TOO_LARGE", StatusCode.INVALID_ARGUMENT, "a sweep holds at most … settings, got …")
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
IDS_LENGTH_MISMATCH = Reason("IDS_LENGTH_MISMATCH", StatusCode.INVALID_ARGUMENT, "ids has … entries for … images")
IMAGE_BASE64_INVALID = Reason("IMAGE_BASE64_INVALID", StatusCode.INVALID_ARGUMENT, "… is a data URL without ';base64,'")
IMAGES_AND_TEXTS = Reason("IMAGES_AND_TEXTS", StatusCode.INVALID_ARGUMENT, "a request embeds images or texts, not both")
IMAGE_EMPTY = Reason("IMAGE_EMPTY", StatusCode.INVALID_ARGUMENT, "… is empty (0 bytes)")
IMAGE_EXISTS = Reason("IMAGE_EXISTS", StatusCode.ALREADY_EXISTS, "image … already exists (set upsert to replace it)")
IMAGE_FETCH_FAILED = Reason(
    "IMAGE_FETCH_FAILED",
    (StatusCode.UNAVAILABLE, StatusCode.INVALID_ARGUMENT),
    "…: fetching … failed: …",
    retriable=True,
)
IMAGE_NOT_FOUND = Reason("IMAGE_NOT_FOUND", StatusCode.NOT_FOUND, "…: … does not exist")
IMAGE_NOT_SUGGESTED = Reason(
    "IMAGE_NOT_SUGGESTED",
    StatusCode.FAILED_PRECONDITION,
    "image … is …, not suggested; change its labels with UpdateImage",
)
IMAGE_TOO_LARGE = Reason(
    "IMAGE_TOO_LARGE", StatusCode.RESOURCE_EXHAUSTED, "…: download passed the limit of … bytes; stopped"
)
IMAGE_TOO_MANY_PIXELS = Reason("IMAGE_TOO_MANY_PIXELS", StatusCode.RESOURCE_EXHAUSTED, "…: …; the limit is … pixels")
IMAGE_UNDECODABLE = Reason("IMAGE_UNDECODABLE", StatusCode.INVALID_ARGUMENT, "… is a …, not image bytes or a PIL image")
IMAGE_URI_NOT_ALLOWED = Reason(
    "IMAGE_URI_NOT_ALLOWED", StatusCode.INVALID_ARGUMENT, "…: no object store is configured for uri sources"
)
IMAGE_URL_INVALID = Reason(
    "IMAGE_URL_INVALID", StatusCode.INVALID_ARGUMENT, "… must be an absolute URL such as https://host/path, got …"
)
IMAGE_URL_NOT_ALLOWED = Reason(
    "IMAGE_URL_NOT_ALLOWED", StatusCode.INVALID_ARGUMENT, "…: scheme … is not allowed (allowed: …)"
)
IMAGE_VECTOR_MISSING = Reason(
    "IMAGE_VECTOR_MISSING", StatusCode.FAILED_PRECONDITION, "image … has no vector in …; add it again with upsert"
)
INDEXER_UNAVAILABLE = Reason(
    "INDEXER_UNAVAILABLE", StatusCode.UNAVAILABLE, "the indexer at … did not answer: …", retriable=True
)
INFERENCE_FAILED = Reason("INFERENCE_FAILED", StatusCode.INTERNAL, "model … failed: …")
INTERNAL = Reason("INTERNAL", StatusCode.INTERNAL, "internal error; see the server log")
INVALID_ACTION = Reason(
    "INVALID_ACTION", StatusCode.INVALID_ARGUMENT, "reviews[…].action must be ACCEPT, CHANGE or REJECT"
)
INVALID_ARGUMENT = Reason("INVALID_ARGUMENT", StatusCode.INVALID_ARGUMENT, "the request is malformed")
INVALID_BLOB_KEY = Reason("INVALID_BLOB_KEY", StatusCode.INVALID_ARGUMENT, "blob key must be a non-empty string")
INVALID_BLOB_STORE_URL = Reason("INVALID_BLOB_STORE_URL", StatusCode.INVALID_ARGUMENT, "invalid blob store URL …: …")
INVALID_COLLECTION = Reason("INVALID_COLLECTION", StatusCode.INVALID_ARGUMENT, "collection has no name")
INVALID_COLLECTION_TYPE = Reason(
    "INVALID_COLLECTION_TYPE", StatusCode.INVALID_ARGUMENT, "collection.type … is not a known collection type"
)
INVALID_COLLECTION_ID = Reason(
    "INVALID_COLLECTION_ID",
    StatusCode.INVALID_ARGUMENT,
    "collection_id must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter; got …",
)
INVALID_COLLECTION_NAME = Reason("INVALID_COLLECTION_NAME", StatusCode.INTERNAL, "")
INVALID_COUNT = Reason("INVALID_COUNT", StatusCode.INVALID_ARGUMENT, "count must be 1..…, got …")
INVALID_DIMENSION = Reason(
    "INVALID_DIMENSION", StatusCode.INVALID_ARGUMENT, "collection.dimension must be 1..… (or bind a model), got …"
)
INVALID_DUPLICATE_SIMILARITY = Reason(
    "INVALID_DUPLICATE_SIMILARITY",
    StatusCode.INVALID_ARGUMENT,
    "duplicate_similarity must be within 0..1 (0 for …), got …",
)
INVALID_ETCD_ENDPOINT = Reason(
    "INVALID_ETCD_ENDPOINT", StatusCode.INVALID_ARGUMENT, "invalid etcd endpoint …: expected host:port"
)
INVALID_FIELD = Reason("INVALID_FIELD", StatusCode.INVALID_ARGUMENT, "indexed field … is not a field path")
INVALID_FILTER = Reason(
    "INVALID_FILTER", StatusCode.INVALID_ARGUMENT, "…; the filter supports done=true|false and kind=KIND"
)
INVALID_FORMAT = Reason(
    "INVALID_FORMAT", StatusCode.INVALID_ARGUMENT, "format must be EXPORT_FORMAT_CSV or EXPORT_FORMAT_JSON"
)
INVALID_GROUP_INDEX = Reason(
    "INVALID_GROUP_INDEX", StatusCode.INVALID_ARGUMENT, "image … names group …, but there are … groups (0..…)"
)
INVALID_GROUP_SIZE = Reason("INVALID_GROUP_SIZE", StatusCode.INVALID_ARGUMENT, "group_size must be 1..…")
INVALID_ID = Reason("INVALID_ID", StatusCode.INVALID_ARGUMENT, "… must be 1-63 lower-case letters, digits or '-'")
INVALID_IMAGE_ID = Reason(
    "INVALID_IMAGE_ID",
    StatusCode.INVALID_ARGUMENT,
    "… must be 1-256 characters without '/', control characters or surrounding spaces",
)
INVALID_IMAGE_KEEPING = Reason(
    "INVALID_IMAGE_KEEPING", StatusCode.INVALID_ARGUMENT, "collection.image_keeping … is not a known value"
)
INVALID_INDEXED_FIELD = Reason(
    "INVALID_INDEXED_FIELD", StatusCode.INVALID_ARGUMENT, "indexed field … is not a field path"
)
INVALID_INDEX_KIND = Reason("INVALID_INDEX_KIND", StatusCode.INVALID_ARGUMENT, "index kind is required")
INVALID_INDEX_SPEC = Reason("INVALID_INDEX_SPEC", StatusCode.INVALID_ARGUMENT, "nlist must be positive, got …")
INVALID_INPUT = Reason(
    "INVALID_INPUT", StatusCode.INVALID_ARGUMENT, "model …: input batch has shape …, expected [N, …]"
)
INVALID_K = Reason("INVALID_K", StatusCode.INVALID_ARGUMENT, "k must be 1..…, got …")
INVALID_LABEL = Reason(
    "INVALID_LABEL",
    StatusCode.INVALID_ARGUMENT,
    "…[…] … must be 1-128 characters without control characters or surrounding spaces",
)
INVALID_LIMIT = Reason("INVALID_LIMIT", StatusCode.INVALID_ARGUMENT, "limit must be positive, got …")
INVALID_MANIFEST = Reason(
    "INVALID_MANIFEST", StatusCode.INVALID_ARGUMENT, "model …: the manifest must name the input and the output tensor"
)
INVALID_METRIC = Reason("INVALID_METRIC", StatusCode.INVALID_ARGUMENT, "unsupported metric …")
INVALID_MODEL_ID = Reason(
    "INVALID_MODEL_ID",
    StatusCode.INVALID_ARGUMENT,
    "model id … must be 1-63 lower-case letters, digits or '-', starting with a letter",
)
INVALID_MODEL_NAME = Reason(
    "INVALID_MODEL_NAME", StatusCode.INVALID_ARGUMENT, "name must be `models/{model}/versions/{n}`"
)
INVALID_NAME = Reason(
    "INVALID_NAME", StatusCode.INVALID_ARGUMENT, "… must be collections/{collection}/records/{id}, got …"
)
INVALID_PAGE_SIZE = Reason("INVALID_PAGE_SIZE", StatusCode.INVALID_ARGUMENT, "page_size must not be negative, got …")
INVALID_PAGE_TOKEN = Reason("INVALID_PAGE_TOKEN", StatusCode.INVALID_ARGUMENT, "page_token is malformed")
INVALID_PROJECT_ID = Reason(
    "INVALID_PROJECT_ID",
    StatusCode.INVALID_ARGUMENT,
    "… must be 1-59 lower-case letters, digits or '-', starting with a letter or digit",
)
INVALID_RECORD_ID = Reason(
    "INVALID_RECORD_ID",
    StatusCode.INVALID_ARGUMENT,
    "records[…].id must be 1..256 bytes of UTF-8 without control characters or '/'",
)
INVALID_RECORD_NAME = Reason(
    "INVALID_RECORD_NAME", StatusCode.INVALID_ARGUMENT, "record.name must be `collections/{c}/records/{id}`, got …"
)
INVALID_RECORD_VIEW = Reason("INVALID_RECORD_VIEW", StatusCode.INVALID_ARGUMENT, "view … is not a known RecordView")
INVALID_REQUEST_ID = Reason(
    "INVALID_REQUEST_ID", StatusCode.INVALID_ARGUMENT, "request_id must be at most 128 printable ASCII characters"
)
INVALID_ROW = Reason("INVALID_ROW", StatusCode.INVALID_ARGUMENT, "rows must be non-negative")
INVALID_SEARCH_PARAMS = Reason(
    "INVALID_SEARCH_PARAMS", StatusCode.INVALID_ARGUMENT, "nprobe and ef_search must not be negative"
)
INVALID_SETTINGS = Reason(
    "INVALID_SETTINGS", StatusCode.INVALID_ARGUMENT, "runtime must be onnxruntime or triton, not …"
)
INVALID_SHARD_COUNT = Reason("INVALID_SHARD_COUNT", StatusCode.INVALID_ARGUMENT, "shard_count must be 1..…, got …")
INVALID_STATE = Reason("INVALID_STATE", StatusCode.INVALID_ARGUMENT, "state … is not an ImageState")
INVALID_TAG_WEIGHT = Reason("INVALID_TAG_WEIGHT", StatusCode.INVALID_ARGUMENT, "tag_weight must be within 0..1, got …")
INVALID_THRESHOLD = Reason("INVALID_THRESHOLD", StatusCode.INVALID_ARGUMENT, "….threshold must be within 0..100, got …")
INVALID_TIMEOUT = Reason("INVALID_TIMEOUT", StatusCode.INVALID_ARGUMENT, "timeout must not be negative")
INVALID_TRAINED_INDEX = Reason("INVALID_TRAINED_INDEX", StatusCode.INVALID_ARGUMENT, "unsupported FAISS index …")
INVALID_TRAINING_CONFIG = Reason("INVALID_TRAINING_CONFIG", StatusCode.INVALID_ARGUMENT, "")
INVALID_TTL = Reason("INVALID_TTL", StatusCode.INVALID_ARGUMENT, "lease ttl must be at least 1 second")
INVALID_UPDATE_MASK = Reason(
    "INVALID_UPDATE_MASK", StatusCode.INVALID_ARGUMENT, "update_mask path … is not updatable; updatable: …"
)
INVALID_VECTOR = Reason("INVALID_VECTOR", StatusCode.INVALID_ARGUMENT, "records[…].vector holds NaN or infinite values")
INVALID_VERSION = Reason("INVALID_VERSION", StatusCode.INVALID_ARGUMENT, "version number must be positive, got …")
LABELER_DB_UNAVAILABLE = Reason(
    "LABELER_DB_UNAVAILABLE", StatusCode.UNAVAILABLE, "the labeler database is unavailable: …", retriable=True
)
LABEL_NOT_FOUND = Reason("LABEL_NOT_FOUND", StatusCode.NOT_FOUND, "no image of projects/… carries the label …")
MANIFEST_MISMATCH = Reason(
    "MANIFEST_MISMATCH", StatusCode.INVALID_ARGUMENT, "manifest.input_name … is not an input of the graph (inputs: …)"
)
MERGED_MODEL_MISMATCH = Reason(
    "MERGED_MODEL_MISMATCH", StatusCode.INTERNAL, "the merged model differs from backbone + head by … (> …)"
)
MISSING_COLLECTION = Reason(
    "MISSING_COLLECTION", StatusCode.INVALID_ARGUMENT, "collection is required: `collections/{collection}`"
)
MISSING_HEADER = Reason("MISSING_HEADER", StatusCode.INVALID_ARGUMENT, "no header received")
MISSING_ID = Reason("MISSING_ID", StatusCode.INVALID_ARGUMENT, "record … has no id")
MISSING_LABELS = Reason(
    "MISSING_LABELS",
    StatusCode.INVALID_ARGUMENT,
    "reviews[…].labels must not be empty to change a suggestion (reject it instead)",
)
MISSING_MODEL = Reason("MISSING_MODEL", StatusCode.INVALID_ARGUMENT, "project.model is required")
MISSING_NAME = Reason("MISSING_NAME", StatusCode.INVALID_ARGUMENT, "name is required")
MODEL_HAS_NO_VERSION = Reason("MODEL_HAS_NO_VERSION", StatusCode.FAILED_PRECONDITION, "model `…` has no version yet")
MODEL_INVALID = Reason(
    "MODEL_INVALID",
    StatusCode.INVALID_ARGUMENT,
    "model …: the manifest names input … and output …; the graph has inputs … and outputs …",
)
MODEL_IR_UNSUPPORTED = Reason(
    "MODEL_IR_UNSUPPORTED",
    StatusCode.INVALID_ARGUMENT,
    "the ONNX file declares IR version …; the runtime loads IR <= … (re-save it with an older IR version)",
)
MODEL_NOT_FOUND = Reason("MODEL_NOT_FOUND", StatusCode.NOT_FOUND, "model `models/…` does not exist")
MODEL_NOT_LOADED = Reason("MODEL_NOT_LOADED", StatusCode.NOT_FOUND, "model … is not loaded")
MODEL_REQUIRED = Reason(
    "MODEL_REQUIRED", StatusCode.INVALID_ARGUMENT, "a COLLECTION_TYPE_CUSTOM collection needs collection.model"
)
MODEL_SIZE_MISMATCH = Reason(
    "MODEL_SIZE_MISMATCH", StatusCode.INVALID_ARGUMENT, "header.size_bytes says … bytes but … arrived"
)
MODEL_TOO_LARGE = Reason("MODEL_TOO_LARGE", StatusCode.RESOURCE_EXHAUSTED, "the ONNX file exceeds … bytes")
MODEL_TRIAL_FAILED = Reason("MODEL_TRIAL_FAILED", StatusCode.INVALID_ARGUMENT, "the trial run of the model failed: …")
MODEL_VERSION_CONFLICT = Reason(
    "MODEL_VERSION_CONFLICT",
    StatusCode.FAILED_PRECONDITION,
    "the registry gave …, but … is already recorded: models/… was changed outside the catalog",
)
MODEL_VERSION_IS_DEFAULT = Reason(
    "MODEL_VERSION_IS_DEFAULT",
    StatusCode.FAILED_PRECONDITION,
    "version … is the default of `models/…`; choose another default first",
)
MODEL_VERSION_NOT_FOUND = Reason(
    "MODEL_VERSION_NOT_FOUND", StatusCode.NOT_FOUND, "version `models/…/versions/…` does not exist"
)
NEED_MORE_GROUPS = Reason(
    "NEED_MORE_GROUPS",
    StatusCode.FAILED_PRECONDITION,
    "training needs images in at least two groups that are not test groups; the similarity types of …/… have …",
)
NEED_MORE_SAMPLES = Reason(
    "NEED_MORE_SAMPLES",
    StatusCode.FAILED_PRECONDITION,
    "no training group has two images, so there is no pair of similar images to learn from",
)
NOTHING_TO_DELETE = Reason("NOTHING_TO_DELETE", StatusCode.INVALID_ARGUMENT, "give ids or a filter")
NOT_ENOUGH_SHARD_NODES = Reason(
    "NOT_ENOUGH_SHARD_NODES",
    StatusCode.FAILED_PRECONDITION,
    "collection.shard_count is … but … shard nodes are registered",
)
NOT_FOUND = Reason("NOT_FOUND", StatusCode.NOT_FOUND, "the named resource does not exist")
NOT_IMPLEMENTED = Reason("NOT_IMPLEMENTED", StatusCode.UNIMPLEMENTED, "the method is not implemented")
NO_CANDIDATES = Reason("NO_CANDIDATES", StatusCode.INVALID_ARGUMENT, "candidates must hold at least one image")
NO_CATALOG = Reason(
    "NO_CATALOG", StatusCode.FAILED_PRECONDITION, "… names a task but no catalog is configured (SIMMESH_CATALOG_ADDR)"
)
NO_EMBEDDER = Reason("NO_EMBEDDER", StatusCode.FAILED_PRECONDITION, "no embedder is configured")
NO_EXAMPLES = Reason("NO_EXAMPLES", StatusCode.INVALID_ARGUMENT, "give examples, example_ids or a label")
NO_IMAGES = Reason("NO_IMAGES", StatusCode.INVALID_ARGUMENT, "images must not be empty")
NO_ITEMS = Reason("NO_ITEMS", StatusCode.INVALID_ARGUMENT, "give images or records to describe")
NO_MODEL = Reason("NO_MODEL", StatusCode.FAILED_PRECONDITION, "records[…] has an image but the collection has no model")
NO_PRODUCT_FIELD = Reason(
    "NO_PRODUCT_FIELD", StatusCode.FAILED_PRECONDITION, "grouping needs the collection's product_id_field"
)
NO_QUERIES = Reason("NO_QUERIES", StatusCode.INVALID_ARGUMENT, "queries must not be empty")
NO_RECORDS = Reason("NO_RECORDS", StatusCode.INVALID_ARGUMENT, "records must not be empty")
NO_SIMILARITY_TYPES = Reason(
    "NO_SIMILARITY_TYPES", StatusCode.FAILED_PRECONDITION, "…/… has no similarity types to train on; add some first"
)
NO_TEXT_TOWER = Reason(
    "NO_TEXT_TOWER",
    StatusCode.FAILED_PRECONDITION,
    "`models/…/versions/…` has no text tower: it embeds images only (import a dual encoder to query by text)",
)
NO_TAGS_FIELD = Reason(
    "NO_TAGS_FIELD", StatusCode.FAILED_PRECONDITION, "tag-weighted search needs the collection's tags_field"
)
NO_VECTOR_OR_IMAGE = Reason("NO_VECTOR_OR_IMAGE", StatusCode.INVALID_ARGUMENT, "records[…] needs a vector or an image")
OPERATION_CANCELLED = Reason("OPERATION_CANCELLED", StatusCode.CANCELLED, "operation … was cancelled")
OPERATION_INTERRUPTED = Reason(
    "OPERATION_INTERRUPTED",
    StatusCode.ABORTED,
    "operation … (…) was interrupted: the process running it stopped; start it again",
    retriable=True,
)
OPERATION_NOT_FOUND = Reason("OPERATION_NOT_FOUND", StatusCode.NOT_FOUND, "operation … not found")
OPERATION_RUNNING = Reason(
    "OPERATION_RUNNING",
    StatusCode.FAILED_PRECONDITION,
    "operation … is still running; cancel it or wait for it before deleting it",
)
OUT_OF_RANGE = Reason("OUT_OF_RANGE", StatusCode.OUT_OF_RANGE, "a value is past the valid range")
PARAMS_AND_SWEEP = Reason(
    "PARAMS_AND_SWEEP",
    StatusCode.INVALID_ARGUMENT,
    "give params for one setting or k_values/threshold_values for a sweep, not both",
)
PERMISSION_DENIED = Reason("PERMISSION_DENIED", StatusCode.PERMISSION_DENIED, "the caller may not do this")
PROJECT_EXISTS = Reason("PROJECT_EXISTS", StatusCode.ALREADY_EXISTS, "projects/… already exists")
PROJECT_NOT_FOUND = Reason("PROJECT_NOT_FOUND", StatusCode.NOT_FOUND, "… does not exist")
RECORD_EXISTS = Reason("RECORD_EXISTS", StatusCode.ALREADY_EXISTS, "record … already exists (set upsert to replace it)")
RECORD_HAS_NO_URL = Reason(
    "RECORD_HAS_NO_URL", StatusCode.FAILED_PRECONDITION, "… has no `_url` to embed its image from"
)
RECORD_NOT_FOUND = Reason("RECORD_NOT_FOUND", StatusCode.NOT_FOUND, "… does not exist")
RESERVED_FIELD = Reason(
    "RESERVED_FIELD", StatusCode.INVALID_ARGUMENT, "records[…].metadata field …: names starting with '_' are reserved"
)
RESOURCE_EXHAUSTED = Reason("RESOURCE_EXHAUSTED", StatusCode.RESOURCE_EXHAUSTED, "a size or quota limit was reached")
ROW_COUNT_MISMATCH = Reason("ROW_COUNT_MISMATCH", StatusCode.INVALID_ARGUMENT, "… rows for … vectors")
SESSION_CLOSED = Reason("SESSION_CLOSED", StatusCode.FAILED_PRECONDITION, "the etcd session is closed")
SESSION_LOST = Reason("SESSION_LOST", StatusCode.FAILED_PRECONDITION, "the etcd lease … is lost")
SHARDS_NOT_READY = Reason(
    "SHARDS_NOT_READY", StatusCode.UNAVAILABLE, "the shards of the new storage … did not come up", retriable=True
)
SHARD_DROPPED = Reason("SHARD_DROPPED", StatusCode.NOT_FOUND, "shard … of collection … was dropped")
SHARD_NOT_HERE = Reason("SHARD_NOT_HERE", StatusCode.NOT_FOUND, "this node serves shard …, not …")
SHARD_NOT_REGISTERED = Reason(
    "SHARD_NOT_REGISTERED", StatusCode.UNAVAILABLE, "the node has no etcd session", retriable=True
)
SHARD_UNAVAILABLE = Reason("SHARD_UNAVAILABLE", StatusCode.UNAVAILABLE, "shard … is unavailable", retriable=True)
SHUTTING_DOWN = Reason(
    "SHUTTING_DOWN",
    StatusCode.UNAVAILABLE,
    "the server is shutting down; start the operation again later",
    retriable=True,
)
SIMILARITY_TYPE_ALREADY_EXISTS = Reason(
    "SIMILARITY_TYPE_ALREADY_EXISTS", StatusCode.ALREADY_EXISTS, "…/… already exists"
)
SNAPSHOT_CORRUPT = Reason("SNAPSHOT_CORRUPT", StatusCode.INTERNAL, "snapshot holds … vectors for … records")
TASK_ALREADY_EXISTS = Reason("TASK_ALREADY_EXISTS", StatusCode.ALREADY_EXISTS, "…/… already exists")
TASK_NOT_TRAINED = Reason(
    "TASK_NOT_TRAINED",
    StatusCode.FAILED_PRECONDITION,
    "…/… has no trained version yet; train it first (TrainTask) or name a version",
)
TASK_VERSION_ALREADY_EXISTS = Reason("TASK_VERSION_ALREADY_EXISTS", StatusCode.ALREADY_EXISTS, "… already exists")
TEXT_TOWER_MISSING = Reason(
    "TEXT_TOWER_MISSING",
    StatusCode.INVALID_ARGUMENT,
    "a DUAL_ENCODER model needs manifest.text, a text graph and a tokenizer",
)
TOKEN_INVALID = Reason("TOKEN_INVALID", StatusCode.UNAUTHENTICATED, "the bearer token is not valid")
TOKEN_MISSING = Reason("TOKEN_MISSING", StatusCode.UNAUTHENTICATED, "missing `authorization: Bearer <token>` metadata")
TOKENIZER_INVALID = Reason(
    "TOKENIZER_INVALID", StatusCode.INVALID_ARGUMENT, "the tokenizer is not a Hugging Face tokenizers JSON file: …"
)
TOKENIZER_MISMATCH = Reason(
    "TOKENIZER_MISMATCH",
    StatusCode.INVALID_ARGUMENT,
    "the tokenizer's vocabulary has … tokens; the text graph's embedding table has … rows",
)
TOO_MANY_QUERIES = Reason("TOO_MANY_QUERIES", StatusCode.INVALID_ARGUMENT, "at most … queries per call, got …")
TRAINING_CANCELLED = Reason(
    "TRAINING_CANCELLED", StatusCode.CANCELLED, "training was cancelled while reading its images"
)
TRAINING_IN_PROGRESS = Reason(
    "TRAINING_IN_PROGRESS", StatusCode.FAILED_PRECONDITION, "the shard's index is already being built"
)
TRAINING_SET_MISMATCH = Reason(
    "TRAINING_SET_MISMATCH", StatusCode.INVALID_ARGUMENT, "training_set has … images but … group indices"
)
TRITON_UNAVAILABLE = Reason(
    "TRITON_UNAVAILABLE", StatusCode.UNAVAILABLE, "tritonserver unavailable while … model …: …", retriable=True
)
UNAUTHENTICATED = Reason("UNAUTHENTICATED", StatusCode.UNAUTHENTICATED, "the call carries no valid credentials")
UNAVAILABLE = Reason(
    "UNAVAILABLE", StatusCode.UNAVAILABLE, "a service the call needs is unavailable; retry it", retriable=True
)
UNEXPECTED_RESPONSE = Reason(
    "UNEXPECTED_RESPONSE", StatusCode.INTERNAL, "the indexer's operation … answered …, not a ReembedResponse"
)
UNKNOWN = Reason("UNKNOWN", StatusCode.UNKNOWN, "an error without a known cause")
UNRECOVERABLE_RECORDS = Reason(
    "UNRECOVERABLE_RECORDS",
    StatusCode.FAILED_PRECONDITION,
    "… records have neither a kept image nor a reachable URL (…); set allow_drop to re-embed without them",
)
VECTOR_COUNT_MISMATCH = Reason("VECTOR_COUNT_MISMATCH", StatusCode.INVALID_ARGUMENT, "… vectors for … records")
WAL_CLOSED = Reason("WAL_CLOSED", StatusCode.INTERNAL, "the write-ahead log is closed")
WAL_CORRUPT = Reason(
    "WAL_CORRUPT",
    StatusCode.INTERNAL,
    "write-ahead log … has a corrupt entry after byte … followed by entries of later batches",
)
WAL_GAP = Reason(
    "WAL_GAP",
    StatusCode.INTERNAL,
    "the write-ahead log starts at entry … but the snapshot ends at …: entries are missing",
)
