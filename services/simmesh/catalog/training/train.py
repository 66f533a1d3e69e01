"""The one entry point: a training set and a `TrainingConfig` in, an ONNX model version out."""

from __future__ import annotations

import time

from simmesh.catalog.training.backbone import train_imported
from simmesh.catalog.training.compact import train_compact
from simmesh.catalog.training.data import TrainingSet, prepare
from simmesh.catalog.training.export import TrainedModel
from simmesh.catalog.training.generic import train_generic_tuned
from simmesh.catalog.training.loop import Hooks, Progress, StopCheck
from simmesh.catalog.training.options import resolve
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh_proto.v1 import catalog_pb2
from simmesh_proto.v1.embedder_pb2 import ModelManifest

# Backbones that train a head on a registry model's features.
ON_REGISTRY_MODEL = (catalog_pb2.BACKBONE_IMPORTED, catalog_pb2.BACKBONE_GENERIC)


def train(
    training_set: TrainingSet,
    config: catalog_pb2.TrainingConfig,
    *,
    on_progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    backbone: tuple[bytes, ModelManifest] | None = None,
) -> TrainedModel:
    """Trains one model version. Blocks (minutes): run it off the event loop.

    `backbone` (the registry model's ONNX bytes and manifest) is required when `config.backbone`
    is BACKBONE_IMPORTED or BACKBONE_GENERIC and ignored otherwise. A generic backbone with
    `tune_last_block` trains the trunk's last block in torch (the manifest gives the preprocessing).
    Metrics: `recall@1`, `recall@5`, `map@r` on the test groups (when a test image has another
    image of its group), `loss` (the last epoch's), `epochs`, `training_images`, `training_groups`,
    `test_images`, `test_groups`.
    """
    started = time.monotonic()
    options = resolve(config)
    if options.backbone in ON_REGISTRY_MODEL and backbone is None:
        raise InvalidArgument(
            "this backbone needs the backbone model (training_config.backbone_model)",
            reason=reasons.BACKBONE_REQUIRED,
            field="training_config.backbone_model",
        )
    prepared = prepare(training_set)
    hooks = Hooks(on_progress=on_progress, should_stop=should_stop)
    if options.backbone == catalog_pb2.BACKBONE_GENERIC and options.tune_last_block:
        assert backbone is not None
        model = train_generic_tuned(prepared, options, backbone[1], hooks)
    elif options.backbone in ON_REGISTRY_MODEL:
        assert backbone is not None
        model = train_imported(prepared, options, backbone[0], backbone[1], hooks)
    else:
        model = train_compact(prepared, options, hooks)
    metrics = dict(model.metrics)
    metrics.update(
        epochs=float(options.epochs),
        training_images=float(len(prepared.train)),
        training_groups=float(prepared.train_groups),
        test_images=float(len(prepared.test)),
        test_groups=float(prepared.test_groups),
    )
    return TrainedModel(onnx=model.onnx, manifest=model.manifest, metrics=metrics, seconds=time.monotonic() - started)
