import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from simmesh_proto.v1 import indexer_pb2 as _indexer_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ShardInfo(_message.Message):
    __slots__ = ("collection", "shard", "address", "state", "record_count", "start_time", "pid")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[ShardInfo.State]
        STATE_STARTING: _ClassVar[ShardInfo.State]
        STATE_SERVING: _ClassVar[ShardInfo.State]
        STATE_STOPPING: _ClassVar[ShardInfo.State]
    STATE_UNSPECIFIED: ShardInfo.State
    STATE_STARTING: ShardInfo.State
    STATE_SERVING: ShardInfo.State
    STATE_STOPPING: ShardInfo.State
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    address: str
    state: ShardInfo.State
    record_count: int
    start_time: _timestamp_pb2.Timestamp
    pid: int
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., address: _Optional[str] = ..., state: _Optional[_Union[ShardInfo.State, str]] = ..., record_count: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pid: _Optional[int] = ...) -> None: ...

class CollectionConfig(_message.Message):
    __slots__ = ("collection", "generation", "storage", "next", "next_storage")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    NEXT_STORAGE_FIELD_NUMBER: _ClassVar[int]
    collection: _indexer_pb2.Collection
    generation: int
    storage: str
    next: _indexer_pb2.Collection
    next_storage: str
    def __init__(self, collection: _Optional[_Union[_indexer_pb2.Collection, _Mapping]] = ..., generation: _Optional[int] = ..., storage: _Optional[str] = ..., next: _Optional[_Union[_indexer_pb2.Collection, _Mapping]] = ..., next_storage: _Optional[str] = ...) -> None: ...

