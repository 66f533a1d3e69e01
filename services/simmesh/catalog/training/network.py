"""The networks: a compact CNN trained from scratch, and a projection head for frozen features.

Both end in an L2 normalisation written as `y / sqrt(sum(y * y) + eps)`, the same formula the
exported ONNX graphs use.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-12
WIDTHS = (32, 64, 128, 256)


def l2_normalize(y: torch.Tensor) -> torch.Tensor:
    return y / torch.sqrt((y * y).sum(dim=1, keepdim=True) + EPS)


class CompactCNN(nn.Module):
    """Four blocks of conv 3x3, batch norm, ReLU, 2x2 max-pool (32, 64, 128, 256 channels), then
    the flattened final map through a linear layer to `dimension`, L2-normalised.

    At 28x28 the final map is 1x1 and one image costs about 9 M multiply-adds; at 64x64, 4x4 and
    about 58 M.
    """

    def __init__(self, channels: int, input_size: int, dimension: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width_in, side = channels, input_size
        for width in WIDTHS:
            layers += [
                nn.Conv2d(width_in, width, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            width_in, side = width, side // 2
        if side < 1:
            raise ValueError(f"input size {input_size} is too small for {len(WIDTHS)} pooling stages")
        self.features = nn.Sequential(*layers)
        self.project = nn.Linear(width_in * side * side, dimension)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return l2_normalize(self.project(torch.flatten(self.features(x), 1)))


class ProjectionHead(nn.Module):
    """Standardise frozen features, Linear -> ReLU -> Linear to `dimension`, L2-normalise."""

    # Buffers registered in __init__.
    mean: torch.Tensor
    inv_std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, dimension: int, hidden: int = 512) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone().float())
        self.register_buffer("inv_std", (1.0 / std.clamp_min(1e-6)).float())
        self.hidden = nn.Linear(mean.numel(), hidden)
        self.out = nn.Linear(hidden, dimension)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (torch.flatten(features, 1) - self.mean) * self.inv_std
        return l2_normalize(self.out(torch.relu(self.hidden(x))))
