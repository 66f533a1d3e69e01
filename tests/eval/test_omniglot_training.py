"""Training quality on real data: Omniglot one-shot with the compact CNN, MobileNetV2 as a frozen backbone."""

from __future__ import annotations

import io

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from support.bench import bench_module

from simmesh.catalog.training import TrainingSet, prepare, retrieval
from simmesh.catalog.training.backbone import TOLERANCE, backbone_features, merge, train_head
from simmesh.catalog.training.loop import Hooks, embed
from simmesh.catalog.training.options import resolve
from simmesh.imaging.manifest import validate
from simmesh.imaging.preprocess import preprocess
from simmesh_proto.v1 import catalog_pb2

pytestmark = pytest.mark.slow

MAX_ERROR = 0.25
MAX_SECONDS = 15 * 60


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_compact_cnn_recognises_an_unseen_alphabet_from_one_example(omniglot_zip, two_threads):
    bench = bench_module("omniglot_similarity")
    held_out = list(bench.load_alphabets(omniglot_zip))[-1]
    result = bench.run(omniglot_zip, held_out)
    print("\n" + bench.table([result]))
    assert result.error <= MAX_ERROR, f"{bench.WAYS}-way one-shot error {result.error:.1%} on {held_out}"
    assert result.seconds <= MAX_SECONDS
    assert result.error < result.baseline_error - 0.4  # far better than nearest pixels
    assert result.recall_at_1 > result.baseline_recall_at_1


def test_mobilenet_v2_frozen_backbone_with_a_trained_head(omniglot_zip, mobilenet_v2_onnx, two_threads):
    """A head on MobileNetV2 features of 24 Korean characters (5 drawings each to train on, 3 others
    to score): the merged graph equals backbone-then-head and ranks unseen drawings better than the
    backbone's own embedding."""
    alphabets = bench_module("omniglot_similarity").load_alphabets(omniglot_zip)
    characters = list(alphabets["Korean"].values())[:24]
    train_images, train_groups, fresh_images, fresh_groups = [], [], [], []
    for group, drawings in enumerate(characters):
        for i, drawing in enumerate(drawings[:8]):
            picture = Image.open(io.BytesIO(drawing)).convert("RGB")
            (train_images if i < 5 else fresh_images).append(picture)
            (train_groups if i < 5 else fresh_groups).append(group)
    backbone, manifest = mobilenet_v2_onnx.read_bytes(), bench_module("_pretrained").mobilenet_v2_manifest()
    prepared = prepare(TrainingSet(train_images, train_groups, [[]] * len(characters)))
    options = resolve(
        catalog_pb2.TrainingConfig(
            backbone=catalog_pb2.BACKBONE_IMPORTED, embedding_dimension=128, epochs=60, batch_size=64, seed=1
        )
    )
    features = torch.from_numpy(backbone_features(backbone, manifest, prepared.pictures))
    head, _ = train_head(features, prepared.groups, prepared.related, options, Hooks())
    merged, merged_manifest = merge(backbone, manifest, head)

    checked = validate(merged_manifest, merged)
    assert (checked.dimension, checked.family, checked.output_normalized) == (128, "trained-head", True)
    fresh_features = backbone_features(backbone, manifest, fresh_images)
    session = ort.InferenceSession(merged, providers=["CPUExecutionProvider"])
    vectors = session.run(
        [merged_manifest.output_name], {merged_manifest.input_name: preprocess(fresh_images, merged_manifest)}
    )[0]
    reference = embed(head, torch.from_numpy(fresh_features))
    assert np.abs(vectors - reference).max() < TOLERANCE

    labels = np.asarray(fresh_groups)
    raw = fresh_features / np.linalg.norm(fresh_features, axis=1, keepdims=True)
    assert retrieval(vectors, labels)["map@r"] > retrieval(raw, labels)["map@r"]
