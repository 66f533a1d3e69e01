"""Training custom similarity models from similarity groups (the catalog's TrainTask).

    from simmesh.catalog.training import TrainingSet, train

    model = train(TrainingSet(images, image_groups, group_parents, test_groups),
                  catalog_pb2.TrainingConfig(augment=True),
                  on_progress=lambda epoch, epochs, loss, metric: ...,
                  should_stop=lambda: cancelled.is_set())
    model.onnx, model.manifest, model.metrics, model.seconds

Two backbones: a compact CNN trained from scratch (`compact`), or a frozen imported ONNX model
with a trained projection head merged into one graph (`backbone`). Both learn with a
hierarchical supervised-contrastive loss (`loss`) on class-balanced batches (`sampler`).
"""

from simmesh.catalog.training.data import PreparedSet, TrainingSet, prepare
from simmesh.catalog.training.evaluate import nearest_neighbour_accuracy, one_shot_accuracy, retrieval
from simmesh.catalog.training.export import TrainedModel
from simmesh.catalog.training.train import train

__all__ = [
    "PreparedSet",
    "TrainedModel",
    "TrainingSet",
    "nearest_neighbour_accuracy",
    "one_shot_accuracy",
    "prepare",
    "retrieval",
    "train",
]
