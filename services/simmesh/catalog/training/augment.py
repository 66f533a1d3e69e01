"""Batched augmentations on model-input tensors (already scaled and normalised).

Geometry: a random affine per image (rotation, shift, scale, shear), resampled bilinearly with
border replication, which suits drawings on a plain background as well as photos. Colour (RGB
only): per-image brightness, contrast and saturation jitter. Both are linear in the pixel values,
so applying them after the per-channel normalisation equals applying them to the pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentPolicy:
    rotation_degrees: float = 10.0
    shift: float = 0.08  # fraction of the side
    scale: tuple[float, float] = (0.88, 1.12)
    shear_degrees: float = 10.0
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2


def augment(batch: torch.Tensor, policy: AugmentPolicy, generator: torch.Generator, color: bool) -> torch.Tensor:
    """`batch` [B, C, H, W] with a fresh random transform per image."""
    out = _affine(batch, policy, generator)
    if color and batch.shape[1] == 3:
        out = _jitter(out, policy, generator)
    return out


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) * (high - low) + low


def _affine(batch: torch.Tensor, policy: AugmentPolicy, generator: torch.Generator) -> torch.Tensor:
    n = batch.shape[0]
    angle = _uniform(n, -policy.rotation_degrees, policy.rotation_degrees, generator) * (math.pi / 180)
    shear = _uniform(n, -policy.shear_degrees, policy.shear_degrees, generator) * (math.pi / 180)
    scale = _uniform(n, policy.scale[0], policy.scale[1], generator)
    shift = _uniform(2 * n, -2 * policy.shift, 2 * policy.shift, generator).view(n, 2)  # grid spans [-1, 1]
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    # Output-to-input sampling matrix: rotation @ shear, divided by the scale.
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos / scale
    theta[:, 0, 1] = (cos * tan - sin) / scale
    theta[:, 1, 0] = sin / scale
    theta[:, 1, 1] = (sin * tan + cos) / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _jitter(batch: torch.Tensor, policy: AugmentPolicy, generator: torch.Generator) -> torch.Tensor:
    n = batch.shape[0]
    brightness = _uniform(n, -policy.brightness, policy.brightness, generator).view(n, 1, 1, 1)
    contrast = _uniform(n, 1 - policy.contrast, 1 + policy.contrast, generator).view(n, 1, 1, 1)
    saturation = _uniform(n, 1 - policy.saturation, 1 + policy.saturation, generator).view(n, 1, 1, 1)
    gray = batch.mean(dim=1, keepdim=True)
    out = gray + (batch - gray) * saturation
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return (out - mean) * contrast + mean + brightness
