from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PredictRequestWire(_message.Message):
    __slots__ = ("model", "inputs", "num_features")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    NUM_FEATURES_FIELD_NUMBER: _ClassVar[int]
    model: str
    inputs: bytes
    num_features: int
    def __init__(self, model: _Optional[str] = ..., inputs: _Optional[bytes] = ..., num_features: _Optional[int] = ...) -> None: ...
