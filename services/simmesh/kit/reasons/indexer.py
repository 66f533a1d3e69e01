"""Reasons the indexer (router and shards) raises: collections, records, search, index training."""

from grpc import StatusCode

from simmesh.kit.reasons.reason import Reason

ALREADY_TRAINING = Reason(
    "ALREADY_TRAINING", StatusCode.FAILED_PRECONDITION, "collection `collections/…` is already training"
)
COLLECTION_BUSY = Reason(
    "COLLECTION_BUSY", StatusCode.FAILED_PRECONDITION, "collection `collections/…` is busy (re-embedding or training)"
)
COLLECTION_EXISTS = Reason("COLLECTION_EXISTS", StatusCode.ALREADY_EXISTS, "collection `collections/…` already exists")
COLLECTION_NOT_FOUND = Reason("COLLECTION_NOT_FOUND", StatusCode.NOT_FOUND, "collection `collections/…` does not exist")
DIMENSION_MISMATCH = Reason(
    "DIMENSION_MISMATCH",
    (StatusCode.INVALID_ARGUMENT, StatusCode.FAILED_PRECONDITION),
    "collection.dimension … differs from the model's …",
)
DUPLICATE_ROW = Reason("DUPLICATE_ROW", StatusCode.INVALID_ARGUMENT, "rows repeat within one add")
EMPTY_QUERY = Reason(
    "EMPTY_QUERY", StatusCode.INVALID_ARGUMENT, "queries[…] needs a vector, a record_id, an image or a text"
)
EXCLUDE_COUNT_MISMATCH = Reason(
    "EXCLUDE_COUNT_MISMATCH", StatusCode.INVALID_ARGUMENT, "… exclusion lists for … queries"
)
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
INVALID_FIELD = Reason("INVALID_FIELD", StatusCode.INVALID_ARGUMENT, "indexed field … is not a field path")
INVALID_GROUP_SIZE = Reason("INVALID_GROUP_SIZE", StatusCode.INVALID_ARGUMENT, "group_size must be 1..…")
INVALID_IMAGE_KEEPING = Reason(
    "INVALID_IMAGE_KEEPING", StatusCode.INVALID_ARGUMENT, "collection.image_keeping … is not a known value"
)
INVALID_INDEXED_FIELD = Reason(
    "INVALID_INDEXED_FIELD", StatusCode.INVALID_ARGUMENT, "indexed field … is not a field path"
)
INVALID_INDEX_KIND = Reason("INVALID_INDEX_KIND", StatusCode.INVALID_ARGUMENT, "index kind is required")
INVALID_INDEX_SPEC = Reason("INVALID_INDEX_SPEC", StatusCode.INVALID_ARGUMENT, "nlist must be positive, got …")
INVALID_LIMIT = Reason("INVALID_LIMIT", StatusCode.INVALID_ARGUMENT, "limit must be positive, got …")
INVALID_METRIC = Reason("INVALID_METRIC", StatusCode.INVALID_ARGUMENT, "unsupported metric …")
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
INVALID_SNAPSHOT = Reason(
    "INVALID_SNAPSHOT", StatusCode.INVALID_ARGUMENT, "snapshot must be `snapshots/{snapshot}`, got …"
)
INVALID_SHARD_COUNT = Reason("INVALID_SHARD_COUNT", StatusCode.INVALID_ARGUMENT, "shard_count must be 1..…, got …")
INVALID_TAG_WEIGHT = Reason("INVALID_TAG_WEIGHT", StatusCode.INVALID_ARGUMENT, "tag_weight must be within 0..1, got …")
INVALID_TRAINED_INDEX = Reason("INVALID_TRAINED_INDEX", StatusCode.INVALID_ARGUMENT, "unsupported FAISS index …")
INVALID_VECTOR = Reason("INVALID_VECTOR", StatusCode.INVALID_ARGUMENT, "records[…].vector holds NaN or infinite values")
MISSING_ID = Reason("MISSING_ID", StatusCode.INVALID_ARGUMENT, "record … has no id")
MIXED_QUERIES = Reason("MIXED_QUERIES", StatusCode.INVALID_ARGUMENT, "give queries or query_vectors, not both")
MODEL_REQUIRED = Reason(
    "MODEL_REQUIRED", StatusCode.INVALID_ARGUMENT, "a COLLECTION_TYPE_CUSTOM collection needs collection.model"
)
NOTHING_TO_DELETE = Reason("NOTHING_TO_DELETE", StatusCode.INVALID_ARGUMENT, "give ids or a filter")
NOT_ENOUGH_SHARD_NODES = Reason(
    "NOT_ENOUGH_SHARD_NODES",
    StatusCode.FAILED_PRECONDITION,
    "collection.shard_count is … but … shard nodes are registered",
)
NO_EMBEDDER = Reason("NO_EMBEDDER", StatusCode.FAILED_PRECONDITION, "no embedder is configured")
NO_MODEL = Reason("NO_MODEL", StatusCode.FAILED_PRECONDITION, "records[…] has an image but the collection has no model")
NO_PRODUCT_FIELD = Reason(
    "NO_PRODUCT_FIELD", StatusCode.FAILED_PRECONDITION, "grouping needs the collection's product_id_field"
)
NO_QUERIES = Reason("NO_QUERIES", StatusCode.INVALID_ARGUMENT, "queries must not be empty")
NO_RECORDS = Reason("NO_RECORDS", StatusCode.INVALID_ARGUMENT, "records must not be empty")
NO_TAGS_FIELD = Reason(
    "NO_TAGS_FIELD", StatusCode.FAILED_PRECONDITION, "tag-weighted search needs the collection's tags_field"
)
NO_VECTOR_OR_IMAGE = Reason("NO_VECTOR_OR_IMAGE", StatusCode.INVALID_ARGUMENT, "records[…] needs a vector or an image")
PACKED_DETAILS = Reason(
    "PACKED_DETAILS",
    StatusCode.INVALID_ARGUMENT,
    "packed answers hold ids and scores only; … needs per-hit answers (packed = false)",
)
RECORD_EXISTS = Reason("RECORD_EXISTS", StatusCode.ALREADY_EXISTS, "record … already exists (set upsert to replace it)")
RESERVED_FIELD = Reason(
    "RESERVED_FIELD", StatusCode.INVALID_ARGUMENT, "records[…].metadata field …: names starting with '_' are reserved"
)
ROW_COUNT_MISMATCH = Reason("ROW_COUNT_MISMATCH", StatusCode.INVALID_ARGUMENT, "… rows for … vectors")
SHARDS_NOT_READY = Reason(
    "SHARDS_NOT_READY", StatusCode.UNAVAILABLE, "the shards of the new storage … did not come up", retriable=True
)
SHARD_DROPPED = Reason("SHARD_DROPPED", StatusCode.NOT_FOUND, "shard … of collection … was dropped")
SHARD_NOT_HERE = Reason("SHARD_NOT_HERE", StatusCode.NOT_FOUND, "this node serves shard …, not …")
SHARD_UNAVAILABLE = Reason("SHARD_UNAVAILABLE", StatusCode.UNAVAILABLE, "shard … is unavailable", retriable=True)
SNAPSHOT_CORRUPT = Reason("SNAPSHOT_CORRUPT", StatusCode.INTERNAL, "snapshot holds … vectors for … records")
SNAPSHOT_EXISTS = Reason("SNAPSHOT_EXISTS", StatusCode.ALREADY_EXISTS, "snapshot `snapshots/…` already exists")
SNAPSHOT_NOT_FOUND = Reason("SNAPSHOT_NOT_FOUND", StatusCode.NOT_FOUND, "snapshot `snapshots/…` does not exist")
SNAPSHOT_STORE_NOT_SHARED = Reason(
    "SNAPSHOT_STORE_NOT_SHARED",
    StatusCode.FAILED_PRECONDITION,
    "the router and the shards need the same object store (SIMMESH_BLOB_URL)",
)
TOO_MANY_QUERIES = Reason("TOO_MANY_QUERIES", StatusCode.INVALID_ARGUMENT, "at most … queries per call, got …")
TRAINING_IN_PROGRESS = Reason(
    "TRAINING_IN_PROGRESS", StatusCode.FAILED_PRECONDITION, "the shard's index is already being built"
)
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
