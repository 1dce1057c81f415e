from fittingroom.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SegmentRequest(_message.Message):
    __slots__ = ("request_id", "person_image", "style_image", "options")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_IMAGE_FIELD_NUMBER: _ClassVar[int]
    STYLE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    person_image: _common_pb2.ObjectRef
    style_image: _common_pb2.ObjectRef
    options: _common_pb2.TryOnOptions
    def __init__(self, request_id: _Optional[str] = ..., person_image: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., style_image: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., options: _Optional[_Union[_common_pb2.TryOnOptions, _Mapping]] = ...) -> None: ...

class SegmentResponse(_message.Message):
    __slots__ = ("person_garment", "style_garment", "translation_input", "milliseconds", "models")
    PERSON_GARMENT_FIELD_NUMBER: _ClassVar[int]
    STYLE_GARMENT_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_INPUT_FIELD_NUMBER: _ClassVar[int]
    MILLISECONDS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    person_garment: _common_pb2.GarmentRef
    style_garment: _common_pb2.GarmentRef
    translation_input: _common_pb2.TensorRef
    milliseconds: float
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModelVersion]
    def __init__(self, person_garment: _Optional[_Union[_common_pb2.GarmentRef, _Mapping]] = ..., style_garment: _Optional[_Union[_common_pb2.GarmentRef, _Mapping]] = ..., translation_input: _Optional[_Union[_common_pb2.TensorRef, _Mapping]] = ..., milliseconds: _Optional[float] = ..., models: _Optional[_Iterable[_Union[_common_pb2.ModelVersion, _Mapping]]] = ...) -> None: ...

class ClassifyRequest(_message.Message):
    __slots__ = ("request_id", "style_image", "style_garment", "options", "models")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STYLE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    STYLE_GARMENT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    style_image: _common_pb2.ObjectRef
    style_garment: _common_pb2.GarmentRef
    options: _common_pb2.TryOnOptions
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModelVersion]
    def __init__(self, request_id: _Optional[str] = ..., style_image: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., style_garment: _Optional[_Union[_common_pb2.GarmentRef, _Mapping]] = ..., options: _Optional[_Union[_common_pb2.TryOnOptions, _Mapping]] = ..., models: _Optional[_Iterable[_Union[_common_pb2.ModelVersion, _Mapping]]] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("style", "milliseconds", "models")
    STYLE_FIELD_NUMBER: _ClassVar[int]
    MILLISECONDS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    style: _common_pb2.StyleLabel
    milliseconds: float
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModelVersion]
    def __init__(self, style: _Optional[_Union[_common_pb2.StyleLabel, _Mapping]] = ..., milliseconds: _Optional[float] = ..., models: _Optional[_Iterable[_Union[_common_pb2.ModelVersion, _Mapping]]] = ...) -> None: ...

class TranslateRequest(_message.Message):
    __slots__ = ("request_id", "translation_input", "translation_key")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_INPUT_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_KEY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    translation_input: _common_pb2.TensorRef
    translation_key: str
    def __init__(self, request_id: _Optional[str] = ..., translation_input: _Optional[_Union[_common_pb2.TensorRef, _Mapping]] = ..., translation_key: _Optional[str] = ...) -> None: ...

class TranslateResponse(_message.Message):
    __slots__ = ("translated", "milliseconds", "models")
    TRANSLATED_FIELD_NUMBER: _ClassVar[int]
    MILLISECONDS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    translated: _common_pb2.TensorRef
    milliseconds: float
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModelVersion]
    def __init__(self, translated: _Optional[_Union[_common_pb2.TensorRef, _Mapping]] = ..., milliseconds: _Optional[float] = ..., models: _Optional[_Iterable[_Union[_common_pb2.ModelVersion, _Mapping]]] = ...) -> None: ...

class CompositeRequest(_message.Message):
    __slots__ = ("request_id", "person_image", "person_garment", "translated", "options", "style", "models")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_IMAGE_FIELD_NUMBER: _ClassVar[int]
    PERSON_GARMENT_FIELD_NUMBER: _ClassVar[int]
    TRANSLATED_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    person_image: _common_pb2.ObjectRef
    person_garment: _common_pb2.GarmentRef
    translated: _common_pb2.TensorRef
    options: _common_pb2.TryOnOptions
    style: _common_pb2.StyleLabel
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModelVersion]
    def __init__(self, request_id: _Optional[str] = ..., person_image: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., person_garment: _Optional[_Union[_common_pb2.GarmentRef, _Mapping]] = ..., translated: _Optional[_Union[_common_pb2.TensorRef, _Mapping]] = ..., options: _Optional[_Union[_common_pb2.TryOnOptions, _Mapping]] = ..., style: _Optional[_Union[_common_pb2.StyleLabel, _Mapping]] = ..., models: _Optional[_Iterable[_Union[_common_pb2.ModelVersion, _Mapping]]] = ...) -> None: ...

class CompositeResponse(_message.Message):
    __slots__ = ("result", "milliseconds", "exact_colour", "exact_pattern", "result_manifest")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    MILLISECONDS_FIELD_NUMBER: _ClassVar[int]
    EXACT_COLOUR_FIELD_NUMBER: _ClassVar[int]
    EXACT_PATTERN_FIELD_NUMBER: _ClassVar[int]
    RESULT_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    result: _common_pb2.ObjectRef
    milliseconds: float
    exact_colour: bool
    exact_pattern: bool
    result_manifest: _common_pb2.ObjectRef
    def __init__(self, result: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., milliseconds: _Optional[float] = ..., exact_colour: _Optional[bool] = ..., exact_pattern: _Optional[bool] = ..., result_manifest: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ...) -> None: ...
