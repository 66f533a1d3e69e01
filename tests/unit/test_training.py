"""Training custom similarity models: data checks, learning, determinism, export, frozen backbones."""

from __future__ import annotations

import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image, ImageDraw
from support.models import input_manifest, tiny_embedding_model, tiny_manifest

from simmesh.catalog.training import TrainingSet, one_shot_accuracy, prepare, retrieval, train
from simmesh.catalog.training.backbone import backbone_features, merge
from simmesh.catalog.training.compact import training_inputs
from simmesh.catalog.training.export import export_module
from simmesh.catalog.training.loop import embed
from simmesh.catalog.training.network import CompactCNN, ProjectionHead
from simmesh.catalog.training.options import resolve
from simmesh.imaging.decode import decode
from simmesh.imaging.manifest import validate
from simmesh.imaging.preprocess import preprocess
from simmesh.kit.errors import Cancelled, FailedPrecondition, InvalidArgument
from simmesh_proto.v1 import catalog_pb2, embedder_pb2

SHAPES = ("ellipse", "rectangle", "triangle")
COLOURS = ((200, 40, 40), (40, 60, 200))


@pytest.fixture(autouse=True)
def _one_thread():
    """These networks are tiny: a second thread only adds synchronisation (and, on a busy machine,
    spinning); one keeps the tests fast and the timings steady."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shape_image(shape: str, colour: tuple[int, int, int], rng: np.random.Generator, size: int = 32) -> Image.Image:
    """A filled shape at a jittered place and size on a noisy light background."""
    background = rng.integers(200, 256, (size, size, 3), dtype=np.uint8)
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)
    half = rng.uniform(0.25, 0.4) * size
    cx, cy = size / 2 + rng.uniform(-4, 4), size / 2 + rng.uniform(-4, 4)
    box = (cx - half, cy - half, cx + half, cy + half)
    tint = tuple(int(np.clip(c + rng.integers(-30, 31), 0, 255)) for c in colour)
    if shape == "ellipse":
        draw.ellipse(box, fill=tint)
    elif shape == "rectangle":
        draw.rectangle(box, fill=tint)
    else:
        draw.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=tint)
    return image


def shapes_set(per_group: int, seed: int) -> tuple[list[Image.Image], list[int]]:
    """Six groups (3 shapes x 2 colours), `per_group` images each."""
    rng = np.random.default_rng(seed)
    images, groups = [], []
    for g, (shape, colour) in enumerate((s, c) for s in SHAPES for c in COLOURS):
        for _ in range(per_group):
            images.append(shape_image(shape, colour, rng))
            groups.append(g)
    return images, groups


def pattern_set(groups: int, per_group: int, seed: int) -> tuple[list[Image.Image], list[int]]:
    """One random 6x6 gray pattern per group, upscaled, shifted a little and noised per image."""
    rng = np.random.default_rng(seed)
    patterns = [rng.integers(0, 256, (6, 6), dtype=np.uint8) for _ in range(groups)]
    images, labels = [], []
    for g, pattern in enumerate(patterns):
        big = np.asarray(Image.fromarray(pattern, "L").resize((24, 24), Image.Resampling.NEAREST), dtype=np.float32)
        for _ in range(per_group):
            dx, dy = rng.integers(-2, 3, 2)
            shifted = np.roll(big, (int(dy), int(dx)), axis=(0, 1)) + rng.normal(0, 20, big.shape)
            images.append(Image.fromarray(np.clip(shifted, 0, 255).astype(np.uint8), "L"))
            labels.append(g)
    return images, labels


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def small_config(**overrides) -> catalog_pb2.TrainingConfig:
    values = dict(
        backbone=catalog_pb2.BACKBONE_COMPACT_CNN,
        input_size=16,
        embedding_dimension=32,
        epochs=25,
        batch_size=32,
        augment=True,
        seed=7,
    )
    values.update(overrides)
    return catalog_pb2.TrainingConfig(**values)


def onnx_embed(model, images: list[Image.Image]) -> np.ndarray:
    session = ort.InferenceSession(model.onnx, providers=["CPUExecutionProvider"])
    m = model.manifest
    return session.run([m.output_name], {m.input_name: preprocess(images, m)})[0]


# -- learning ---------------------------------------------------------------------------------


def test_training_separates_groups_better_than_an_untrained_network():
    images, groups = shapes_set(per_group=12, seed=0)
    model = train(
        TrainingSet(images=[png(i) for i in images], image_groups=groups, group_parents=[[]] * 6), small_config()
    )
    fresh, fresh_groups = shapes_set(per_group=8, seed=1)
    trained = retrieval(onnx_embed(model, fresh), np.asarray(fresh_groups))

    prepared = prepare(TrainingSet(images=images, image_groups=groups, group_parents=[[]] * 6))
    torch.manual_seed(7)
    untrained_net = CompactCNN(3, 16, 32)
    options = resolve(small_config())
    manifest, _ = training_inputs(prepared, options)
    untrained = retrieval(embed(untrained_net, torch.from_numpy(preprocess(fresh, manifest))), np.asarray(fresh_groups))

    assert trained["map@r"] > untrained["map@r"] + 0.2
    assert trained["recall@1"] >= 0.9
    assert model.manifest.color_order == embedder_pb2.COLOR_ORDER_RGB
    assert model.seconds > 0 and model.metrics["training_groups"] == 6 and model.metrics["epochs"] == 25


def test_test_groups_are_held_out_and_scored():
    images, groups = shapes_set(per_group=10, seed=2)
    model = train(
        TrainingSet(images=images, image_groups=groups, group_parents=[[]] * 6, test_groups={4, 5}),
        small_config(epochs=10),
    )
    assert model.metrics["test_groups"] == 2 and model.metrics["training_groups"] == 4
    assert model.metrics["test_images"] == 20 and model.metrics["training_images"] == 40
    assert {"recall@1", "recall@5", "map@r"} <= set(model.metrics)
    assert 0.0 <= model.metrics["map@r"] <= model.metrics["recall@5"] <= 1.0


def test_training_is_deterministic_for_a_seed():
    images, groups = pattern_set(groups=4, per_group=6, seed=3)
    data = TrainingSet(images=images, image_groups=groups, group_parents=[[]] * 4)
    first, second = (train(data, small_config(epochs=4)) for _ in range(2))
    other = train(data, small_config(epochs=4, seed=8))
    assert np.array_equal(onnx_embed(first, images), onnx_embed(second, images))
    assert first.metrics["loss"] == second.metrics["loss"]
    assert not np.allclose(onnx_embed(first, images), onnx_embed(other, images))


def test_groups_sharing_a_parent_end_closer_than_unrelated_groups():
    images, groups = pattern_set(groups=6, per_group=8, seed=4)
    # groups 0-2 under group 6, groups 3-5 under group 7; the patterns themselves are unrelated.
    parents = [[6], [6], [6], [7], [7], [7], [], []]
    model = train(
        TrainingSet(images=images, image_groups=groups, group_parents=parents),
        small_config(epochs=30, parent_weight=0.5, augment=False),
    )
    vectors = onnx_embed(model, images)
    labels = np.asarray(groups)
    centroids = np.stack([vectors[labels == g].mean(axis=0) for g in range(6)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    similarity = centroids @ centroids.T
    family = np.arange(6) // 3
    sibling = (family[:, None] == family[None, :]) & ~np.eye(6, dtype=bool)
    unrelated = family[:, None] != family[None, :]
    assert similarity[sibling].mean() > similarity[unrelated].mean() + 0.2
    # ...and each group stays tighter than its siblings: the fine level still wins.
    own = np.array([(vectors[labels == g] @ centroids[g]).mean() for g in range(6)])
    assert own.min() > similarity[sibling].max()


# -- progress and cancellation ----------------------------------------------------------------


def test_progress_is_reported_every_epoch_and_training_can_be_cancelled():
    images, groups = pattern_set(groups=3, per_group=4, seed=5)
    data = TrainingSet(images=images, image_groups=groups, group_parents=[[]] * 3)
    seen = []
    train(data, small_config(epochs=3), on_progress=lambda *args: seen.append(args))
    assert [(e, n) for e, n, _, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(np.isfinite(loss) and 0.0 <= metric <= 1.0 for _, _, loss, metric in seen)

    calls = []
    with pytest.raises(Cancelled) as error:
        train(data, small_config(epochs=3), should_stop=lambda: calls.append(1) or len(calls) > 2)
    assert error.value.reason == "TRAINING_CANCELLED"


# -- export -----------------------------------------------------------------------------------


def test_export_passes_validation_and_onnx_runtime_matches_torch():
    torch.manual_seed(0)
    net = CompactCNN(1, 28, 64)
    net.train()
    with torch.no_grad():
        for _ in range(3):  # non-trivial batch-norm statistics
            net(torch.randn(16, 1, 28, 28) * 2 + 0.5)
    net.eval()
    data = export_module(net, torch.zeros(1, 1, 28, 28))
    assert onnx.load_model_from_string(data).ir_version <= 10
    manifest = input_manifest(
        28, color_order=embedder_pb2.COLOR_ORDER_GRAY, resize_policy=embedder_pb2.RESIZE_POLICY_STRETCH, scale=1 / 255
    )
    assert validate(manifest, data).dimension == 64
    x = torch.randn(5, 1, 28, 28)
    ours = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(["embedding"], {"input": x.numpy()})[0]
    with torch.no_grad():
        reference = net(x).numpy()
    assert np.abs(ours - reference).max() < 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_trained_model_is_valid_and_preprocess_reproduces_the_training_input():
    images, groups = pattern_set(groups=3, per_group=4, seed=6)
    encoded = [png(i) for i in images]
    config = small_config(epochs=2, input_size=20)
    model = train(TrainingSet(images=encoded, image_groups=groups, group_parents=[[]] * 3), config)
    assert validate(model.manifest, model.onnx).dimension == 32
    m = model.manifest
    assert (m.family, m.output_normalized, m.dimension) == ("trained-cnn", True, 32)
    assert (m.input_width, m.input_height, m.color_order) == (20, 20, embedder_pb2.COLOR_ORDER_GRAY)
    assert m.resize_policy == embedder_pb2.RESIZE_POLICY_STRETCH and len(m.mean) == len(m.std) == 1

    prepared = prepare(TrainingSet(images=encoded, image_groups=groups, group_parents=[[]] * 3))
    manifest, inputs = training_inputs(prepared, resolve(config))
    assert manifest == m
    served = preprocess([decode(e) for e in encoded], m)  # what the embedder builds at serving time
    assert np.array_equal(served, inputs.numpy())
    assert abs(float(served.mean())) < 1e-3 and abs(float(served.std()) - 1.0) < 1e-2


# -- bad training sets ------------------------------------------------------------------------


def _images(n: int) -> list[Image.Image]:
    return pattern_set(groups=1, per_group=n, seed=9)[0]


@pytest.mark.parametrize(
    "training_set, error, reason, field",
    [
        (
            TrainingSet(_images(3), [0, 0], [[], []]),
            InvalidArgument,
            "TRAINING_SET_MISMATCH",
            "training_set.image_groups",
        ),
        (
            TrainingSet(_images(4), [0, 0, 1, 5], [[], []]),
            InvalidArgument,
            "INVALID_GROUP_INDEX",
            "training_set.image_groups[3]",
        ),
        (
            TrainingSet(_images(4), [0, 0, 1, 1], [[3], []]),
            InvalidArgument,
            "INVALID_GROUP_INDEX",
            "training_set.group_parents[0]",
        ),
        (TrainingSet(_images(4), [0, 0, 1, 1], [[2], [2], [3], [2]]), InvalidArgument, "GROUP_CYCLE", None),
        (
            TrainingSet(_images(4), [0, 0, 1, 1], [[1], []]),
            InvalidArgument,
            "GROUP_HOLDS_IMAGES_AND_GROUPS",
            "training_set.group_parents[0]",
        ),
        (
            TrainingSet(_images(4), [0, 0, 1, 1], [[], []], test_groups={2}),
            InvalidArgument,
            "INVALID_GROUP_INDEX",
            "training_set.test_groups",
        ),
        (TrainingSet(_images(4), [0, 0, 0, 0], [[], []]), FailedPrecondition, "NEED_MORE_GROUPS", None),
        (
            TrainingSet(_images(4), [0, 0, 1, 1], [[2], [2], []], test_groups={2}),
            FailedPrecondition,
            "NEED_MORE_GROUPS",
            None,
        ),
        (TrainingSet(_images(3), [0, 1, 2], [[], [], []]), FailedPrecondition, "NEED_MORE_SAMPLES", None),
        (
            TrainingSet([*_images(3), b"not an image"], [0, 0, 1, 1], [[], []]),
            InvalidArgument,
            "IMAGE_UNDECODABLE",
            "training_set.images[3]",
        ),
    ],
)
def test_bad_training_sets_get_precise_errors(training_set, error, reason, field):
    with pytest.raises(error) as raised:
        train(training_set, small_config(epochs=1))
    assert raised.value.reason == reason
    if field is not None:
        assert raised.value.violations[0][0] == field


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(parent_weight=1.5), "training_config.parent_weight"),
        (dict(input_size=8), "training_config.input_size"),
        (dict(batch_size=1), "training_config.batch_size"),
        (dict(epochs=-1), "training_config.epochs"),
        (dict(embedding_dimension=-3), "training_config.embedding_dimension"),
        (dict(learning_rate=-0.1), "training_config.learning_rate"),
    ],
)
def test_bad_configs_name_the_field(overrides, field):
    images, groups = pattern_set(groups=2, per_group=2, seed=10)
    with pytest.raises(InvalidArgument) as raised:
        train(TrainingSet(images, groups, [[], []]), small_config(**overrides))
    assert raised.value.reason == "INVALID_TRAINING_CONFIG" and raised.value.violations[0][0] == field


def test_an_imported_backbone_must_be_given():
    images, groups = pattern_set(groups=2, per_group=2, seed=11)
    with pytest.raises(InvalidArgument) as raised:
        train(TrainingSet(images, groups, [[], []]), small_config(backbone=catalog_pb2.BACKBONE_IMPORTED))
    assert raised.value.reason == "BACKBONE_REQUIRED"


def test_single_image_groups_are_accepted_as_negatives():
    images, groups = pattern_set(groups=3, per_group=2, seed=12)
    model = train(TrainingSet(images[:5], groups[:5], [[], [], []]), small_config(epochs=2))
    assert model.metrics["training_groups"] == 3


# -- frozen imported backbone -----------------------------------------------------------------


def test_frozen_backbone_head_is_merged_into_one_graph_equal_to_backbone_then_head():
    backbone, manifest = tiny_embedding_model(size=16, dimension=24), tiny_manifest(size=16, dimension=24)
    images, _groups = shapes_set(per_group=8, seed=13)
    torch.manual_seed(0)
    features = torch.from_numpy(backbone_features(backbone, manifest, images))
    head = ProjectionHead(features.mean(dim=0), features.std(dim=0), dimension=16)
    merged, merged_manifest = merge(backbone, manifest, head)

    assert validate(merged_manifest, merged).dimension == 16
    assert merged_manifest.input_name.startswith("backbone/") and merged_manifest.output_name.startswith("head/")
    assert onnx.load_model_from_string(merged).ir_version <= 10
    session = ort.InferenceSession(merged, providers=["CPUExecutionProvider"])
    ours = session.run(
        [merged_manifest.output_name], {merged_manifest.input_name: preprocess(images, merged_manifest)}
    )[0]
    with torch.no_grad():
        reference = head(features).numpy()
    assert np.abs(ours - reference).max() < 1e-4


def test_training_a_head_on_a_frozen_backbone():
    backbone, manifest = tiny_embedding_model(size=16, dimension=24), tiny_manifest(size=16, dimension=24)
    images, groups = shapes_set(per_group=10, seed=14)
    config = catalog_pb2.TrainingConfig(
        backbone=catalog_pb2.BACKBONE_IMPORTED, embedding_dimension=16, epochs=40, batch_size=32, seed=3
    )
    model = train(TrainingSet(images, groups, [[]] * 6, test_groups={5}), config, backbone=(backbone, manifest))
    m = model.manifest
    assert (m.family, m.output_normalized, m.dimension) == ("trained-head", True, 16)
    assert (m.input_width, m.color_order, m.scale) == (manifest.input_width, manifest.color_order, manifest.scale)
    validate(m, model.onnx)
    fresh, fresh_groups = shapes_set(per_group=6, seed=15)
    raw = backbone_features(backbone, manifest, fresh)
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    labels = np.asarray(fresh_groups)
    assert retrieval(onnx_embed(model, fresh), labels)["map@r"] > retrieval(raw, labels)["map@r"]


def test_one_shot_accuracy_of_perfect_and_useless_embeddings():
    labels = np.repeat(np.arange(10), 2)
    perfect = np.eye(10, dtype=np.float32)[labels]
    assert one_shot_accuracy(perfect, labels, ways=5, trials=4, rng=np.random.default_rng(0)) == 1.0
    constant = np.ones((20, 3), dtype=np.float32)
    assert one_shot_accuracy(constant, labels, ways=5, trials=4, rng=np.random.default_rng(0)) == pytest.approx(0.2)
