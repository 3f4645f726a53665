from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Activation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVATION_UNSPECIFIED: _ClassVar[Activation]
    ACTIVATION_SIGMOID: _ClassVar[Activation]
    ACTIVATION_TANH: _ClassVar[Activation]
    ACTIVATION_RELU: _ClassVar[Activation]

class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METHOD_UNSPECIFIED: _ClassVar[Method]
    METHOD_AUTOGRAD: _ClassVar[Method]
    METHOD_MANUAL: _ClassVar[Method]
    METHOD_PERCEPTRON: _ClassVar[Method]

class Loss(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOSS_UNSPECIFIED: _ClassVar[Loss]
    LOSS_BCE: _ClassVar[Loss]
    LOSS_MSE: _ClassVar[Loss]

class Reduction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REDUCTION_UNSPECIFIED: _ClassVar[Reduction]
    REDUCTION_MEAN: _ClassVar[Reduction]
    REDUCTION_SUM: _ClassVar[Reduction]

class Optimizer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPTIMIZER_UNSPECIFIED: _ClassVar[Optimizer]
    OPTIMIZER_SGD: _ClassVar[Optimizer]
    OPTIMIZER_ADAM: _ClassVar[Optimizer]

class Schedule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEDULE_UNSPECIFIED: _ClassVar[Schedule]
    SCHEDULE_FULL_BATCH: _ClassVar[Schedule]
    SCHEDULE_ONLINE: _ClassVar[Schedule]
    SCHEDULE_MINI_BATCH: _ClassVar[Schedule]

class Init(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INIT_UNSPECIFIED: _ClassVar[Init]
    INIT_UNIFORM: _ClassVar[Init]
    INIT_NORMAL: _ClassVar[Init]
    INIT_SCALED_NORMAL: _ClassVar[Init]
    INIT_XAVIER: _ClassVar[Init]
    INIT_TORCH_DEFAULT: _ClassVar[Init]
    INIT_ZEROS: _ClassVar[Init]
ACTIVATION_UNSPECIFIED: Activation
ACTIVATION_SIGMOID: Activation
ACTIVATION_TANH: Activation
ACTIVATION_RELU: Activation
METHOD_UNSPECIFIED: Method
METHOD_AUTOGRAD: Method
METHOD_MANUAL: Method
METHOD_PERCEPTRON: Method
LOSS_UNSPECIFIED: Loss
LOSS_BCE: Loss
LOSS_MSE: Loss
REDUCTION_UNSPECIFIED: Reduction
REDUCTION_MEAN: Reduction
REDUCTION_SUM: Reduction
OPTIMIZER_UNSPECIFIED: Optimizer
OPTIMIZER_SGD: Optimizer
OPTIMIZER_ADAM: Optimizer
SCHEDULE_UNSPECIFIED: Schedule
SCHEDULE_FULL_BATCH: Schedule
SCHEDULE_ONLINE: Schedule
SCHEDULE_MINI_BATCH: Schedule
INIT_UNSPECIFIED: Init
INIT_UNIFORM: Init
INIT_NORMAL: Init
INIT_SCALED_NORMAL: Init
INIT_XAVIER: Init
INIT_TORCH_DEFAULT: Init
INIT_ZEROS: Init

class GateTask(_message.Message):
    __slots__ = ("name", "num_inputs")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_INPUTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    num_inputs: int
    def __init__(self, name: _Optional[str] = ..., num_inputs: _Optional[int] = ...) -> None: ...

class TruthTableTask(_message.Message):
    __slots__ = ("num_inputs", "outputs")
    NUM_INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    num_inputs: int
    outputs: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, num_inputs: _Optional[int] = ..., outputs: _Optional[_Iterable[int]] = ...) -> None: ...

class ExamplesTask(_message.Message):
    __slots__ = ("num_inputs", "inputs", "targets")
    NUM_INPUTS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    num_inputs: int
    inputs: _containers.RepeatedScalarFieldContainer[float]
    targets: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, num_inputs: _Optional[int] = ..., inputs: _Optional[_Iterable[float]] = ..., targets: _Optional[_Iterable[float]] = ...) -> None: ...

