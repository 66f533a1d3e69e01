import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.longrunning import operations_pb2 as _operations_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from simmesh_proto.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Metric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRIC_UNSPECIFIED: _ClassVar[Metric]
    METRIC_COSINE: _ClassVar[Metric]
    METRIC_L2: _ClassVar[Metric]
    METRIC_INNER_PRODUCT: _ClassVar[Metric]

class IndexKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INDEX_KIND_UNSPECIFIED: _ClassVar[IndexKind]
    INDEX_KIND_EXACT: _ClassVar[IndexKind]
    INDEX_KIND_IVF_FLAT: _ClassVar[IndexKind]
    INDEX_KIND_IVF_SQ8: _ClassVar[IndexKind]
    INDEX_KIND_IVF_PQ: _ClassVar[IndexKind]
    INDEX_KIND_HNSW: _ClassVar[IndexKind]

class IndexState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INDEX_STATE_UNSPECIFIED: _ClassVar[IndexState]
    INDEX_STATE_EXACT: _ClassVar[IndexState]
    INDEX_STATE_TRAINING: _ClassVar[IndexState]
    INDEX_STATE_TRAINED: _ClassVar[IndexState]

class CollectionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLLECTION_TYPE_UNSPECIFIED: _ClassVar[CollectionType]
    COLLECTION_TYPE_GENERIC: _ClassVar[CollectionType]
    COLLECTION_TYPE_PRODUCT: _ClassVar[CollectionType]
    COLLECTION_TYPE_COLORS: _ClassVar[CollectionType]
    COLLECTION_TYPE_MATCHING: _ClassVar[CollectionType]
    COLLECTION_TYPE_CUSTOM: _ClassVar[CollectionType]