class ShardRecord(_message.Message):
    __slots__ = ("id", "url", "metadata", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    url: str
    metadata: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., url: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WriteRequest(_message.Message):
    __slots__ = ("collection", "shard", "records", "vectors", "dimension", "upsert", "write_time", "request_id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    WRITE_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    records: _containers.RepeatedCompositeFieldContainer[ShardRecord]
    vectors: bytes
    dimension: int
    upsert: bool
    write_time: _timestamp_pb2.Timestamp
    request_id: str
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., records: _Optional[_Iterable[_Union[ShardRecord, _Mapping]]] = ..., vectors: _Optional[bytes] = ..., dimension: _Optional[int] = ..., upsert: _Optional[bool] = ..., write_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ("inserted_count", "updated_count", "existing_ids")
    INSERTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXISTING_IDS_FIELD_NUMBER: _ClassVar[int]
    inserted_count: int
    updated_count: int
    existing_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, inserted_count: _Optional[int] = ..., updated_count: _Optional[int] = ..., existing_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class WriteStreamRequest(_message.Message):
    __slots__ = ("id", "write")
    ID_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    id: int
    write: WriteRequest
    def __init__(self, id: _Optional[int] = ..., write: _Optional[_Union[WriteRequest, _Mapping]] = ...) -> None: ...

class WriteStreamResponse(_message.Message):
    __slots__ = ("id", "result", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    result: WriteResponse
    error: _status_pb2.Status
    def __init__(self, id: _Optional[int] = ..., result: _Optional[_Union[WriteResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("collection", "shard", "ids", "include_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    ids: _containers.RepeatedScalarFieldContainer[str]
    include_vectors: bool
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., ids: _Optional[_Iterable[str]] = ..., include_vectors: _Optional[bool] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("records", "vectors", "dimension")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ShardRecord]
    vectors: bytes
    dimension: int
    def __init__(self, records: _Optional[_Iterable[_Union[ShardRecord, _Mapping]]] = ..., vectors: _Optional[bytes] = ..., dimension: _Optional[int] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("collection", "shard", "ids", "filter")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    ids: _containers.RepeatedScalarFieldContainer[str]
    filter: _struct_pb2.Struct
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., ids: _Optional[_Iterable[str]] = ..., filter: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted_count", "deleted_ids")
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DELETED_IDS_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    deleted_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted_count: _Optional[int] = ..., deleted_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("collection", "shard", "after_id", "limit", "filter", "include_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    after_id: str
    limit: int
    filter: _struct_pb2.Struct
    include_vectors: bool
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., after_id: _Optional[str] = ..., limit: _Optional[int] = ..., filter: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., include_vectors: _Optional[bool] = ...) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("records", "vectors", "dimension")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ShardRecord]
    vectors: bytes
    dimension: int
    def __init__(self, records: _Optional[_Iterable[_Union[ShardRecord, _Mapping]]] = ..., vectors: _Optional[bytes] = ..., dimension: _Optional[int] = ...) -> None: ...

class SampleRequest(_message.Message):
    __slots__ = ("collection", "shard", "count", "filter", "seed", "include_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    count: int
    filter: _struct_pb2.Struct
    seed: int
    include_vectors: bool
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., count: _Optional[int] = ..., filter: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., seed: _Optional[int] = ..., include_vectors: _Optional[bool] = ...) -> None: ...

class SampleResponse(_message.Message):
    __slots__ = ("records", "vectors", "dimension", "matching_count")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    MATCHING_COUNT_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ShardRecord]
    vectors: bytes
    dimension: int
    matching_count: int
    def __init__(self, records: _Optional[_Iterable[_Union[ShardRecord, _Mapping]]] = ..., vectors: _Optional[bytes] = ..., dimension: _Optional[int] = ..., matching_count: _Optional[int] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection", "shard", "queries", "query_count", "dimension", "k", "filter", "nprobe", "ef_search", "exclude", "include_metadata", "include_vectors", "fields", "coarse_lists", "coarse_distances", "coarse_digest", "packed")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    QUERY_COUNT_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_METADATA_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    COARSE_LISTS_FIELD_NUMBER: _ClassVar[int]
    COARSE_DISTANCES_FIELD_NUMBER: _ClassVar[int]
    COARSE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    queries: bytes
    query_count: int
    dimension: int
    k: int
    filter: _struct_pb2.Struct
    nprobe: int
    ef_search: int
    exclude: _containers.RepeatedCompositeFieldContainer[ExcludedIds]
    include_metadata: bool
    include_vectors: bool
    fields: _containers.RepeatedScalarFieldContainer[str]
    coarse_lists: bytes
    coarse_distances: bytes
    coarse_digest: str
    packed: bool
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., queries: _Optional[bytes] = ..., query_count: _Optional[int] = ..., dimension: _Optional[int] = ..., k: _Optional[int] = ..., filter: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., nprobe: _Optional[int] = ..., ef_search: _Optional[int] = ..., exclude: _Optional[_Iterable[_Union[ExcludedIds, _Mapping]]] = ..., include_metadata: _Optional[bool] = ..., include_vectors: _Optional[bool] = ..., fields: _Optional[_Iterable[str]] = ..., coarse_lists: _Optional[bytes] = ..., coarse_distances: _Optional[bytes] = ..., coarse_digest: _Optional[str] = ..., packed: _Optional[bool] = ...) -> None: ...

class ExcludedIds(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("ids", "scores", "k", "records", "vectors", "packed_ids")
    IDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    PACKED_IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    scores: bytes
    k: int
    records: _containers.RepeatedCompositeFieldContainer[ShardRecord]
    vectors: bytes
    packed_ids: str
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., scores: _Optional[bytes] = ..., k: _Optional[int] = ..., records: _Optional[_Iterable[_Union[ShardRecord, _Mapping]]] = ..., vectors: _Optional[bytes] = ..., packed_ids: _Optional[str] = ...) -> None: ...

class SearchStreamRequest(_message.Message):
    __slots__ = ("id", "search")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    id: int
    search: SearchRequest
    def __init__(self, id: _Optional[int] = ..., search: _Optional[_Union[SearchRequest, _Mapping]] = ...) -> None: ...

class SearchStreamResponse(_message.Message):
    __slots__ = ("id", "result", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    result: SearchResponse
    error: _status_pb2.Status
    def __init__(self, id: _Optional[int] = ..., result: _Optional[_Union[SearchResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class TrainRequest(_message.Message):
    __slots__ = ("collection", "shard", "index", "vectors", "count", "dimension", "trained_index")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    TRAINED_INDEX_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    index: _indexer_pb2.IndexSpec
    vectors: bytes
    count: int
    dimension: int
    trained_index: bytes
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., index: _Optional[_Union[_indexer_pb2.IndexSpec, _Mapping]] = ..., vectors: _Optional[bytes] = ..., count: _Optional[int] = ..., dimension: _Optional[int] = ..., trained_index: _Optional[bytes] = ...) -> None: ...

class TrainResponse(_message.Message):
    __slots__ = ("vector_count", "index_state")
    VECTOR_COUNT_FIELD_NUMBER: _ClassVar[int]
    INDEX_STATE_FIELD_NUMBER: _ClassVar[int]
    vector_count: int
    index_state: _indexer_pb2.IndexState
    def __init__(self, vector_count: _Optional[int] = ..., index_state: _Optional[_Union[_indexer_pb2.IndexState, str]] = ...) -> None: ...

class SampleVectorsRequest(_message.Message):
    __slots__ = ("collection", "shard", "count", "seed")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    count: int
    seed: int
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., count: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class SampleVectorsResponse(_message.Message):
    __slots__ = ("vectors", "count", "dimension", "total_count")
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    vectors: bytes
    count: int
    dimension: int
    total_count: int
    def __init__(self, vectors: _Optional[bytes] = ..., count: _Optional[int] = ..., dimension: _Optional[int] = ..., total_count: _Optional[int] = ...) -> None: ...

class GetTrainedIndexRequest(_message.Message):
    __slots__ = ("collection", "shard")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ...) -> None: ...

class GetTrainedIndexResponse(_message.Message):
    __slots__ = ("trained_index", "nprobe", "coarse_digest")
    TRAINED_INDEX_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    COARSE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    trained_index: bytes
    nprobe: int
    coarse_digest: str
    def __init__(self, trained_index: _Optional[bytes] = ..., nprobe: _Optional[int] = ..., coarse_digest: _Optional[str] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("collection", "shard")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: _indexer_pb2.ShardStats
    def __init__(self, stats: _Optional[_Union[_indexer_pb2.ShardStats, _Mapping]] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ("collection", "shard")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ...) -> None: ...

class SnapshotResponse(_message.Message):
    __slots__ = ("uri", "record_count")
    URI_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    uri: str
    record_count: int
    def __init__(self, uri: _Optional[str] = ..., record_count: _Optional[int] = ...) -> None: ...

class DropRequest(_message.Message):
    __slots__ = ("collection", "shard")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ...) -> None: ...

class DropResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
