"""Training on the built-in `generic` model's trunk: which registry model a config trains on, and
tuning the trunk's last block into one graph from pixels to embedding."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from simmesh.catalog.backbones import backbone_name
from simmesh.catalog.training import TrainingSet, train
from simmesh.embedder.builtin import BUILTIN_MODELS
from simmesh.imaging.preprocess import preprocess
from simmesh.kit.errors import InvalidArgument
from simmesh_client.cli import build_parser
from simmesh_client.verbs.training_config import training_config
from simmesh_proto.v1 import catalog_pb2

GENERIC = catalog_pb2.BACKBONE_GENERIC


@pytest.mark.parametrize(
    ("config", "name"),
    [
        (catalog_pb2.TrainingConfig(backbone=GENERIC), "models/generic"),
        (catalog_pb2.TrainingConfig(backbone=GENERIC, backbone_model="models/generic/versions/2"), None),
        (catalog_pb2.TrainingConfig(backbone=catalog_pb2.BACKBONE_IMPORTED, backbone_model="models/mine"), None),
        (catalog_pb2.TrainingConfig(backbone=catalog_pb2.BACKBONE_COMPACT_CNN), ""),
    ],
    ids=["generic-default", "generic-version", "imported", "compact"],
)
def test_the_backbone_model_a_config_trains_on(config, name):
    expected = config.backbone_model if name is None else (name or None)
    assert backbone_name(config) == expected


@pytest.mark.parametrize(
    ("config", "reason", "field"),
    [
        (
            catalog_pb2.TrainingConfig(backbone=GENERIC, backbone_model="models/match"),
            "INVALID_TRAINING_CONFIG",
            "training_config.backbone_model",
        ),
        (catalog_pb2.TrainingConfig(backbone=catalog_pb2.BACKBONE_IMPORTED), "BACKBONE_REQUIRED", None),
    ],
    ids=["generic-names-another-model", "imported-without-model"],
)
def test_a_backbone_naming_the_wrong_model_is_refused(config, reason, field):
    with pytest.raises(InvalidArgument) as raised:
        backbone_name(config)
    assert raised.value.reason == reason
    assert raised.value.violations[0][0] == (field or "training_config.backbone_model")


def test_tune_last_block_is_only_for_the_generic_backbone():
    images = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(4)]
    config = catalog_pb2.TrainingConfig(backbone=catalog_pb2.BACKBONE_COMPACT_CNN, tune_last_block=True)
    with pytest.raises(InvalidArgument) as raised:
        train(TrainingSet(images, [0, 0, 1, 1], [[], []]), config)
    assert raised.value.violations[0][0] == "training_config.tune_last_block"


def _photos(groups: int, per_group: int, seed: int) -> tuple[list[Image.Image], list[int]]:
    """Per group one smooth random colour field, seen through jittered crops."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for g in range(groups):
        field = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((96, 96), Image.BILINEAR)
        for _ in range(per_group):
            x, y = rng.integers(0, 24, 2)
            images.append(field.crop((int(x), int(y), int(x) + 72, int(y) + 72)))
            labels.append(g)
    return images, labels


def test_tuning_the_last_block_exports_one_graph_that_runs_from_pixels():
    images, groups = _photos(groups=4, per_group=3, seed=1)
    manifest = BUILTIN_MODELS["generic"].manifest()
    config = catalog_pb2.TrainingConfig(
        backbone=GENERIC, tune_last_block=True, embedding_dimension=16, epochs=2, batch_size=8, seed=2
    )
    model = train(TrainingSet(images, groups, [[]] * 4, test_groups={3}), config, backbone=(b"", manifest))
    assert model.manifest.dimension == 16 and model.manifest.family == "trained-generic"
    assert model.manifest.resize_shorter_side == manifest.resize_shorter_side
    assert list(model.manifest.mean) == list(manifest.mean)
    assert {"recall@1", "loss", "test_images"} <= set(model.metrics) and model.metrics["test_images"] == 3
    session = ort.InferenceSession(model.onnx, providers=["CPUExecutionProvider"])
    x = preprocess(images[:4], model.manifest)
    vectors = session.run([model.manifest.output_name], {model.manifest.input_name: x})[0]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_simctl_flags_select_the_generic_backbone_and_its_tuned_block():
    args = build_parser().parse_args(["tasks", "create", "shoes", "--backbone", "generic", "--tune-last-block"])
    config = training_config(args)
    assert config.backbone == GENERIC and config.tune_last_block and not config.backbone_model
