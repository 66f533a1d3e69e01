"""Training the generic trunk's last block with a projection head, exported with the rest of the trunk as one graph.

The trunk (`simmesh.pretrained.generic`, the built-in model's pretrained EfficientNet-Lite0) is
split before its last block. The frozen part runs once over every picture, fed as the embedder
feeds the built-in model (`preprocess` with its manifest); the last block, the 1x1 head
convolution and a `ProjectionHead` are then trained on those activations. Batch norm keeps the
pretrained statistics. The export is the whole chain, frozen part included, from pixels to the
L2-normalised embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from simmesh.catalog.training.backbone import check_exported
from simmesh.catalog.training.data import PreparedSet
from simmesh.catalog.training.evaluate import retrieval
from simmesh.catalog.training.export import INPUT_NAME, OUTPUT_NAME, TrainedModel, checked, export_module
from simmesh.catalog.training.loop import Hooks, embed, fit
from simmesh.catalog.training.network import ProjectionHead
from simmesh.catalog.training.options import Options
from simmesh.imaging.preprocess import preprocess
from simmesh.pretrained.generic import generic_trunk
from simmesh_proto.v1.embedder_pb2 import ModelManifest

FAMILY = "trained-generic"
# Learning rate of the tuned block relative to the head's: the pretrained weights move slowly.
BLOCK_LR_FACTOR = 0.1
_BATCH = 32
_CHECK_IMAGES = 4


class FrozenStem(nn.Module):
    """The trunk up to (not including) its last block: stem and every earlier block."""

    conv_stem: nn.Module
    bn0: nn.Module
    swish: nn.Module

    def __init__(self, network: Any) -> None:
        super().__init__()
        self.conv_stem, self.bn0, self.swish = network._conv_stem, network._bn0, network._swish
        self.blocks = nn.ModuleList(list(network._blocks)[:-1])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.swish(self.bn0(self.conv_stem(image)))
        for block in self.blocks:
            x = block(x)
        return x


class TunedTail(nn.Module):
    """The last block, the head convolution and average pooling, then the projection head."""

    block: nn.Module
    conv_head: nn.Module
    bn1: nn.Module
    swish: nn.Module

    def __init__(self, network: Any, head: ProjectionHead | None = None) -> None:
        super().__init__()
        self.block = network._blocks[-1]
        self.conv_head, self.bn1, self.swish = network._conv_head, network._bn1, network._swish
        self.head = head

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.swish(self.bn1(self.conv_head(self.block(x)))).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.head is not None
        return self.head(self.pooled(x))

    def train(self, mode: bool = True) -> TunedTail:
        super().train(mode)
        self.bn1.eval()
        for module in self.block.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self


def frozen_activations(stem: FrozenStem, manifest: ModelManifest, pictures: Sequence[Image.Image]) -> torch.Tensor:
    """The frozen part's output for every picture, preprocessed as `manifest` says."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(pictures), _BATCH):
            rows.append(stem(torch.from_numpy(preprocess(pictures[start : start + _BATCH], manifest))))
    return torch.cat(rows)


def train_generic_tuned(
    prepared: PreparedSet, options: Options, generic_manifest: ModelManifest, hooks: Hooks
) -> TrainedModel:
    """The generic trunk's last block and a projection head trained on `prepared`, exported as one graph."""
    network: Any = generic_trunk().network  # efficientnet_lite_pytorch's EfficientNet (untyped)
    network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    stem = FrozenStem(network)
    activations = frozen_activations(stem, generic_manifest, prepared.pictures)
    tail = TunedTail(network)
    for parameter in tail.parameters():
        parameter.requires_grad_(True)
    train_x, test_x = activations[prepared.train], activations[prepared.test]
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        pooled = torch.cat([tail.pooled(train_x[i : i + 256]) for i in range(0, len(train_x), 256)])
        tail.head = ProjectionHead(pooled.mean(dim=0), pooled.std(dim=0), options.dimension)
    test_labels = prepared.groups[prepared.test]
    monitor_x, monitor_labels = (test_x, test_labels) if len(test_x) else (train_x, prepared.groups[prepared.train])

    def metric() -> float:
        return retrieval(embed(tail, monitor_x), monitor_labels, ks=(1,)).get("recall@1", 0.0)

    block = [p for name, p in tail.named_parameters() if not name.startswith("head.")]
    groups = [
        {"params": list(tail.head.parameters())},
        {"params": block, "lr": options.learning_rate * BLOCK_LR_FACTOR},
    ]
    rng = np.random.default_rng(options.seed)
    related = torch.from_numpy(prepared.related)
    train_groups = prepared.groups[prepared.train]
    loss = fit(tail, train_x, train_groups, related, options, rng, hooks, metric, parameters=groups)
    metrics = retrieval(embed(tail, test_x), test_labels) if len(test_x) else {}
    metrics["loss"] = loss
    model = nn.Sequential(stem, tail).eval()
    size = generic_manifest.input_height, generic_manifest.input_width
    onnx_bytes = export_module(model, torch.zeros(1, 3, *size))
    manifest = checked(onnx_bytes, _manifest(generic_manifest, options.dimension))
    sample = [prepared.pictures[i] for i in range(min(_CHECK_IMAGES, len(prepared.pictures)))]
    check_exported(onnx_bytes, manifest, embed(tail, activations[: len(sample)]), sample)
    return TrainedModel(onnx=onnx_bytes, manifest=manifest, metrics=metrics)


def _manifest(generic_manifest: ModelManifest, dimension: int) -> ModelManifest:
    manifest = ModelManifest()
    manifest.CopyFrom(generic_manifest)
    manifest.input_name, manifest.output_name = INPUT_NAME, OUTPUT_NAME
    manifest.dimension = dimension
    manifest.output_normalized = manifest.normalize = True
    manifest.family = FAMILY
    return manifest