class Network(_message.Message):
    __slots__ = ("hidden_sizes", "activation", "no_hidden_layers")
    HIDDEN_SIZES_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    NO_HIDDEN_LAYERS_FIELD_NUMBER: _ClassVar[int]
    hidden_sizes: _containers.RepeatedScalarFieldContainer[int]
    activation: Activation
    no_hidden_layers: bool
    def __init__(self, hidden_sizes: _Optional[_Iterable[int]] = ..., activation: _Optional[_Union[Activation, str]] = ..., no_hidden_layers: _Optional[bool] = ...) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("name", "shape", "values")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, name: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class TrainRequest(_message.Message):
    __slots__ = ("gate", "truth_table", "examples", "network", "method", "loss", "reduction", "optimizer", "learning_rate", "momentum", "schedule", "batch_size", "steps", "init", "initial_weights", "seed", "early_stop", "margin", "restarts", "check_every", "name", "row_order", "curve_points", "learning_rate_scale")
    class LearningRateScaleEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    GATE_FIELD_NUMBER: _ClassVar[int]
    TRUTH_TABLE_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    INITIAL_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOP_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    CHECK_EVERY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROW_ORDER_FIELD_NUMBER: _ClassVar[int]
    CURVE_POINTS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_SCALE_FIELD_NUMBER: _ClassVar[int]
    gate: GateTask
    truth_table: TruthTableTask
    examples: ExamplesTask
    network: Network
    method: Method
    loss: Loss
    reduction: Reduction
    optimizer: Optimizer
    learning_rate: float
    momentum: float
    schedule: Schedule
    batch_size: int
    steps: int
    init: Init
    initial_weights: _containers.RepeatedCompositeFieldContainer[Tensor]
    seed: int
    early_stop: bool
    margin: float
    restarts: int
    check_every: int
    name: str
    row_order: _containers.RepeatedScalarFieldContainer[int]
    curve_points: int
    learning_rate_scale: _containers.ScalarMap[str, float]
    def __init__(self, gate: _Optional[_Union[GateTask, _Mapping]] = ..., truth_table: _Optional[_Union[TruthTableTask, _Mapping]] = ..., examples: _Optional[_Union[ExamplesTask, _Mapping]] = ..., network: _Optional[_Union[Network, _Mapping]] = ..., method: _Optional[_Union[Method, str]] = ..., loss: _Optional[_Union[Loss, str]] = ..., reduction: _Optional[_Union[Reduction, str]] = ..., optimizer: _Optional[_Union[Optimizer, str]] = ..., learning_rate: _Optional[float] = ..., momentum: _Optional[float] = ..., schedule: _Optional[_Union[Schedule, str]] = ..., batch_size: _Optional[int] = ..., steps: _Optional[int] = ..., init: _Optional[_Union[Init, str]] = ..., initial_weights: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., seed: _Optional[int] = ..., early_stop: _Optional[bool] = ..., margin: _Optional[float] = ..., restarts: _Optional[int] = ..., check_every: _Optional[int] = ..., name: _Optional[str] = ..., row_order: _Optional[_Iterable[int]] = ..., curve_points: _Optional[int] = ..., learning_rate_scale: _Optional[_Mapping[str, float]] = ...) -> None: ...

class TrainSummary(_message.Message):
    __slots__ = ("fit", "accuracy", "final_loss", "steps", "restarts", "restart_index", "restarts_fit", "seed_used", "margin_reached", "train_seconds", "stopped_by", "measured")
    FIT_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    FINAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    RESTART_INDEX_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIT_FIELD_NUMBER: _ClassVar[int]
    SEED_USED_FIELD_NUMBER: _ClassVar[int]
    MARGIN_REACHED_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STOPPED_BY_FIELD_NUMBER: _ClassVar[int]
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    fit: bool
    accuracy: float
    final_loss: float
    steps: int
    restarts: int
    restart_index: int
    restarts_fit: int
    seed_used: int
    margin_reached: float
    train_seconds: float
    stopped_by: str
    measured: bool
    def __init__(self, fit: _Optional[bool] = ..., accuracy: _Optional[float] = ..., final_loss: _Optional[float] = ..., steps: _Optional[int] = ..., restarts: _Optional[int] = ..., restart_index: _Optional[int] = ..., restarts_fit: _Optional[int] = ..., seed_used: _Optional[int] = ..., margin_reached: _Optional[float] = ..., train_seconds: _Optional[float] = ..., stopped_by: _Optional[str] = ..., measured: _Optional[bool] = ...) -> None: ...

