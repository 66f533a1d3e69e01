import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from simmesh_proto.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TensorLayout(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TENSOR_LAYOUT_UNSPECIFIED: _ClassVar[TensorLayout]
    TENSOR_LAYOUT_NCHW: _ClassVar[TensorLayout]
    TENSOR_LAYOUT_NHWC: _ClassVar[TensorLayout]

class ColorOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLOR_ORDER_UNSPECIFIED: _ClassVar[ColorOrder]
    COLOR_ORDER_RGB: _ClassVar[ColorOrder]
    COLOR_ORDER_BGR: _ClassVar[ColorOrder]
    COLOR_ORDER_GRAY: _ClassVar[ColorOrder]

class ResizePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESIZE_POLICY_UNSPECIFIED: _ClassVar[ResizePolicy]
    RESIZE_POLICY_SHORTER_SIDE_CENTER_CROP: _ClassVar[ResizePolicy]
    RESIZE_POLICY_STRETCH: _ClassVar[ResizePolicy]
    RESIZE_POLICY_LETTERBOX: _ClassVar[ResizePolicy]

class ModelKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_KIND_UNSPECIFIED: _ClassVar[ModelKind]
    MODEL_KIND_IMAGE: _ClassVar[ModelKind]
    MODEL_KIND_DUAL_ENCODER: _ClassVar[ModelKind]

class ModelSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_SOURCE_UNSPECIFIED: _ClassVar[ModelSource]
    MODEL_SOURCE_BUILTIN: _ClassVar[ModelSource]
    MODEL_SOURCE_IMPORTED: _ClassVar[ModelSource]
    MODEL_SOURCE_TRAINED: _ClassVar[ModelSource]
TENSOR_LAYOUT_UNSPECIFIED: TensorLayout
TENSOR_LAYOUT_NCHW: TensorLayout
TENSOR_LAYOUT_NHWC: TensorLayout
COLOR_ORDER_UNSPECIFIED: ColorOrder
COLOR_ORDER_RGB: ColorOrder
COLOR_ORDER_BGR: ColorOrder
COLOR_ORDER_GRAY: ColorOrder
RESIZE_POLICY_UNSPECIFIED: ResizePolicy
RESIZE_POLICY_SHORTER_SIDE_CENTER_CROP: ResizePolicy
RESIZE_POLICY_STRETCH: ResizePolicy
RESIZE_POLICY_LETTERBOX: ResizePolicy
MODEL_KIND_UNSPECIFIED: ModelKind
MODEL_KIND_IMAGE: ModelKind
MODEL_KIND_DUAL_ENCODER: ModelKind
MODEL_SOURCE_UNSPECIFIED: ModelSource
MODEL_SOURCE_BUILTIN: ModelSource
MODEL_SOURCE_IMPORTED: ModelSource
MODEL_SOURCE_TRAINED: ModelSource

class TextTower(_message.Message):
    __slots__ = ("input_ids_name", "attention_mask_name", "output_name", "max_length")
    INPUT_IDS_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTENTION_MASK_NAME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    input_ids_name: str
    attention_mask_name: str
    output_name: str
    max_length: int
    def __init__(self, input_ids_name: _Optional[str] = ..., attention_mask_name: _Optional[str] = ..., output_name: _Optional[str] = ..., max_length: _Optional[int] = ...) -> None: ...

class ModelManifest(_message.Message):
    __slots__ = ("input_name", "output_name", "input_width", "input_height", "layout", "color_order", "resize_policy", "resize_shorter_side", "scale", "mean", "std", "pad_value", "dimension", "output_normalized", "normalize", "family", "kind", "text")
    INPUT_NAME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    INPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    COLOR_ORDER_FIELD_NUMBER: _ClassVar[int]
    RESIZE_POLICY_FIELD_NUMBER: _ClassVar[int]
    RESIZE_SHORTER_SIDE_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    PAD_VALUE_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_NORMALIZED_FIELD_NUMBER: _ClassVar[int]
    NORMALIZE_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    input_name: str
    output_name: str
    input_width: int
    input_height: int
    layout: TensorLayout
    color_order: ColorOrder
    resize_policy: ResizePolicy
    resize_shorter_side: int
    scale: float
    mean: _containers.RepeatedScalarFieldContainer[float]
    std: _containers.RepeatedScalarFieldContainer[float]
    pad_value: float
    dimension: int
    output_normalized: bool
    normalize: bool
    family: str
    kind: ModelKind
    text: TextTower
    def __init__(self, input_name: _Optional[str] = ..., output_name: _Optional[str] = ..., input_width: _Optional[int] = ..., input_height: _Optional[int] = ..., layout: _Optional[_Union[TensorLayout, str]] = ..., color_order: _Optional[_Union[ColorOrder, str]] = ..., resize_policy: _Optional[_Union[ResizePolicy, str]] = ..., resize_shorter_side: _Optional[int] = ..., scale: _Optional[float] = ..., mean: _Optional[_Iterable[float]] = ..., std: _Optional[_Iterable[float]] = ..., pad_value: _Optional[float] = ..., dimension: _Optional[int] = ..., output_normalized: _Optional[bool] = ..., normalize: _Optional[bool] = ..., family: _Optional[str] = ..., kind: _Optional[_Union[ModelKind, str]] = ..., text: _Optional[_Union[TextTower, _Mapping]] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("name", "description", "source", "default_version", "latest_version", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VERSION_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    source: ModelSource
    default_version: int
    latest_version: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., source: _Optional[_Union[ModelSource, str]] = ..., default_version: _Optional[int] = ..., latest_version: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("name", "manifest", "sha256", "size_bytes", "create_time", "metrics", "loaded", "text_sha256", "tokenizer_sha256")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    TEXT_SHA256_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    manifest: ModelManifest
    sha256: str
    size_bytes: int
    create_time: _timestamp_pb2.Timestamp
    metrics: _containers.ScalarMap[str, float]
    loaded: bool
    text_sha256: str
    tokenizer_sha256: str
    def __init__(self, name: _Optional[str] = ..., manifest: _Optional[_Union[ModelManifest, _Mapping]] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., loaded: _Optional[bool] = ..., text_sha256: _Optional[str] = ..., tokenizer_sha256: _Optional[str] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("model", "images", "ids", "texts")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    images: _containers.RepeatedCompositeFieldContainer[_common_pb2.Image]
    ids: _containers.RepeatedScalarFieldContainer[str]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., images: _Optional[_Iterable[_Union[_common_pb2.Image, _Mapping]]] = ..., ids: _Optional[_Iterable[str]] = ..., texts: _Optional[_Iterable[str]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("model_version", "vectors", "errors")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    vectors: _common_pb2.VectorBatch
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    def __init__(self, model_version: _Optional[str] = ..., vectors: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ...) -> None: ...

class CompareRequest(_message.Message):
    __slots__ = ("model", "reference", "candidates")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    model: str
    reference: _common_pb2.Image
    candidates: _containers.RepeatedCompositeFieldContainer[_common_pb2.Image]
    def __init__(self, model: _Optional[str] = ..., reference: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[_common_pb2.Image, _Mapping]]] = ...) -> None: ...

class CompareResponse(_message.Message):
    __slots__ = ("model_version", "similarities")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SIMILARITIES_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    similarities: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, model_version: _Optional[str] = ..., similarities: _Optional[_Iterable[float]] = ...) -> None: ...

class ImportModelRequest(_message.Message):
    __slots__ = ("header", "chunk", "text_chunk", "tokenizer_chunk")
    class Header(_message.Message):
        __slots__ = ("model_id", "description", "manifest", "set_default", "size_bytes", "source", "metrics", "text_size_bytes", "tokenizer_size_bytes")
        class MetricsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: float
            def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
        MODEL_ID_FIELD_NUMBER: _ClassVar[int]
        DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
        MANIFEST_FIELD_NUMBER: _ClassVar[int]
        SET_DEFAULT_FIELD_NUMBER: _ClassVar[int]
        SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
        SOURCE_FIELD_NUMBER: _ClassVar[int]
        METRICS_FIELD_NUMBER: _ClassVar[int]
        TEXT_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
        TOKENIZER_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
        model_id: str
        description: str
        manifest: ModelManifest
        set_default: bool
        size_bytes: int
        source: ModelSource
        metrics: _containers.ScalarMap[str, float]
        text_size_bytes: int
        tokenizer_size_bytes: int
        def __init__(self, model_id: _Optional[str] = ..., description: _Optional[str] = ..., manifest: _Optional[_Union[ModelManifest, _Mapping]] = ..., set_default: _Optional[bool] = ..., size_bytes: _Optional[int] = ..., source: _Optional[_Union[ModelSource, str]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., text_size_bytes: _Optional[int] = ..., tokenizer_size_bytes: _Optional[int] = ...) -> None: ...
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    TEXT_CHUNK_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: ImportModelRequest.Header
    chunk: bytes
    text_chunk: bytes
    tokenizer_chunk: bytes
    def __init__(self, header: _Optional[_Union[ImportModelRequest.Header, _Mapping]] = ..., chunk: _Optional[bytes] = ..., text_chunk: _Optional[bytes] = ..., tokenizer_chunk: _Optional[bytes] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    next_page_token: str
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateModelRequest(_message.Message):
    __slots__ = ("model", "update_mask")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    model: Model
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetModelVersionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListModelVersionsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModelVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteModelVersionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...
