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

class Backbone(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKBONE_UNSPECIFIED: _ClassVar[Backbone]
    BACKBONE_COMPACT_CNN: _ClassVar[Backbone]
    BACKBONE_IMPORTED: _ClassVar[Backbone]
    BACKBONE_GENERIC: _ClassVar[Backbone]
BACKBONE_UNSPECIFIED: Backbone
BACKBONE_COMPACT_CNN: Backbone
BACKBONE_IMPORTED: Backbone
BACKBONE_GENERIC: Backbone

class SimilarityType(_message.Message):
    __slots__ = ("name", "display_name", "description", "metadata", "group_count", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    GROUP_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    metadata: _struct_pb2.Struct
    group_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., group_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrainingConfig(_message.Message):
    __slots__ = ("backbone", "backbone_model", "embedding_dimension", "epochs", "batch_size", "learning_rate", "input_size", "parent_weight", "augment", "seed", "tune_last_block")
    BACKBONE_FIELD_NUMBER: _ClassVar[int]
    BACKBONE_MODEL_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_DIMENSION_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    PARENT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    AUGMENT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TUNE_LAST_BLOCK_FIELD_NUMBER: _ClassVar[int]
    backbone: Backbone
    backbone_model: str
    embedding_dimension: int
    epochs: int
    batch_size: int
    learning_rate: float
    input_size: int
    parent_weight: float
    augment: bool
    seed: int
    tune_last_block: bool
    def __init__(self, backbone: _Optional[_Union[Backbone, str]] = ..., backbone_model: _Optional[str] = ..., embedding_dimension: _Optional[int] = ..., epochs: _Optional[int] = ..., batch_size: _Optional[int] = ..., learning_rate: _Optional[float] = ..., input_size: _Optional[int] = ..., parent_weight: _Optional[float] = ..., augment: _Optional[bool] = ..., seed: _Optional[int] = ..., tune_last_block: _Optional[bool] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("name", "display_name", "description", "similarity_types", "training_config", "production_version", "latest_version", "model", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_TYPES_FIELD_NUMBER: _ClassVar[int]
    TRAINING_CONFIG_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    similarity_types: _containers.RepeatedScalarFieldContainer[str]
    training_config: TrainingConfig
    production_version: int
    latest_version: int
    model: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., similarity_types: _Optional[_Iterable[str]] = ..., training_config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., production_version: _Optional[int] = ..., latest_version: _Optional[int] = ..., model: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("name", "similarity_type", "display_name", "metadata", "test", "images", "members", "parents", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    similarity_type: str
    display_name: str
    metadata: _struct_pb2.Struct
    test: bool
    images: _containers.RepeatedScalarFieldContainer[str]
    members: _containers.RepeatedScalarFieldContainer[str]
    parents: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., similarity_type: _Optional[str] = ..., display_name: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., test: _Optional[bool] = ..., images: _Optional[_Iterable[str]] = ..., members: _Optional[_Iterable[str]] = ..., parents: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrainingImage(_message.Message):
    __slots__ = ("name", "sha256", "uri", "source_url", "content_type", "width", "height", "size_bytes", "metadata", "groups", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SOURCE_URL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    sha256: str
    uri: str
    source_url: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    metadata: _struct_pb2.Struct
    groups: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., sha256: _Optional[str] = ..., uri: _Optional[str] = ..., source_url: _Optional[str] = ..., content_type: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., size_bytes: _Optional[int] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., groups: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TaskVersion(_message.Message):
    __slots__ = ("name", "model_version", "training_config", "metrics", "training_image_count", "training_group_count", "test_group_count", "training_seconds", "create_time")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRAINING_CONFIG_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_IMAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRAINING_GROUP_COUNT_FIELD_NUMBER: _ClassVar[int]
    TEST_GROUP_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    model_version: str
    training_config: TrainingConfig
    metrics: _containers.ScalarMap[str, float]
    training_image_count: int
    training_group_count: int
    test_group_count: int
    training_seconds: float
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., model_version: _Optional[str] = ..., training_config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., training_image_count: _Optional[int] = ..., training_group_count: _Optional[int] = ..., test_group_count: _Optional[int] = ..., training_seconds: _Optional[float] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSimilarityTypeRequest(_message.Message):
    __slots__ = ("similarity_type_id", "similarity_type")
    SIMILARITY_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    similarity_type_id: str
    similarity_type: SimilarityType
    def __init__(self, similarity_type_id: _Optional[str] = ..., similarity_type: _Optional[_Union[SimilarityType, _Mapping]] = ...) -> None: ...

class GetSimilarityTypeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListSimilarityTypesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSimilarityTypesResponse(_message.Message):
    __slots__ = ("similarity_types", "next_page_token")
    SIMILARITY_TYPES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    similarity_types: _containers.RepeatedCompositeFieldContainer[SimilarityType]
    next_page_token: str
    def __init__(self, similarity_types: _Optional[_Iterable[_Union[SimilarityType, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateSimilarityTypeRequest(_message.Message):
    __slots__ = ("similarity_type", "update_mask")
    SIMILARITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    similarity_type: SimilarityType
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, similarity_type: _Optional[_Union[SimilarityType, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteSimilarityTypeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CreateTaskRequest(_message.Message):
    __slots__ = ("task_id", "task")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    task: Task
    def __init__(self, task_id: _Optional[str] = ..., task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class GetTaskRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks", "next_page_token")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    next_page_token: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateTaskRequest(_message.Message):
    __slots__ = ("task", "update_mask")
    TASK_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteTaskRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AddTaskSimilarityTypesRequest(_message.Message):
    __slots__ = ("task", "similarity_types")
    TASK_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_TYPES_FIELD_NUMBER: _ClassVar[int]
    task: str
    similarity_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, task: _Optional[str] = ..., similarity_types: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveTaskSimilarityTypesRequest(_message.Message):
    __slots__ = ("task", "similarity_types")
    TASK_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_TYPES_FIELD_NUMBER: _ClassVar[int]
    task: str
    similarity_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, task: _Optional[str] = ..., similarity_types: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateGroupRequest(_message.Message):
    __slots__ = ("group_id", "group")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    group: Group
    def __init__(self, group_id: _Optional[str] = ..., group: _Optional[_Union[Group, _Mapping]] = ...) -> None: ...

class GetGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListGroupsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "similarity_type", "name_query", "test_filter", "parent")
    class TestFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TEST_FILTER_UNSPECIFIED: _ClassVar[ListGroupsRequest.TestFilter]
        TEST_FILTER_TEST: _ClassVar[ListGroupsRequest.TestFilter]
        TEST_FILTER_TRAIN: _ClassVar[ListGroupsRequest.TestFilter]
    TEST_FILTER_UNSPECIFIED: ListGroupsRequest.TestFilter
    TEST_FILTER_TEST: ListGroupsRequest.TestFilter
    TEST_FILTER_TRAIN: ListGroupsRequest.TestFilter
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_QUERY_FIELD_NUMBER: _ClassVar[int]
    TEST_FILTER_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    similarity_type: str
    name_query: str
    test_filter: ListGroupsRequest.TestFilter
    parent: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., similarity_type: _Optional[str] = ..., name_query: _Optional[str] = ..., test_filter: _Optional[_Union[ListGroupsRequest.TestFilter, str]] = ..., parent: _Optional[str] = ...) -> None: ...

class ListGroupsResponse(_message.Message):
    __slots__ = ("groups", "next_page_token")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    next_page_token: str
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateGroupRequest(_message.Message):
    __slots__ = ("group", "update_mask")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    group: Group
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AddGroupImagesRequest(_message.Message):
    __slots__ = ("group", "images")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    group: str
    images: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group: _Optional[str] = ..., images: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveGroupImagesRequest(_message.Message):
    __slots__ = ("group", "images")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    group: str
    images: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group: _Optional[str] = ..., images: _Optional[_Iterable[str]] = ...) -> None: ...

class AddGroupMembersRequest(_message.Message):
    __slots__ = ("group", "members")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    group: str
    members: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group: _Optional[str] = ..., members: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveGroupMembersRequest(_message.Message):
    __slots__ = ("group", "members")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    group: str
    members: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group: _Optional[str] = ..., members: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateTrainingImageRequest(_message.Message):
    __slots__ = ("image", "metadata", "groups")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.Image
    metadata: _struct_pb2.Struct
    groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., groups: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchCreateTrainingImagesRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[CreateTrainingImageRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[CreateTrainingImageRequest, _Mapping]]] = ...) -> None: ...

class BatchCreateTrainingImagesResponse(_message.Message):
    __slots__ = ("images", "errors")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[TrainingImage]
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    def __init__(self, images: _Optional[_Iterable[_Union[TrainingImage, _Mapping]]] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ...) -> None: ...

class GetTrainingImageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTrainingImagesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "group")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    group: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., group: _Optional[str] = ...) -> None: ...

class ListTrainingImagesResponse(_message.Message):
    __slots__ = ("images", "next_page_token")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[TrainingImage]
    next_page_token: str
    def __init__(self, images: _Optional[_Iterable[_Union[TrainingImage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateTrainingImageRequest(_message.Message):
    __slots__ = ("image", "update_mask")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    image: TrainingImage
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, image: _Optional[_Union[TrainingImage, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteTrainingImageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class TrainTaskRequest(_message.Message):
    __slots__ = ("task", "training_config")
    TASK_FIELD_NUMBER: _ClassVar[int]
    TRAINING_CONFIG_FIELD_NUMBER: _ClassVar[int]
    task: str
    training_config: TrainingConfig
    def __init__(self, task: _Optional[str] = ..., training_config: _Optional[_Union[TrainingConfig, _Mapping]] = ...) -> None: ...

class TrainingMetadata(_message.Message):
    __slots__ = ("task", "stage", "progress", "epoch", "epochs", "loss", "metric", "version")
    TASK_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    task: str
    stage: str
    progress: float
    epoch: int
    epochs: int
    loss: float
    metric: float
    version: str
    def __init__(self, task: _Optional[str] = ..., stage: _Optional[str] = ..., progress: _Optional[float] = ..., epoch: _Optional[int] = ..., epochs: _Optional[int] = ..., loss: _Optional[float] = ..., metric: _Optional[float] = ..., version: _Optional[str] = ...) -> None: ...

class GetTaskVersionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTaskVersionsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTaskVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[TaskVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[TaskVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SetProductionVersionRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class DeployVersionRequest(_message.Message):
    __slots__ = ("version", "collection", "allow_drop")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DROP_FIELD_NUMBER: _ClassVar[int]
    version: str
    collection: str
    allow_drop: bool
    def __init__(self, version: _Optional[str] = ..., collection: _Optional[str] = ..., allow_drop: _Optional[bool] = ...) -> None: ...

class GetDescriptorsRequest(_message.Message):
    __slots__ = ("version", "images", "records")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    version: str
    images: _containers.RepeatedCompositeFieldContainer[_common_pb2.Image]
    records: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, version: _Optional[str] = ..., images: _Optional[_Iterable[_Union[_common_pb2.Image, _Mapping]]] = ..., records: _Optional[_Iterable[str]] = ...) -> None: ...

class GetDescriptorsResponse(_message.Message):
    __slots__ = ("model_version", "vectors", "errors")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    vectors: _common_pb2.VectorBatch
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    def __init__(self, model_version: _Optional[str] = ..., vectors: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ...) -> None: ...
