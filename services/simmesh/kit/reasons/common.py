"""Reasons raised across services: the generic codes, the object store, batches, names, peers."""

from grpc import StatusCode

from simmesh.kit.reasons.reason import Reason

ABORTED = Reason("ABORTED", StatusCode.ABORTED, "a concurrent change aborted the call; retry it", retriable=True)
ALREADY_EXISTS = Reason("ALREADY_EXISTS", StatusCode.ALREADY_EXISTS, "the resource already exists")
API_KEYS_OFF = Reason(
    "API_KEYS_OFF", StatusCode.FAILED_PRECONDITION, "this mesh runs without API keys; start it with api_keys set"
)
API_KEY_EXPIRED = Reason("API_KEY_EXPIRED", StatusCode.UNAUTHENTICATED, "API key … expired at …")
API_KEY_REVOKED = Reason("API_KEY_REVOKED", StatusCode.UNAUTHENTICATED, "API key … was revoked")
API_KEY_UNKNOWN = Reason("API_KEY_UNKNOWN", StatusCode.UNAUTHENTICATED, "the API key is not known to the mesh")
BACKUP_EXISTS = Reason("BACKUP_EXISTS", StatusCode.ALREADY_EXISTS, "backup `databaseBackups/…` already exists")
BACKUP_NOT_FOUND = Reason("BACKUP_NOT_FOUND", StatusCode.NOT_FOUND, "backup `databaseBackups/…` does not exist")
BACKUP_UNUSABLE = Reason(
    "BACKUP_UNUSABLE",
    StatusCode.FAILED_PRECONDITION,
    "backup `databaseBackups/…` is not a whole SQLite database with the tables of this service's",
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
CONCURRENT_CHANGE = Reason(
    "CONCURRENT_CHANGE", StatusCode.ABORTED, "… changed concurrently; retry the call", retriable=True
)
DEADLINE_EXCEEDED = Reason(
    "DEADLINE_EXCEEDED", StatusCode.DEADLINE_EXCEEDED, "the call's deadline passed", retriable=True
)
DATABASE_NOT_SQLITE = Reason(
    "DATABASE_NOT_SQLITE",
    StatusCode.FAILED_PRECONDITION,
    "the … database is PostgreSQL: back it up and restore it with PostgreSQL's own tools (pg_dump, pg_restore)",
)
DUPLICATE_ID = Reason("DUPLICATE_ID", StatusCode.INVALID_ARGUMENT, "records[…].id … repeats records[…].id")
EMBEDDER_UNAVAILABLE = Reason(
    "EMBEDDER_UNAVAILABLE", StatusCode.UNAVAILABLE, "the embedder at … did not answer: …", retriable=True
)
EMPTY_TEXT = Reason("EMPTY_TEXT", StatusCode.INVALID_ARGUMENT, "texts[…] is empty")
ETCD_UNAVAILABLE = Reason("ETCD_UNAVAILABLE", StatusCode.UNAVAILABLE, "etcd unavailable during …: …", retriable=True)
FAILED_PRECONDITION = Reason(
    "FAILED_PRECONDITION", StatusCode.FAILED_PRECONDITION, "the system is not in a state the call needs"
)
FORWARDED_IDENTITY_INVALID = Reason(
    "FORWARDED_IDENTITY_INVALID", StatusCode.UNAUTHENTICATED, "the forwarded identity header is malformed"
)
IMAGE_NOT_FOUND = Reason("IMAGE_NOT_FOUND", StatusCode.NOT_FOUND, "…: … does not exist")
IMAGE_UNDECODABLE = Reason("IMAGE_UNDECODABLE", StatusCode.INVALID_ARGUMENT, "… is a …, not image bytes or a PIL image")
INDEXER_UNAVAILABLE = Reason(
    "INDEXER_UNAVAILABLE", StatusCode.UNAVAILABLE, "the indexer at … did not answer: …", retriable=True
)
INTERNAL = Reason("INTERNAL", StatusCode.INTERNAL, "internal error; see the server log")
INTERNAL_CREDENTIAL_REQUIRED = Reason(
    "INTERNAL_CREDENTIAL_REQUIRED", StatusCode.PERMISSION_DENIED, "… is internal to the mesh; API keys may not call it"
)
INVALID_ARGUMENT = Reason("INVALID_ARGUMENT", StatusCode.INVALID_ARGUMENT, "the request is malformed")
INVALID_BACKUP = Reason(
    "INVALID_BACKUP", StatusCode.INVALID_ARGUMENT, "backup must be `databaseBackups/{backup}`, got …"
)
INVALID_BLOB_KEY = Reason("INVALID_BLOB_KEY", StatusCode.INVALID_ARGUMENT, "blob key must be a non-empty string")
INVALID_BLOB_STORE_URL = Reason("INVALID_BLOB_STORE_URL", StatusCode.INVALID_ARGUMENT, "invalid blob store URL …: …")
INVALID_DIMENSION = Reason(
    "INVALID_DIMENSION", StatusCode.INVALID_ARGUMENT, "collection.dimension must be 1..… (or bind a model), got …"
)
INVALID_ETCD_ENDPOINT = Reason(
    "INVALID_ETCD_ENDPOINT", StatusCode.INVALID_ARGUMENT, "invalid etcd endpoint …: expected host:port"
)
INVALID_FILTER = Reason(
    "INVALID_FILTER", StatusCode.INVALID_ARGUMENT, "…; the filter supports done=true|false and kind=KIND"
)
INVALID_K = Reason("INVALID_K", StatusCode.INVALID_ARGUMENT, "k must be 1..…, got …")
INVALID_MODEL_NAME = Reason(
    "INVALID_MODEL_NAME", StatusCode.INVALID_ARGUMENT, "name must be `models/{model}/versions/{n}`"
)
INVALID_NAME = Reason(
    "INVALID_NAME", StatusCode.INVALID_ARGUMENT, "… must be collections/{collection}/records/{id}, got …"
)
INVALID_PAGE_SIZE = Reason("INVALID_PAGE_SIZE", StatusCode.INVALID_ARGUMENT, "page_size must not be negative, got …")
INVALID_PAGE_TOKEN = Reason("INVALID_PAGE_TOKEN", StatusCode.INVALID_ARGUMENT, "page_token is malformed")
INVALID_ROLE = Reason("INVALID_ROLE", StatusCode.INVALID_ARGUMENT, "role must be reader, writer or admin, got …")
INVALID_TENANT = Reason(
    "INVALID_TENANT", StatusCode.INVALID_ARGUMENT, "tenant must be 1..63 of a-z, 0-9 and -, starting with a letter"
)
INVALID_TIMEOUT = Reason("INVALID_TIMEOUT", StatusCode.INVALID_ARGUMENT, "timeout must not be negative")
INVALID_TTL = Reason("INVALID_TTL", StatusCode.INVALID_ARGUMENT, "lease ttl must be at least 1 second")
INVALID_UPDATE_MASK = Reason(
    "INVALID_UPDATE_MASK", StatusCode.INVALID_ARGUMENT, "update_mask path … is not updatable; updatable: …"
)
KEY_NOT_FOUND = Reason("KEY_NOT_FOUND", StatusCode.NOT_FOUND, "key `keys/…` does not exist")
LABELER_DB_UNAVAILABLE = Reason(
    "LABELER_DB_UNAVAILABLE", StatusCode.UNAVAILABLE, "the labeler database is unavailable: …", retriable=True
)
MISSING_MODEL = Reason("MISSING_MODEL", StatusCode.INVALID_ARGUMENT, "project.model is required")
MISSING_NAME = Reason("MISSING_NAME", StatusCode.INVALID_ARGUMENT, "name is required")
MODEL_HAS_NO_VERSION = Reason("MODEL_HAS_NO_VERSION", StatusCode.FAILED_PRECONDITION, "model `…` has no version yet")
MODEL_NOT_FOUND = Reason("MODEL_NOT_FOUND", StatusCode.NOT_FOUND, "model `models/…` does not exist")
NEED_MORE_SAMPLES = Reason(
    "NEED_MORE_SAMPLES",
    StatusCode.FAILED_PRECONDITION,
    "no training group has two images, so there is no pair of similar images to learn from",
)
NOT_FOUND = Reason("NOT_FOUND", StatusCode.NOT_FOUND, "the named resource does not exist")
NOT_IMPLEMENTED = Reason("NOT_IMPLEMENTED", StatusCode.UNIMPLEMENTED, "the method is not implemented")
NO_AUTH_RULE = Reason(
    "NO_AUTH_RULE", StatusCode.PERMISSION_DENIED, "… has no authorisation rule, so nobody may call it"
)
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
PERMISSION_DENIED = Reason("PERMISSION_DENIED", StatusCode.PERMISSION_DENIED, "the caller may not do this")
QUOTA_EXCEEDED = Reason(
    "QUOTA_EXCEEDED", StatusCode.RESOURCE_EXHAUSTED, "key … used its daily quota of … requests; it renews at 00:00 UTC"
)
RATE_LIMITED = Reason(
    "RATE_LIMITED",
    StatusCode.RESOURCE_EXHAUSTED,
    "key … is over its rate limit of … requests/s (burst …)",
    retriable=True,
)
RECORD_NOT_FOUND = Reason("RECORD_NOT_FOUND", StatusCode.NOT_FOUND, "… does not exist")
RESOURCE_EXHAUSTED = Reason("RESOURCE_EXHAUSTED", StatusCode.RESOURCE_EXHAUSTED, "a size or quota limit was reached")
ROLE_TOO_LOW = Reason("ROLE_TOO_LOW", StatusCode.PERMISSION_DENIED, "… needs the writer role; key … has reader")
SERVER_BUSY = Reason(
    "SERVER_BUSY", StatusCode.UNAVAILABLE, "the server is handling its limit of … calls; retry shortly", retriable=True
)
SESSION_CLOSED = Reason("SESSION_CLOSED", StatusCode.FAILED_PRECONDITION, "the etcd session is closed")
SESSION_LOST = Reason("SESSION_LOST", StatusCode.FAILED_PRECONDITION, "the etcd lease … is lost")
SHARD_NOT_REGISTERED = Reason(
    "SHARD_NOT_REGISTERED", StatusCode.UNAVAILABLE, "the node has no etcd session", retriable=True
)
SHUTTING_DOWN = Reason(
    "SHUTTING_DOWN",
    StatusCode.UNAVAILABLE,
    "the server is shutting down; start the operation again later",
    retriable=True,
)
TASK_NOT_TRAINED = Reason(
    "TASK_NOT_TRAINED",
    StatusCode.FAILED_PRECONDITION,
    "…/… has no trained version yet; train it first (TrainTask) or name a version",
)
WHOLE_DATABASE = Reason(
    "WHOLE_DATABASE",
    StatusCode.PERMISSION_DENIED,
    "database backups hold every tenant's data: only keys of the default tenant may make, list or restore them",
)
TENANT_MISMATCH = Reason(
    "TENANT_MISMATCH", StatusCode.PERMISSION_DENIED, "key … of tenant … may manage the keys of its own tenant only"
)
TOKEN_INVALID = Reason("TOKEN_INVALID", StatusCode.UNAUTHENTICATED, "the bearer token is not valid")
TOKEN_MISSING = Reason("TOKEN_MISSING", StatusCode.UNAUTHENTICATED, "missing `authorization: Bearer <token>` metadata")
UNAUTHENTICATED = Reason("UNAUTHENTICATED", StatusCode.UNAUTHENTICATED, "the call carries no valid credentials")
UNAVAILABLE = Reason(
    "UNAVAILABLE", StatusCode.UNAVAILABLE, "a service the call needs is unavailable; retry it", retriable=True
)
UNKNOWN = Reason("UNKNOWN", StatusCode.UNKNOWN, "an error without a known cause")
