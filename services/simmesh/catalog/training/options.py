"""A `TrainingConfig` with its zero values replaced by the trainer's defaults, and checked."""

from __future__ import annotations

from dataclasses import dataclass

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh_proto.v1 import catalog_pb2

DEFAULT_SEED = 1
DEFAULT_DIMENSION = 128
DEFAULT_INPUT_SIZE = 64
DEFAULT_PARENT_WEIGHT = 0.1
DEFAULT_BATCH_SIZE = 128
# Per backbone: (epochs, learning rate).
DEFAULTS = {
    catalog_pb2.BACKBONE_COMPACT_CNN: (40, 2e-3),
    catalog_pb2.BACKBONE_IMPORTED: (60, 1e-3),
    catalog_pb2.BACKBONE_GENERIC: (60, 1e-3),
}
MAX_DIMENSION = 4096
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 16, 256
MAX_EPOCHS = 10_000


@dataclass(frozen=True)
class Options:
    backbone: catalog_pb2.Backbone
    dimension: int
    epochs: int
    batch_size: int
    learning_rate: float
    input_size: int
    parent_weight: float
    augment: bool
    seed: int
    tune_last_block: bool = False
    weight_decay: float = 0.01
    temperature: float = 0.1
    per_group: int = 4


def resolve(config: catalog_pb2.TrainingConfig) -> Options:
    """The options `config` asks for; a value out of range raises INVALID_ARGUMENT naming it."""
    backbone = config.backbone or catalog_pb2.BACKBONE_COMPACT_CNN
    if backbone not in DEFAULTS:
        _bad("backbone", f"backbone {config.backbone} is not COMPACT_CNN, IMPORTED or GENERIC")
    epochs, learning_rate = DEFAULTS[backbone]
    if not 0 <= config.embedding_dimension <= MAX_DIMENSION:
        _bad(
            "embedding_dimension",
            f"embedding_dimension must be 1..{MAX_DIMENSION} (0 = {DEFAULT_DIMENSION}), "
            f"got {config.embedding_dimension}",
        )
    if not 0 <= config.epochs <= MAX_EPOCHS:
        _bad("epochs", f"epochs must be 1..{MAX_EPOCHS} (0 = the default), got {config.epochs}")
    if config.batch_size < 0 or config.batch_size == 1:
        _bad("batch_size", f"batch_size must be at least 2 (0 = {DEFAULT_BATCH_SIZE}), got {config.batch_size}")
    if not (config.learning_rate >= 0 and config.learning_rate < 1):
        _bad("learning_rate", f"learning_rate must be in (0, 1) (0 = the default), got {config.learning_rate}")
    if config.tune_last_block and backbone != catalog_pb2.BACKBONE_GENERIC:
        _bad("tune_last_block", "tune_last_block applies to the GENERIC backbone only")
    if config.input_size and not MIN_INPUT_SIZE <= config.input_size <= MAX_INPUT_SIZE:
        _bad(
            "input_size",
            f"input_size must be {MIN_INPUT_SIZE}..{MAX_INPUT_SIZE} (0 = {DEFAULT_INPUT_SIZE}), "
            f"got {config.input_size}",
        )
    if not (0 <= config.parent_weight <= 1):
        _bad(
            "parent_weight", f"parent_weight must be in 0..1 (0 = {DEFAULT_PARENT_WEIGHT}), got {config.parent_weight}"
        )
    return Options(
        backbone=backbone,
        dimension=config.embedding_dimension or DEFAULT_DIMENSION,
        epochs=config.epochs or epochs,
        batch_size=config.batch_size or DEFAULT_BATCH_SIZE,
        learning_rate=config.learning_rate or learning_rate,
        input_size=config.input_size or DEFAULT_INPUT_SIZE,
        parent_weight=config.parent_weight or DEFAULT_PARENT_WEIGHT,
        augment=config.augment,
        seed=config.seed or DEFAULT_SEED,
        tune_last_block=config.tune_last_block,
    )


def _bad(field: str, message: str) -> None:
    raise InvalidArgument(message, reason=reasons.INVALID_TRAINING_CONFIG, field=f"training_config.{field}")
