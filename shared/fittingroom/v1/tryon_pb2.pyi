import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from fittingroom.v1 import common_pb2 as _common_pb2
from fittingroom.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TryOnRequest(_message.Message):
    __slots__ = ("request_id", "person_image", "style_image", "person_ref", "style_ref", "options", "return_image")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_IMAGE_FIELD_NUMBER: _ClassVar[int]
    STYLE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    PERSON_REF_FIELD_NUMBER: _ClassVar[int]
    STYLE_REF_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    RETURN_IMAGE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    person_image: bytes
    style_image: bytes
    person_ref: _common_pb2.ObjectRef
    style_ref: _common_pb2.ObjectRef
    options: _common_pb2.TryOnOptions
    return_image: bool
    def __init__(self, request_id: _Optional[str] = ..., person_image: _Optional[bytes] = ..., style_image: _Optional[bytes] = ..., person_ref: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., style_ref: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., options: _Optional[_Union[_common_pb2.TryOnOptions, _Mapping]] = ..., return_image: _Optional[bool] = ...) -> None: ...

class TryOnResponse(_message.Message):
    __slots__ = ("request_id", "result", "image", "style", "timings", "exact_colour", "exact_pattern", "models", "result_manifest")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    EXACT_COLOUR_FIELD_NUMBER: _ClassVar[int]
    EXACT_PATTERN_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    RESULT_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    result: _common_pb2.ObjectRef
    image: bytes
    style: _common_pb2.StyleLabel
    timings: _containers.RepeatedCompositeFieldContainer[_common_pb2.StageTiming]
    exact_colour: bool
    exact_pattern: bool
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModelVersion]
    result_manifest: _common_pb2.ObjectRef
    def __init__(self, request_id: _Optional[str] = ..., result: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., image: _Optional[bytes] = ..., style: _Optional[_Union[_common_pb2.StyleLabel, _Mapping]] = ..., timings: _Optional[_Iterable[_Union[_common_pb2.StageTiming, _Mapping]]] = ..., exact_colour: _Optional[bool] = ..., exact_pattern: _Optional[bool] = ..., models: _Optional[_Iterable[_Union[_common_pb2.ModelVersion, _Mapping]]] = ..., result_manifest: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class TryOnStatus(_message.Message):
    __slots__ = ("request_id", "stage", "result", "style", "error", "timings", "updated", "models", "result_manifest")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    RESULT_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    stage: _events_pb2.Stage
    result: _common_pb2.ObjectRef
    style: _common_pb2.StyleLabel
    error: _common_pb2.Error
    timings: _containers.RepeatedCompositeFieldContainer[_common_pb2.StageTiming]
    updated: _timestamp_pb2.Timestamp
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModelVersion]
    result_manifest: _common_pb2.ObjectRef
    def __init__(self, request_id: _Optional[str] = ..., stage: _Optional[_Union[_events_pb2.Stage, str]] = ..., result: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., style: _Optional[_Union[_common_pb2.StyleLabel, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.Error, _Mapping]] = ..., timings: _Optional[_Iterable[_Union[_common_pb2.StageTiming, _Mapping]]] = ..., updated: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., models: _Optional[_Iterable[_Union[_common_pb2.ModelVersion, _Mapping]]] = ..., result_manifest: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ...) -> None: ...
