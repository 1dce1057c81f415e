from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    BAD_IMAGE: _ClassVar[ErrorCode]
    IMAGE_TOO_LARGE: _ClassVar[ErrorCode]
    NO_GARMENT: _ClassVar[ErrorCode]
    UNKNOWN_STYLE: _ClassVar[ErrorCode]
    MODEL_NOT_FOUND: _ClassVar[ErrorCode]
    MODEL_INTEGRITY: _ClassVar[ErrorCode]
    BAD_REQUEST: _ClassVar[ErrorCode]
    INTERNAL: _ClassVar[ErrorCode]
    NOT_FOUND: _ClassVar[ErrorCode]
    OVERLOADED: _ClassVar[ErrorCode]
    UNAUTHENTICATED: _ClassVar[ErrorCode]
ERROR_CODE_UNSPECIFIED: ErrorCode
BAD_IMAGE: ErrorCode
IMAGE_TOO_LARGE: ErrorCode
NO_GARMENT: ErrorCode
UNKNOWN_STYLE: ErrorCode
MODEL_NOT_FOUND: ErrorCode
MODEL_INTEGRITY: ErrorCode
BAD_REQUEST: ErrorCode
INTERNAL: ErrorCode
NOT_FOUND: ErrorCode
OVERLOADED: ErrorCode
UNAUTHENTICATED: ErrorCode

class ObjectRef(_message.Message):
    __slots__ = ("bucket", "key", "content_type", "size", "sha256", "inline")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    INLINE_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    content_type: str
    size: int
    sha256: str
    inline: bytes
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., content_type: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., inline: _Optional[bytes] = ...) -> None: ...

class TensorRef(_message.Message):
    __slots__ = ("bucket", "key", "dtype", "shape", "sha256", "inline")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    INLINE_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    sha256: str
    inline: bytes
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., sha256: _Optional[str] = ..., inline: _Optional[bytes] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x1", "y1", "x2", "y2")
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    X2_FIELD_NUMBER: _ClassVar[int]
    Y2_FIELD_NUMBER: _ClassVar[int]
    x1: int
    y1: int
    x2: int
    y2: int
    def __init__(self, x1: _Optional[int] = ..., y1: _Optional[int] = ..., x2: _Optional[int] = ..., y2: _Optional[int] = ...) -> None: ...

class GarmentRef(_message.Message):
    __slots__ = ("mask", "box", "category", "category_name", "score")
    MASK_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_NAME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    mask: TensorRef
    box: Box
    category: int
    category_name: str
    score: float
    def __init__(self, mask: _Optional[_Union[TensorRef, _Mapping]] = ..., box: _Optional[_Union[Box, _Mapping]] = ..., category: _Optional[int] = ..., category_name: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class StyleLabel(_message.Message):
    __slots__ = ("colour", "pattern", "confidence", "key", "translation_key", "product_lab", "product_fabric", "product_garment_width")
    COLOUR_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_KEY_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_LAB_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FABRIC_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_GARMENT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    colour: str
    pattern: str
    confidence: float
    key: str
    translation_key: str
    product_lab: _containers.RepeatedScalarFieldContainer[float]
    product_fabric: TensorRef
    product_garment_width: float
    def __init__(self, colour: _Optional[str] = ..., pattern: _Optional[str] = ..., confidence: _Optional[float] = ..., key: _Optional[str] = ..., translation_key: _Optional[str] = ..., product_lab: _Optional[_Iterable[float]] = ..., product_fabric: _Optional[_Union[TensorRef, _Mapping]] = ..., product_garment_width: _Optional[float] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("kind", "name", "version", "sha256")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    version: str
    sha256: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "stage")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    stage: str
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ..., stage: _Optional[str] = ...) -> None: ...

class StageTiming(_message.Message):
    __slots__ = ("stage", "milliseconds")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MILLISECONDS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    milliseconds: float
    def __init__(self, stage: _Optional[str] = ..., milliseconds: _Optional[float] = ...) -> None: ...

class TryOnOptions(_message.Message):
    __slots__ = ("garment_policy", "style_fallback", "feather_px", "exact_colour", "exact_pattern")
    GARMENT_POLICY_FIELD_NUMBER: _ClassVar[int]
    STYLE_FALLBACK_FIELD_NUMBER: _ClassVar[int]
    FEATHER_PX_FIELD_NUMBER: _ClassVar[int]
    EXACT_COLOUR_FIELD_NUMBER: _ClassVar[int]
    EXACT_PATTERN_FIELD_NUMBER: _ClassVar[int]
    garment_policy: str
    style_fallback: str
    feather_px: float
    exact_colour: bool
    exact_pattern: bool
    def __init__(self, garment_policy: _Optional[str] = ..., style_fallback: _Optional[str] = ..., feather_px: _Optional[float] = ..., exact_colour: _Optional[bool] = ..., exact_pattern: _Optional[bool] = ...) -> None: ...