class LossPoint(_message.Message):
    __slots__ = ("step", "loss")
    STEP_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    step: int
    loss: float
    def __init__(self, step: _Optional[int] = ..., loss: _Optional[float] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("model_id", "name", "spec", "summary", "loss_curve", "num_inputs", "created_at", "imported_from", "damage", "family")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    LOSS_CURVE_FIELD_NUMBER: _ClassVar[int]
    NUM_INPUTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FROM_FIELD_NUMBER: _ClassVar[int]
    DAMAGE_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    name: str
    spec: TrainRequest
    summary: TrainSummary
    loss_curve: _containers.RepeatedCompositeFieldContainer[LossPoint]
    num_inputs: int
    created_at: float
    imported_from: str
    damage: str
    family: FamilyInfo
    def __init__(self, model_id: _Optional[str] = ..., name: _Optional[str] = ..., spec: _Optional[_Union[TrainRequest, _Mapping]] = ..., summary: _Optional[_Union[TrainSummary, _Mapping]] = ..., loss_curve: _Optional[_Iterable[_Union[LossPoint, _Mapping]]] = ..., num_inputs: _Optional[int] = ..., created_at: _Optional[float] = ..., imported_from: _Optional[str] = ..., damage: _Optional[str] = ..., family: _Optional[_Union[FamilyInfo, _Mapping]] = ...) -> None: ...

class TrainProgress(_message.Message):
    __slots__ = ("step", "best_loss", "best_accuracy", "restarts_fit", "restarts")
    STEP_FIELD_NUMBER: _ClassVar[int]
    BEST_LOSS_FIELD_NUMBER: _ClassVar[int]
    BEST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIT_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    step: int
    best_loss: float
    best_accuracy: float
    restarts_fit: int
    restarts: int
    def __init__(self, step: _Optional[int] = ..., best_loss: _Optional[float] = ..., best_accuracy: _Optional[float] = ..., restarts_fit: _Optional[int] = ..., restarts: _Optional[int] = ...) -> None: ...

class TrainEvent(_message.Message):
    __slots__ = ("progress", "model")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    progress: TrainProgress
    model: ModelInfo
    def __init__(self, progress: _Optional[_Union[TrainProgress, _Mapping]] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("model", "inputs", "num_features")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    NUM_FEATURES_FIELD_NUMBER: _ClassVar[int]
    model: str
    inputs: _containers.RepeatedScalarFieldContainer[float]
    num_features: int
    def __init__(self, model: _Optional[str] = ..., inputs: _Optional[_Iterable[float]] = ..., num_features: _Optional[int] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("model_id", "probabilities", "labels")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    probabilities: _containers.RepeatedScalarFieldContainer[float]
    labels: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, model_id: _Optional[str] = ..., probabilities: _Optional[_Iterable[float]] = ..., labels: _Optional[_Iterable[int]] = ...) -> None: ...

class GetWeightsRequest(_message.Message):
    __slots__ = ("model", "include_safetensors")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SAFETENSORS_FIELD_NUMBER: _ClassVar[int]
    model: str
    include_safetensors: bool
    def __init__(self, model: _Optional[str] = ..., include_safetensors: _Optional[bool] = ...) -> None: ...

class GetWeightsResponse(_message.Message):
    __slots__ = ("model_id", "tensors", "spec", "safetensors")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SAFETENSORS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    tensors: _containers.RepeatedCompositeFieldContainer[Tensor]
    spec: TrainRequest
    safetensors: bytes
    def __init__(self, model_id: _Optional[str] = ..., tensors: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., spec: _Optional[_Union[TrainRequest, _Mapping]] = ..., safetensors: _Optional[bytes] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "name_prefix")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    name_prefix: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., name_prefix: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token", "total")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    next_page_token: str
    total: int
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class DeleteModelRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class DeleteModelResponse(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class ImportModelRequest(_message.Message):
    __slots__ = ("safetensors", "json", "name")
    SAFETENSORS_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    safetensors: bytes
    json: str
    name: str
    def __init__(self, safetensors: _Optional[bytes] = ..., json: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class TrainFamilyRequest(_message.Message):
    __slots__ = ("name", "inputs", "tables", "hidden", "width_min", "width_max", "classes", "recipe")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    WIDTH_MIN_FIELD_NUMBER: _ClassVar[int]
    WIDTH_MAX_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    RECIPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    inputs: int
    tables: _containers.RepeatedScalarFieldContainer[str]
    hidden: int
    width_min: int
    width_max: int
    classes: bool
    recipe: TrainRequest
    def __init__(self, name: _Optional[str] = ..., inputs: _Optional[int] = ..., tables: _Optional[_Iterable[str]] = ..., hidden: _Optional[int] = ..., width_min: _Optional[int] = ..., width_max: _Optional[int] = ..., classes: _Optional[bool] = ..., recipe: _Optional[_Union[TrainRequest, _Mapping]] = ...) -> None: ...

class FamilyProgress(_message.Message):
    __slots__ = ("width", "settled", "pending", "fit", "trained")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    SETTLED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    FIT_FIELD_NUMBER: _ClassVar[int]
    TRAINED_FIELD_NUMBER: _ClassVar[int]
    width: int
    settled: int
    pending: int
    fit: int
    trained: int
    def __init__(self, width: _Optional[int] = ..., settled: _Optional[int] = ..., pending: _Optional[int] = ..., fit: _Optional[int] = ..., trained: _Optional[int] = ...) -> None: ...

class FamilyMember(_message.Message):
    __slots__ = ("table", "width", "margin")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    table: str
    width: int
    margin: float
    def __init__(self, table: _Optional[str] = ..., width: _Optional[int] = ..., margin: _Optional[float] = ...) -> None: ...

class FamilyInfo(_message.Message):
    __slots__ = ("family_id", "name", "inputs", "functions", "fit", "fit_by_width", "widths", "classes", "seconds", "stopped_by", "recipe", "members", "created_at")
    class FitByWidthEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    FAMILY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    FIT_FIELD_NUMBER: _ClassVar[int]
    FIT_BY_WIDTH_FIELD_NUMBER: _ClassVar[int]
    WIDTHS_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    STOPPED_BY_FIELD_NUMBER: _ClassVar[int]
    RECIPE_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    family_id: str
    name: str
    inputs: int
    functions: int
    fit: int
    fit_by_width: _containers.ScalarMap[int, int]
    widths: _containers.RepeatedScalarFieldContainer[int]
    classes: int
    seconds: float
    stopped_by: str
    recipe: TrainRequest
    members: _containers.RepeatedCompositeFieldContainer[FamilyMember]
    created_at: float
    def __init__(self, family_id: _Optional[str] = ..., name: _Optional[str] = ..., inputs: _Optional[int] = ..., functions: _Optional[int] = ..., fit: _Optional[int] = ..., fit_by_width: _Optional[_Mapping[int, int]] = ..., widths: _Optional[_Iterable[int]] = ..., classes: _Optional[int] = ..., seconds: _Optional[float] = ..., stopped_by: _Optional[str] = ..., recipe: _Optional[_Union[TrainRequest, _Mapping]] = ..., members: _Optional[_Iterable[_Union[FamilyMember, _Mapping]]] = ..., created_at: _Optional[float] = ...) -> None: ...

class FamilyEvent(_message.Message):
    __slots__ = ("progress", "family")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    progress: FamilyProgress
    family: FamilyInfo
    def __init__(self, progress: _Optional[_Union[FamilyProgress, _Mapping]] = ..., family: _Optional[_Union[FamilyInfo, _Mapping]] = ...) -> None: ...
