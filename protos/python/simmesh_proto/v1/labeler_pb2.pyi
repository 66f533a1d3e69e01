import datetime

from google.api import annotations_pb2 as _annotations_pb2
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

class ImageState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_STATE_UNSPECIFIED: _ClassVar[ImageState]
    IMAGE_STATE_LABELED: _ClassVar[ImageState]
    IMAGE_STATE_SUGGESTED: _ClassVar[ImageState]
    IMAGE_STATE_POOL: _ClassVar[ImageState]

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_FORMAT_UNSPECIFIED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_CSV: _ClassVar[ExportFormat]
    EXPORT_FORMAT_JSON: _ClassVar[ExportFormat]
IMAGE_STATE_UNSPECIFIED: ImageState
IMAGE_STATE_LABELED: ImageState
IMAGE_STATE_SUGGESTED: ImageState
IMAGE_STATE_POOL: ImageState
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
EXPORT_FORMAT_CSV: ExportFormat
EXPORT_FORMAT_JSON: ExportFormat

class Project(_message.Message):
    __slots__ = ("name", "display_name", "description", "model", "collection", "default_params", "labeled_count", "pool_count", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PARAMS_FIELD_NUMBER: _ClassVar[int]
    LABELED_COUNT_FIELD_NUMBER: _ClassVar[int]
    POOL_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    model: str
    collection: str
    default_params: SuggestParams
    labeled_count: int
    pool_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., model: _Optional[str] = ..., collection: _Optional[str] = ..., default_params: _Optional[_Union[SuggestParams, _Mapping]] = ..., labeled_count: _Optional[int] = ..., pool_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SuggestParams(_message.Message):
    __slots__ = ("k", "threshold", "use_first")
    K_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    USE_FIRST_FIELD_NUMBER: _ClassVar[int]
    k: int
    threshold: float
    use_first: bool
    def __init__(self, k: _Optional[int] = ..., threshold: _Optional[float] = ..., use_first: _Optional[bool] = ...) -> None: ...

class LabeledImage(_message.Message):
    __slots__ = ("name", "id", "labels", "state", "url", "metadata", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    state: ImageState
    url: str
    metadata: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., id: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[ImageState, str]] = ..., url: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateProjectRequest(_message.Message):
    __slots__ = ("project_id", "project")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    project: Project
    def __init__(self, project_id: _Optional[str] = ..., project: _Optional[_Union[Project, _Mapping]] = ...) -> None: ...

class GetProjectRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListProjectsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProjectsResponse(_message.Message):
    __slots__ = ("projects", "next_page_token")
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[Project]
    next_page_token: str
    def __init__(self, projects: _Optional[_Iterable[_Union[Project, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateProjectRequest(_message.Message):
    __slots__ = ("project", "update_mask")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    project: Project
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteProjectRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ImageInput(_message.Message):
    __slots__ = ("id", "image", "labels", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    image: _common_pb2.Image
    labels: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., labels: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AddImagesRequest(_message.Message):
    __slots__ = ("project", "images", "upsert")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    project: str
    images: _containers.RepeatedCompositeFieldContainer[ImageInput]
    upsert: bool
    def __init__(self, project: _Optional[str] = ..., images: _Optional[_Iterable[_Union[ImageInput, _Mapping]]] = ..., upsert: _Optional[bool] = ...) -> None: ...

class AddImagesResponse(_message.Message):
    __slots__ = ("ids", "errors")
    IDS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ...) -> None: ...

class GetImageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListImagesRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token", "label", "state")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    label: str
    state: ImageState
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., label: _Optional[str] = ..., state: _Optional[_Union[ImageState, str]] = ...) -> None: ...

class ListImagesResponse(_message.Message):
    __slots__ = ("images", "next_page_token")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[LabeledImage]
    next_page_token: str
    def __init__(self, images: _Optional[_Iterable[_Union[LabeledImage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateImageRequest(_message.Message):
    __slots__ = ("image", "update_mask")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    image: LabeledImage
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, image: _Optional[_Union[LabeledImage, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteImagesRequest(_message.Message):
    __slots__ = ("project", "ids")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteImagesResponse(_message.Message):
    __slots__ = ("deleted_count", "missing_ids")
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    MISSING_IDS_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    missing_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted_count: _Optional[int] = ..., missing_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListLabelsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class LabelCount(_message.Message):
    __slots__ = ("label", "labeled_count", "suggested_count")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LABELED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    label: str
    labeled_count: int
    suggested_count: int
    def __init__(self, label: _Optional[str] = ..., labeled_count: _Optional[int] = ..., suggested_count: _Optional[int] = ...) -> None: ...

class ListLabelsResponse(_message.Message):
    __slots__ = ("labels", "next_page_token")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedCompositeFieldContainer[LabelCount]
    next_page_token: str
    def __init__(self, labels: _Optional[_Iterable[_Union[LabelCount, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SuggestItem(_message.Message):
    __slots__ = ("image", "image_id", "id")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.Image
    image_id: str
    id: str
    def __init__(self, image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., image_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class SuggestLabelsRequest(_message.Message):
    __slots__ = ("project", "items", "params", "save")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    SAVE_FIELD_NUMBER: _ClassVar[int]
    project: str
    items: _containers.RepeatedCompositeFieldContainer[SuggestItem]
    params: SuggestParams
    save: bool
    def __init__(self, project: _Optional[str] = ..., items: _Optional[_Iterable[_Union[SuggestItem, _Mapping]]] = ..., params: _Optional[_Union[SuggestParams, _Mapping]] = ..., save: _Optional[bool] = ...) -> None: ...

class LabelScore(_message.Message):
    __slots__ = ("label", "score")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    label: str
    score: float
    def __init__(self, label: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class Neighbor(_message.Message):
    __slots__ = ("id", "similarity", "labels")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    id: str
    similarity: float
    labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., similarity: _Optional[float] = ..., labels: _Optional[_Iterable[str]] = ...) -> None: ...

class Suggestion(_message.Message):
    __slots__ = ("index", "id", "labels", "scores", "neighbors")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    index: int
    id: str
    labels: _containers.RepeatedCompositeFieldContainer[LabelScore]
    scores: _containers.RepeatedCompositeFieldContainer[LabelScore]
    neighbors: _containers.RepeatedCompositeFieldContainer[Neighbor]
    def __init__(self, index: _Optional[int] = ..., id: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ..., scores: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ..., neighbors: _Optional[_Iterable[_Union[Neighbor, _Mapping]]] = ...) -> None: ...

class SuggestLabelsResponse(_message.Message):
    __slots__ = ("suggestions", "errors")
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    suggestions: _containers.RepeatedCompositeFieldContainer[Suggestion]
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    def __init__(self, suggestions: _Optional[_Iterable[_Union[Suggestion, _Mapping]]] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ...) -> None: ...

class Review(_message.Message):
    __slots__ = ("image_id", "action", "labels")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ACTION_UNSPECIFIED: _ClassVar[Review.Action]
        ACTION_ACCEPT: _ClassVar[Review.Action]
        ACTION_CHANGE: _ClassVar[Review.Action]
        ACTION_REJECT: _ClassVar[Review.Action]
    ACTION_UNSPECIFIED: Review.Action
    ACTION_ACCEPT: Review.Action
    ACTION_CHANGE: Review.Action
    ACTION_REJECT: Review.Action
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    action: Review.Action
    labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, image_id: _Optional[str] = ..., action: _Optional[_Union[Review.Action, str]] = ..., labels: _Optional[_Iterable[str]] = ...) -> None: ...

class ReviewSuggestionsRequest(_message.Message):
    __slots__ = ("project", "reviews")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    REVIEWS_FIELD_NUMBER: _ClassVar[int]
    project: str
    reviews: _containers.RepeatedCompositeFieldContainer[Review]
    def __init__(self, project: _Optional[str] = ..., reviews: _Optional[_Iterable[_Union[Review, _Mapping]]] = ...) -> None: ...

class ReviewSuggestionsResponse(_message.Message):
    __slots__ = ("accepted_count", "changed_count", "rejected_count", "errors")
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    accepted_count: int
    changed_count: int
    rejected_count: int
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    def __init__(self, accepted_count: _Optional[int] = ..., changed_count: _Optional[int] = ..., rejected_count: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("project", "params", "k_values", "threshold_values", "use_first")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    K_VALUES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_VALUES_FIELD_NUMBER: _ClassVar[int]
    USE_FIRST_FIELD_NUMBER: _ClassVar[int]
    project: str
    params: SuggestParams
    k_values: _containers.RepeatedScalarFieldContainer[int]
    threshold_values: _containers.RepeatedScalarFieldContainer[float]
    use_first: bool
    def __init__(self, project: _Optional[str] = ..., params: _Optional[_Union[SuggestParams, _Mapping]] = ..., k_values: _Optional[_Iterable[int]] = ..., threshold_values: _Optional[_Iterable[float]] = ..., use_first: _Optional[bool] = ...) -> None: ...

class LabelAccuracy(_message.Message):
    __slots__ = ("label", "support", "precision", "recall")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    label: str
    support: int
    precision: float
    recall: float
    def __init__(self, label: _Optional[str] = ..., support: _Optional[int] = ..., precision: _Optional[float] = ..., recall: _Optional[float] = ...) -> None: ...

class ConfusionCell(_message.Message):
    __slots__ = ("actual", "predicted", "count")
    ACTUAL_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    actual: str
    predicted: str
    count: int
    def __init__(self, actual: _Optional[str] = ..., predicted: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Evaluation(_message.Message):
    __slots__ = ("params", "accuracy", "coverage", "labels", "confusion")
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CONFUSION_FIELD_NUMBER: _ClassVar[int]
    params: SuggestParams
    accuracy: float
    coverage: float
    labels: _containers.RepeatedCompositeFieldContainer[LabelAccuracy]
    confusion: _containers.RepeatedCompositeFieldContainer[ConfusionCell]
    def __init__(self, params: _Optional[_Union[SuggestParams, _Mapping]] = ..., accuracy: _Optional[float] = ..., coverage: _Optional[float] = ..., labels: _Optional[_Iterable[_Union[LabelAccuracy, _Mapping]]] = ..., confusion: _Optional[_Iterable[_Union[ConfusionCell, _Mapping]]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("evaluations", "image_count")
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    evaluations: _containers.RepeatedCompositeFieldContainer[Evaluation]
    image_count: int
    def __init__(self, evaluations: _Optional[_Iterable[_Union[Evaluation, _Mapping]]] = ..., image_count: _Optional[int] = ...) -> None: ...

class MinePoolRequest(_message.Message):
    __slots__ = ("project", "examples", "example_ids", "label", "page_size", "page_token", "duplicate_similarity")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_IDS_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    project: str
    examples: _containers.RepeatedCompositeFieldContainer[_common_pb2.Image]
    example_ids: _containers.RepeatedScalarFieldContainer[str]
    label: str
    page_size: int
    page_token: str
    duplicate_similarity: float
    def __init__(self, project: _Optional[str] = ..., examples: _Optional[_Iterable[_Union[_common_pb2.Image, _Mapping]]] = ..., example_ids: _Optional[_Iterable[str]] = ..., label: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., duplicate_similarity: _Optional[float] = ...) -> None: ...

class PoolHit(_message.Message):
    __slots__ = ("id", "similarity", "url")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    similarity: float
    url: str
    def __init__(self, id: _Optional[str] = ..., similarity: _Optional[float] = ..., url: _Optional[str] = ...) -> None: ...

class MinePoolResponse(_message.Message):
    __slots__ = ("hits", "next_page_token")
    HITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[PoolHit]
    next_page_token: str
    def __init__(self, hits: _Optional[_Iterable[_Union[PoolHit, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListUncertainRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token", "params")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    params: SuggestParams
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., params: _Optional[_Union[SuggestParams, _Mapping]] = ...) -> None: ...

class UncertainImage(_message.Message):
    __slots__ = ("id", "margin", "scores")
    ID_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    id: str
    margin: float
    scores: _containers.RepeatedCompositeFieldContainer[LabelScore]
    def __init__(self, id: _Optional[str] = ..., margin: _Optional[float] = ..., scores: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ...) -> None: ...

class ListUncertainResponse(_message.Message):
    __slots__ = ("images", "next_page_token")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[UncertainImage]
    next_page_token: str
    def __init__(self, images: _Optional[_Iterable[_Union[UncertainImage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExportLabelsRequest(_message.Message):
    __slots__ = ("project", "format", "include_suggested")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SUGGESTED_FIELD_NUMBER: _ClassVar[int]
    project: str
    format: ExportFormat
    include_suggested: bool
    def __init__(self, project: _Optional[str] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., include_suggested: _Optional[bool] = ...) -> None: ...

class ExportLabelsChunk(_message.Message):
    __slots__ = ("content_type", "data")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    data: bytes
    def __init__(self, content_type: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...
