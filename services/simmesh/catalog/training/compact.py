"""Training the compact CNN from scratch on the training images.

The input is what the embedder will feed the exported model: `preprocess(pictures, manifest)`
with the manifest built here (STRETCH to a square `input_size`, GRAY when every training image
is gray, `scale` 1/255 and the training images' per-channel mean and standard deviation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from simmesh.catalog.training.augment import AugmentPolicy, augment
from simmesh.catalog.training.data import PreparedSet
from simmesh.catalog.training.evaluate import retrieval
from simmesh.catalog.training.export import INPUT_NAME, OUTPUT_NAME, TrainedModel, checked, export_module
from simmesh.catalog.training.loop import Hooks, embed, fit
from simmesh.catalog.training.network import CompactCNN
from simmesh.catalog.training.options import Options
from simmesh.imaging.preprocess import preprocess
from simmesh_proto.v1 import embedder_pb2
from simmesh_proto.v1.embedder_pb2 import ModelManifest

FAMILY = "trained-cnn"
_SCALE = 1.0 / 255.0
# Channels whose pixels differ by at most this (of 255) in every training image count as gray.
_GRAY_TOLERANCE = 1.0


def input_manifest(pictures: Sequence[Image.Image], input_size: int, dimension: int) -> ModelManifest:
    """The manifest the training input is built with; its mean/std come from `pictures`."""
    manifest = ModelManifest(
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        input_width=input_size,
        input_height=input_size,
        layout=embedder_pb2.TENSOR_LAYOUT_NCHW,
        color_order=embedder_pb2.COLOR_ORDER_RGB,
        resize_policy=embedder_pb2.RESIZE_POLICY_STRETCH,
        scale=_SCALE,
        dimension=dimension,
        output_normalized=True,
        normalize=True,
        family=FAMILY,
    )
    rgb = preprocess(pictures, manifest)
    spread = np.abs(rgb - rgb.mean(axis=1, keepdims=True)).max() if len(rgb) else 0.0
    if spread <= _GRAY_TOLERANCE * _SCALE:
        manifest.color_order = embedder_pb2.COLOR_ORDER_GRAY
        rgb = preprocess(pictures, manifest)
    mean = rgb.mean(axis=(0, 2, 3), dtype=np.float64)
    std = np.maximum(rgb.std(axis=(0, 2, 3), dtype=np.float64), 1e-3)
    manifest.mean[:] = [float(m) for m in mean]
    manifest.std[:] = [float(s) for s in std]
    return manifest


def training_inputs(prepared: PreparedSet, options: Options) -> tuple[ModelManifest, torch.Tensor]:
    """The manifest and the un-augmented input of every picture, as the embedder will build it."""
    manifest = input_manifest([prepared.pictures[i] for i in prepared.train], options.input_size, options.dimension)
    return manifest, torch.from_numpy(preprocess(prepared.pictures, manifest))


def train_compact(prepared: PreparedSet, options: Options, hooks: Hooks) -> TrainedModel:
    """A CompactCNN trained on `prepared`'s training pictures and evaluated on its test pictures."""
    manifest, inputs = training_inputs(prepared, options)
    train_inputs, test_inputs = inputs[prepared.train], inputs[prepared.test]
    color = manifest.color_order != embedder_pb2.COLOR_ORDER_GRAY
    generator = torch.Generator().manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    related = torch.from_numpy(prepared.related)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        model = CompactCNN(inputs.shape[1], options.input_size, options.dimension)
    policy = AugmentPolicy()
    transform = (lambda batch: augment(batch, policy, generator, color)) if options.augment else None
    monitor = _monitor(model, prepared, train_inputs, test_inputs)
    loss = fit(model, train_inputs, prepared.groups[prepared.train], related, options, rng, hooks, monitor, transform)
    metrics = retrieval(embed(model, test_inputs), prepared.groups[prepared.test]) if len(test_inputs) else {}
    metrics["loss"] = loss
    onnx_bytes = export_module(model, train_inputs[:1])
    return TrainedModel(onnx=onnx_bytes, manifest=checked(onnx_bytes, manifest), metrics=metrics)


def _monitor(model: CompactCNN, prepared: PreparedSet, train_inputs: torch.Tensor, test_inputs: torch.Tensor):
    """recall@1 on the test pictures, or on (up to 1,000) training pictures when there are none."""
    if len(test_inputs):
        inputs, labels = test_inputs, prepared.groups[prepared.test]
    else:
        inputs, labels = train_inputs[:1000], prepared.groups[prepared.train][:1000]

    def metric() -> float:
        return retrieval(embed(model, inputs), labels, ks=(1,)).get("recall@1", 0.0)

    return metric