class ImageKeeping(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_KEEPING_UNSPECIFIED: _ClassVar[ImageKeeping]
    IMAGE_KEEPING_SENT: _ClassVar[ImageKeeping]
    IMAGE_KEEPING_ALL: _ClassVar[ImageKeeping]
    IMAGE_KEEPING_NONE: _ClassVar[ImageKeeping]

class RecordView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_VIEW_UNSPECIFIED: _ClassVar[RecordView]
    RECORD_VIEW_BASIC: _ClassVar[RecordView]
    RECORD_VIEW_IMAGE_URI: _ClassVar[RecordView]
    RECORD_VIEW_THUMBNAIL: _ClassVar[RecordView]
    RECORD_VIEW_IMAGE: _ClassVar[RecordView]
METRIC_UNSPECIFIED: Metric
METRIC_COSINE: Metric
METRIC_L2: Metric
METRIC_INNER_PRODUCT: Metric
INDEX_KIND_UNSPECIFIED: IndexKind
INDEX_KIND_EXACT: IndexKind
INDEX_KIND_IVF_FLAT: IndexKind
INDEX_KIND_IVF_SQ8: IndexKind
INDEX_KIND_IVF_PQ: IndexKind
INDEX_KIND_HNSW: IndexKind
INDEX_STATE_UNSPECIFIED: IndexState
INDEX_STATE_EXACT: IndexState
INDEX_STATE_TRAINING: IndexState
INDEX_STATE_TRAINED: IndexState
COLLECTION_TYPE_UNSPECIFIED: CollectionType
COLLECTION_TYPE_GENERIC: CollectionType
COLLECTION_TYPE_PRODUCT: CollectionType
COLLECTION_TYPE_COLORS: CollectionType
COLLECTION_TYPE_MATCHING: CollectionType
COLLECTION_TYPE_CUSTOM: CollectionType
IMAGE_KEEPING_UNSPECIFIED: ImageKeeping
IMAGE_KEEPING_SENT: ImageKeeping
IMAGE_KEEPING_ALL: ImageKeeping
IMAGE_KEEPING_NONE: ImageKeeping
RECORD_VIEW_UNSPECIFIED: RecordView
RECORD_VIEW_BASIC: RecordView
RECORD_VIEW_IMAGE_URI: RecordView
RECORD_VIEW_THUMBNAIL: RecordView
RECORD_VIEW_IMAGE: RecordView

class IndexSpec(_message.Message):
    __slots__ = ("kind", "nlist", "nprobe", "pq_m", "pq_nbits", "hnsw_m", "ef_construction", "ef_search", "min_train_vectors")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NLIST_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    PQ_M_FIELD_NUMBER: _ClassVar[int]
    PQ_NBITS_FIELD_NUMBER: _ClassVar[int]
    HNSW_M_FIELD_NUMBER: _ClassVar[int]
    EF_CONSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    MIN_TRAIN_VECTORS_FIELD_NUMBER: _ClassVar[int]
    kind: IndexKind
    nlist: int
    nprobe: int
    pq_m: int
    pq_nbits: int
    hnsw_m: int
    ef_construction: int
    ef_search: int
    min_train_vectors: int
    def __init__(self, kind: _Optional[_Union[IndexKind, str]] = ..., nlist: _Optional[int] = ..., nprobe: _Optional[int] = ..., pq_m: _Optional[int] = ..., pq_nbits: _Optional[int] = ..., hnsw_m: _Optional[int] = ..., ef_construction: _Optional[int] = ..., ef_search: _Optional[int] = ..., min_train_vectors: _Optional[int] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("name", "description", "dimension", "metric", "model", "shard_count", "product_id_field", "tags_field", "indexed_fields", "index", "index_state", "record_count", "create_time", "update_time", "type", "image_keeping")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SHARD_COUNT_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_FIELD_NUMBER: _ClassVar[int]
    INDEXED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    INDEX_STATE_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_KEEPING_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    dimension: int
    metric: Metric
    model: str
    shard_count: int
    product_id_field: str
    tags_field: str
    indexed_fields: _containers.RepeatedScalarFieldContainer[str]
    index: IndexSpec
    index_state: IndexState
    record_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    type: CollectionType
    image_keeping: ImageKeeping
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., dimension: _Optional[int] = ..., metric: _Optional[_Union[Metric, str]] = ..., model: _Optional[str] = ..., shard_count: _Optional[int] = ..., product_id_field: _Optional[str] = ..., tags_field: _Optional[str] = ..., indexed_fields: _Optional[_Iterable[str]] = ..., index: _Optional[_Union[IndexSpec, _Mapping]] = ..., index_state: _Optional[_Union[IndexState, str]] = ..., record_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., type: _Optional[_Union[CollectionType, str]] = ..., image_keeping: _Optional[_Union[ImageKeeping, str]] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("collection_id", "collection")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    collection: Collection
    def __init__(self, collection_id: _Optional[str] = ..., collection: _Optional[_Union[Collection, _Mapping]] = ...) -> None: ...

class GetCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ...) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections", "next_page_token")
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[Collection]
    next_page_token: str
    def __init__(self, collections: _Optional[_Iterable[_Union[Collection, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateCollectionRequest(_message.Message):
    __slots__ = ("collection", "update_mask")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    collection: Collection
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, collection: _Optional[_Union[Collection, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetCollectionStatsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ShardStats(_message.Message):
    __slots__ = ("name", "address", "available", "record_count", "index_kind", "index_state", "memory_bytes", "wal_entries", "last_snapshot_time", "memory")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    INDEX_KIND_FIELD_NUMBER: _ClassVar[int]
    INDEX_STATE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    WAL_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    LAST_SNAPSHOT_TIME_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    available: bool
    record_count: int
    index_kind: IndexKind
    index_state: IndexState
    memory_bytes: int
    wal_entries: int
    last_snapshot_time: _timestamp_pb2.Timestamp
    memory: MemoryUsage
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., available: _Optional[bool] = ..., record_count: _Optional[int] = ..., index_kind: _Optional[_Union[IndexKind, str]] = ..., index_state: _Optional[_Union[IndexState, str]] = ..., memory_bytes: _Optional[int] = ..., wal_entries: _Optional[int] = ..., last_snapshot_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., memory: _Optional[_Union[MemoryUsage, _Mapping]] = ...) -> None: ...

class MemoryUsage(_message.Message):
    __slots__ = ("codes_bytes", "ids_bytes", "metadata_bytes", "raw_vectors_bytes", "raw_vectors_on_disk_bytes", "bytes_per_vector")
    CODES_BYTES_FIELD_NUMBER: _ClassVar[int]
    IDS_BYTES_FIELD_NUMBER: _ClassVar[int]
    METADATA_BYTES_FIELD_NUMBER: _ClassVar[int]
    RAW_VECTORS_BYTES_FIELD_NUMBER: _ClassVar[int]
    RAW_VECTORS_ON_DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_VECTOR_FIELD_NUMBER: _ClassVar[int]
    codes_bytes: int
    ids_bytes: int
    metadata_bytes: int
    raw_vectors_bytes: int
    raw_vectors_on_disk_bytes: int
    bytes_per_vector: float
    def __init__(self, codes_bytes: _Optional[int] = ..., ids_bytes: _Optional[int] = ..., metadata_bytes: _Optional[int] = ..., raw_vectors_bytes: _Optional[int] = ..., raw_vectors_on_disk_bytes: _Optional[int] = ..., bytes_per_vector: _Optional[float] = ...) -> None: ...

class CollectionStats(_message.Message):
    __slots__ = ("name", "record_count", "memory_bytes", "index_state", "shards", "memory")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    INDEX_STATE_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    name: str
    record_count: int
    memory_bytes: int
    index_state: IndexState
    shards: _containers.RepeatedCompositeFieldContainer[ShardStats]
    memory: MemoryUsage
    def __init__(self, name: _Optional[str] = ..., record_count: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., index_state: _Optional[_Union[IndexState, str]] = ..., shards: _Optional[_Iterable[_Union[ShardStats, _Mapping]]] = ..., memory: _Optional[_Union[MemoryUsage, _Mapping]] = ...) -> None: ...

class RecordInput(_message.Message):
    __slots__ = ("id", "image", "vector", "metadata", "url")
    ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    image: _common_pb2.Image
    vector: _common_pb2.Vector
    metadata: _struct_pb2.Struct
    url: str
    def __init__(self, id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., vector: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., url: _Optional[str] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("name", "id", "url", "metadata", "vector", "create_time", "update_time", "image", "thumbnail", "image_uri", "thumbnail_uri")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URI_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_URI_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: str
    url: str
    metadata: _struct_pb2.Struct
    vector: _common_pb2.Vector
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    image: bytes
    thumbnail: bytes
    image_uri: str
    thumbnail_uri: str
    def __init__(self, name: _Optional[str] = ..., id: _Optional[str] = ..., url: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., vector: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., image: _Optional[bytes] = ..., thumbnail: _Optional[bytes] = ..., image_uri: _Optional[str] = ..., thumbnail_uri: _Optional[str] = ...) -> None: ...

class InsertRecordsRequest(_message.Message):
    __slots__ = ("collection", "records", "upsert", "request_id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    records: _containers.RepeatedCompositeFieldContainer[RecordInput]
    upsert: bool
    request_id: str
    def __init__(self, collection: _Optional[str] = ..., records: _Optional[_Iterable[_Union[RecordInput, _Mapping]]] = ..., upsert: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class InsertRecordsResponse(_message.Message):
    __slots__ = ("ids", "inserted_count", "updated_count", "errors")
    IDS_FIELD_NUMBER: _ClassVar[int]
    INSERTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    inserted_count: int
    updated_count: int
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., inserted_count: _Optional[int] = ..., updated_count: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ...) -> None: ...

class UpdateRecordRequest(_message.Message):
    __slots__ = ("record", "update_mask", "image")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    record: Record
    update_mask: _field_mask_pb2.FieldMask
    image: _common_pb2.Image
    def __init__(self, record: _Optional[_Union[Record, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ...) -> None: ...

class BatchGetRecordsRequest(_message.Message):
    __slots__ = ("collection", "ids", "include_vectors", "view")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    include_vectors: bool
    view: RecordView
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., include_vectors: _Optional[bool] = ..., view: _Optional[_Union[RecordView, str]] = ...) -> None: ...

class BatchGetRecordsResponse(_message.Message):
    __slots__ = ("records", "missing_ids")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    MISSING_IDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    missing_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., missing_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteRecordsRequest(_message.Message):
    __slots__ = ("collection", "ids", "filter")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    filter: _struct_pb2.Struct
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., filter: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DeleteRecordsResponse(_message.Message):
    __slots__ = ("deleted_count", "missing_ids")
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    MISSING_IDS_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    missing_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted_count: _Optional[int] = ..., missing_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListRecordsRequest(_message.Message):
    __slots__ = ("collection", "page_size", "page_token", "filter", "include_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    page_size: int
    page_token: str
    filter: _struct_pb2.Struct
    include_vectors: bool
    def __init__(self, collection: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., include_vectors: _Optional[bool] = ...) -> None: ...

class ListRecordsResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SampleRecordsRequest(_message.Message):
    __slots__ = ("collection", "count", "filter", "include_vectors", "seed")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    collection: str
    count: int
    filter: _struct_pb2.Struct
    include_vectors: bool
    seed: int
    def __init__(self, collection: _Optional[str] = ..., count: _Optional[int] = ..., filter: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., include_vectors: _Optional[bool] = ..., seed: _Optional[int] = ...) -> None: ...

class SampleRecordsResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ...) -> None: ...

class Query(_message.Message):
    __slots__ = ("vector", "record_id", "image", "text", "tags")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    vector: _common_pb2.Vector
    record_id: str
    image: _common_pb2.Image
    text: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, vector: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ..., record_id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., text: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection", "queries", "k", "filter", "group_by_product", "group_size", "tag_weight", "nprobe", "ef_search", "min_score", "allow_partial", "include_metadata", "include_vectors", "packed", "query_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_PRODUCT_FIELD_NUMBER: _ClassVar[int]
    GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    TAG_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    ALLOW_PARTIAL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_METADATA_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    QUERY_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    queries: _containers.RepeatedCompositeFieldContainer[Query]
    k: int
    filter: _struct_pb2.Struct
    group_by_product: bool
    group_size: int
    tag_weight: float
    nprobe: int
    ef_search: int
    min_score: float
    allow_partial: bool
    include_metadata: bool
    include_vectors: bool
    packed: bool
    query_vectors: _common_pb2.VectorBatch
    def __init__(self, collection: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[Query, _Mapping]]] = ..., k: _Optional[int] = ..., filter: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., group_by_product: _Optional[bool] = ..., group_size: _Optional[int] = ..., tag_weight: _Optional[float] = ..., nprobe: _Optional[int] = ..., ef_search: _Optional[int] = ..., min_score: _Optional[float] = ..., allow_partial: _Optional[bool] = ..., include_metadata: _Optional[bool] = ..., include_vectors: _Optional[bool] = ..., packed: _Optional[bool] = ..., query_vectors: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ...) -> None: ...

class PackedHits(_message.Message):
    __slots__ = ("k", "ids", "scores", "visual_scores")
    K_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    VISUAL_SCORES_FIELD_NUMBER: _ClassVar[int]
    k: int
    ids: str
    scores: bytes
    visual_scores: bytes
    def __init__(self, k: _Optional[int] = ..., ids: _Optional[str] = ..., scores: _Optional[bytes] = ..., visual_scores: _Optional[bytes] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("id", "score", "visual_score", "url", "metadata", "vector")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    VISUAL_SCORE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    score: float
    visual_score: float
    url: str
    metadata: _struct_pb2.Struct
    vector: _common_pb2.Vector
    def __init__(self, id: _Optional[str] = ..., score: _Optional[float] = ..., visual_score: _Optional[float] = ..., url: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., vector: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ...) -> None: ...

class HitGroup(_message.Message):
    __slots__ = ("product_id", "score", "hits")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    score: float
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    def __init__(self, product_id: _Optional[str] = ..., score: _Optional[float] = ..., hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ...) -> None: ...

class QueryResult(_message.Message):
    __slots__ = ("hits", "groups")
    HITS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    groups: _containers.RepeatedCompositeFieldContainer[HitGroup]
    def __init__(self, hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., groups: _Optional[_Iterable[_Union[HitGroup, _Mapping]]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results", "partial", "unavailable_shards", "packed")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_SHARDS_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[QueryResult]
    partial: bool
    unavailable_shards: _containers.RepeatedScalarFieldContainer[str]
    packed: PackedHits
    def __init__(self, results: _Optional[_Iterable[_Union[QueryResult, _Mapping]]] = ..., partial: _Optional[bool] = ..., unavailable_shards: _Optional[_Iterable[str]] = ..., packed: _Optional[_Union[PackedHits, _Mapping]] = ...) -> None: ...

class TrainIndexRequest(_message.Message):
    __slots__ = ("collection", "index")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    collection: str
    index: IndexSpec
    def __init__(self, collection: _Optional[str] = ..., index: _Optional[_Union[IndexSpec, _Mapping]] = ...) -> None: ...

class TrainIndexMetadata(_message.Message):
    __slots__ = ("collection", "stage", "progress", "vector_count", "kind")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_COUNT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    collection: str
    stage: str
    progress: float
    vector_count: int
    kind: IndexKind
    def __init__(self, collection: _Optional[str] = ..., stage: _Optional[str] = ..., progress: _Optional[float] = ..., vector_count: _Optional[int] = ..., kind: _Optional[_Union[IndexKind, str]] = ...) -> None: ...

class ReembedCollectionRequest(_message.Message):
    __slots__ = ("collection", "model", "allow_drop")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DROP_FIELD_NUMBER: _ClassVar[int]
    collection: str
    model: str
    allow_drop: bool
    def __init__(self, collection: _Optional[str] = ..., model: _Optional[str] = ..., allow_drop: _Optional[bool] = ...) -> None: ...

class ReembedMetadata(_message.Message):
    __slots__ = ("collection", "model", "stage", "progress", "done_count", "total_count", "failed_count")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    DONE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILED_COUNT_FIELD_NUMBER: _ClassVar[int]
    collection: str
    model: str
    stage: str
    progress: float
    done_count: int
    total_count: int
    failed_count: int
    def __init__(self, collection: _Optional[str] = ..., model: _Optional[str] = ..., stage: _Optional[str] = ..., progress: _Optional[float] = ..., done_count: _Optional[int] = ..., total_count: _Optional[int] = ..., failed_count: _Optional[int] = ...) -> None: ...

class ReembedResponse(_message.Message):
    __slots__ = ("collection", "model", "reembedded_count", "missing_image_count", "missing_image_ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REEMBEDDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    MISSING_IMAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    MISSING_IMAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    model: str
    reembedded_count: int
    missing_image_count: int
    missing_image_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection: _Optional[str] = ..., model: _Optional[str] = ..., reembedded_count: _Optional[int] = ..., missing_image_count: _Optional[int] = ..., missing_image_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("name", "collection", "create_time", "record_count", "uri", "shard_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SHARD_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    collection: str
    create_time: _timestamp_pb2.Timestamp
    record_count: int
    uri: str
    shard_count: int
    def __init__(self, name: _Optional[str] = ..., collection: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., record_count: _Optional[int] = ..., uri: _Optional[str] = ..., shard_count: _Optional[int] = ...) -> None: ...

class SnapshotCollectionRequest(_message.Message):
    __slots__ = ("collection", "snapshot_id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    snapshot_id: str
    def __init__(self, collection: _Optional[str] = ..., snapshot_id: _Optional[str] = ...) -> None: ...

class RestoreCollectionRequest(_message.Message):
    __slots__ = ("snapshot", "collection_id")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot: str
    collection_id: str
    def __init__(self, snapshot: _Optional[str] = ..., collection_id: _Optional[str] = ...) -> None: ...

class ListSnapshotsRequest(_message.Message):
    __slots__ = ("collection", "page_size", "page_token")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    collection: str
    page_size: int
    page_token: str
    def __init__(self, collection: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSnapshotsResponse(_message.Message):
    __slots__ = ("snapshots", "next_page_token")
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[Snapshot]
    next_page_token: str
    def __init__(self, snapshots: _Optional[_Iterable[_Union[Snapshot, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SnapshotOperationMetadata(_message.Message):
    __slots__ = ("collection", "snapshot", "stage", "progress")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    snapshot: str
    stage: str
    progress: float
    def __init__(self, collection: _Optional[str] = ..., snapshot: _Optional[str] = ..., stage: _Optional[str] = ..., progress: _Optional[float] = ...) -> None: ...
