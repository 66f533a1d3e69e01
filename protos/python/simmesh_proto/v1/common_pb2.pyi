from google.rpc import status_pb2 as _status_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Image(_message.Message):
    __slots__ = ("content", "base64", "url", "uri")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    BASE64_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    base64: str
    url: str
    uri: str
    def __init__(self, content: _Optional[bytes] = ..., base64: _Optional[str] = ..., url: _Optional[str] = ..., uri: _Optional[str] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("dimension", "data")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dimension: int
    data: bytes
    def __init__(self, dimension: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class VectorBatch(_message.Message):
    __slots__ = ("dimension", "count", "data")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dimension: int
    count: int
    data: bytes
    def __init__(self, dimension: _Optional[int] = ..., count: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("index", "id", "status")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    index: int
    id: str
    status: _status_pb2.Status
    def __init__(self, index: _Optional[int] = ..., id: _Optional[str] = ..., status: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...
