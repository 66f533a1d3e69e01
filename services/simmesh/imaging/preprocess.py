"""A model's input batch built from images exactly as its `ModelManifest` says (training and serving)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
from PIL import Image

from simmesh_proto.v1.embedder_pb2 import (
    COLOR_ORDER_BGR,
    COLOR_ORDER_GRAY,
    COLOR_ORDER_RGB,
    RESIZE_POLICY_LETTERBOX,
    RESIZE_POLICY_SHORTER_SIDE_CENTER_CROP,
    RESIZE_POLICY_STRETCH,
    TENSOR_LAYOUT_NCHW,
    TENSOR_LAYOUT_NHWC,
    ModelManifest,
)

# Above this downscale ratio PIL first reduces by an integer factor; at 3 the result is
# indistinguishable from a full bilinear resample (PIL's documentation) and much faster.
_REDUCING_GAP = 3.0

_RESIZE_POLICIES = (RESIZE_POLICY_SHORTER_SIDE_CENTER_CROP, RESIZE_POLICY_STRETCH, RESIZE_POLICY_LETTERBOX)


def channels(manifest: ModelManifest) -> int:
    """Number of input channels the manifest asks for."""
    if manifest.color_order == COLOR_ORDER_GRAY:
        return 1
    if manifest.color_order in (COLOR_ORDER_RGB, COLOR_ORDER_BGR):
        return 3
    raise ValueError(f"manifest color_order {manifest.color_order} is not RGB, BGR or GRAY")


def input_shape(manifest: ModelManifest, batch: int) -> tuple[int, int, int, int]:
    """The input tensor's shape for a batch of `batch` images."""
    c, h, w = channels(manifest), manifest.input_height, manifest.input_width
    if manifest.layout == TENSOR_LAYOUT_NCHW:
        return (batch, c, h, w)
    if manifest.layout == TENSOR_LAYOUT_NHWC:
        return (batch, h, w, c)
    raise ValueError(f"manifest layout {manifest.layout} is not NCHW or NHWC")


def fit(image: Image.Image, manifest: ModelManifest) -> np.ndarray:
    """One image as uint8 pixels of the input size, HWC in the model's channel order.

    LETTERBOX pads with `pad_value` rounded to a pixel value, so the padding goes through the
    same scale/mean/std as the image.
    """
    width, height = manifest.input_width, manifest.input_height
    if width <= 0 or height <= 0:
        raise ValueError(f"manifest input size {width}x{height} must be positive")
    if manifest.resize_policy not in _RESIZE_POLICIES:
        raise ValueError(f"manifest resize_policy {manifest.resize_policy} is not supported")
    gray = channels(manifest) == 1
    image = image.convert("L" if gray else "RGB")
    w, h = image.size
    if manifest.resize_policy == RESIZE_POLICY_STRETCH:
        pixels = np.asarray(_resize(image, (width, height)))
    elif manifest.resize_policy == RESIZE_POLICY_SHORTER_SIDE_CENTER_CROP:
        scale = max(manifest.resize_shorter_side / min(w, h), width / w, height / h)
        crop_w, crop_h = width / scale, height / scale
        left, top = max(0.0, (w - crop_w) / 2), max(0.0, (h - crop_h) / 2)
        box = (left, top, min(float(w), left + crop_w), min(float(h), top + crop_h))
        pixels = np.asarray(_resize(image, (width, height), box))
    else:
        scale = min(width / w, height / h)
        inner_w, inner_h = max(1, round(w * scale)), max(1, round(h * scale))
        fill = int(np.clip(round(manifest.pad_value), 0, 255))
        canvas = np.full((height, width) if gray else (height, width, 3), fill, dtype=np.uint8)
        top, left = (height - inner_h) // 2, (width - inner_w) // 2
        canvas[top : top + inner_h, left : left + inner_w] = np.asarray(_resize(image, (inner_w, inner_h)))
        pixels = canvas
    if gray:
        return pixels[:, :, None]
    if manifest.color_order == COLOR_ORDER_BGR:
        return pixels[:, :, ::-1]
    return pixels


def preprocess(images: Sequence[Image.Image], manifest: ModelManifest, executor: Executor | None = None) -> np.ndarray:
    """The model's input batch for `images` (RGB PIL images; other modes are converted).

    Per image: bring it to the input size (`resize_policy`, bilinear), pick the channels
    (`color_order`); per batch: `pixel * scale`, then `(x - mean) / std` per channel, in the
    model's `layout`, as one contiguous float32 array. Resizing is PIL's (a large photo is first
    reduced by an integer factor); PIL releases the GIL while it resizes, so an `executor` with a
    few threads spreads a batch over the cores. The arithmetic is one numpy pass per batch.

    `scale` 0 (unset) means 1; empty `mean`/`std` mean 0 and 1; a single value applies to
    every channel.
    """
    if executor is None:
        fitted = [fit(image, manifest) for image in images]
    else:
        fitted = list(executor.map(fit, images, [manifest] * len(images)))
    return batch_of(fitted, manifest)


def batch_of(fitted: Sequence[np.ndarray], manifest: ModelManifest) -> np.ndarray:
    """The model's input batch from images already `fit` to its input size."""
    shape = input_shape(manifest, len(fitted))
    multiplier, offset = _affine(manifest)
    pixels = np.stack(fitted) if fitted else np.zeros((0, *shape[2:], shape[1]), np.uint8)
    if manifest.layout == TENSOR_LAYOUT_NCHW:
        pixels = pixels.transpose(0, 3, 1, 2)
        multiplier, offset = multiplier[:, None, None], offset[:, None, None]
    batch = np.empty(shape, dtype=np.float32)
    np.multiply(pixels, multiplier, out=batch)
    np.subtract(batch, offset, out=batch)
    return batch


def _affine(manifest: ModelManifest) -> tuple[np.ndarray, np.ndarray]:
    """`(pixel * scale - mean) / std` as `pixel * multiplier - offset`, per channel."""
    c = channels(manifest)
    scale = manifest.scale or 1.0
    mean = _per_channel(manifest.mean, 0.0, c, "mean")
    std = _per_channel(manifest.std, 1.0, c, "std")
    if np.any(std == 0):
        raise ValueError("manifest std must not contain 0")
    return (scale / std).astype(np.float32), (mean / std).astype(np.float32)


def _per_channel(values: Sequence[float], default: float, c: int, field: str) -> np.ndarray:
    if len(values) == 0:
        return np.full(c, default, dtype=np.float64)
    if len(values) == 1:
        return np.full(c, values[0], dtype=np.float64)
    if len(values) != c:
        raise ValueError(f"manifest {field} has {len(values)} values for {c} channels")
    return np.asarray(values, dtype=np.float64)


def _resize(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None = None
) -> Image.Image:
    if box is None and image.size == size:
        return image
    return image.resize(size, Image.Resampling.BILINEAR, box=box, reducing_gap=_REDUCING_GAP)
