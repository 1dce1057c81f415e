import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from fittingroom.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    SUBMITTED: _ClassVar[Stage]
    SEGMENTED: _ClassVar[Stage]
    STYLED: _ClassVar[Stage]
    TRANSLATED: _ClassVar[Stage]
    COMPLETED: _ClassVar[Stage]
    FAILED: _ClassVar[Stage]
STAGE_UNSPECIFIED: Stage
SUBMITTED: Stage
SEGMENTED: Stage
STYLED: Stage
TRANSLATED: Stage
COMPLETED: Stage
FAILED: Stage

class TryOnEvent(_message.Message):
    __slots__ = ("request_id", "created", "attempt", "stage", "options", "person_image", "style_image", "person_garment", "style_garment", "translation_input", "style", "translated", "result", "timings", "error", "exact_colour", "exact_pattern", "tenant", "models", "result_manifest")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PERSON_IMAGE_FIELD_NUMBER: _ClassVar[int]
    STYLE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    PERSON_GARMENT_FIELD_NUMBER: _ClassVar[int]
    STYLE_GARMENT_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_INPUT_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    TRANSLATED_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXACT_COLOUR_FIELD_NUMBER: _ClassVar[int]
    EXACT_PATTERN_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    RESULT_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    created: _timestamp_pb2.Timestamp
    attempt: int
    stage: Stage
    options: _common_pb2.TryOnOptions
    person_image: _common_pb2.ObjectRef
    style_image: _common_pb2.ObjectRef
    person_garment: _common_pb2.GarmentRef
    style_garment: _common_pb2.GarmentRef
    translation_input: _common_pb2.TensorRef
    style: _common_pb2.StyleLabel
    translated: _common_pb2.TensorRef
    result: _common_pb2.ObjectRef
    timings: _containers.RepeatedCompositeFieldContainer[_common_pb2.StageTiming]
    error: _common_pb2.Error
    exact_colour: bool
    exact_pattern: bool
    tenant: str
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModelVersion]
    result_manifest: _common_pb2.ObjectRef
    def __init__(self, request_id: _Optional[str] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[int] = ..., stage: _Optional[_Union[Stage, str]] = ..., options: _Optional[_Union[_common_pb2.TryOnOptions, _Mapping]] = ..., person_image: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., style_image: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., person_garment: _Optional[_Union[_common_pb2.GarmentRef, _Mapping]] = ..., style_garment: _Optional[_Union[_common_pb2.GarmentRef, _Mapping]] = ..., translation_input: _Optional[_Union[_common_pb2.TensorRef, _Mapping]] = ..., style: _Optional[_Union[_common_pb2.StyleLabel, _Mapping]] = ..., translated: _Optional[_Union[_common_pb2.TensorRef, _Mapping]] = ..., result: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., timings: _Optional[_Iterable[_Union[_common_pb2.StageTiming, _Mapping]]] = ..., error: _Optional[_Union[_common_pb2.Error, _Mapping]] = ..., exact_colour: _Optional[bool] = ..., exact_pattern: _Optional[bool] = ..., tenant: _Optional[str] = ..., models: _Optional[_Iterable[_Union[_common_pb2.ModelVersion, _Mapping]]] = ..., result_manifest: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ...) -> None: ...
