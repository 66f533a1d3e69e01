"""Encoded image bytes to an upright RGB picture, with the size and decompression-bomb guards."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
from PIL import Image, ImageOps

from simmesh.imaging.limits import ImageLimits
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument, ResourceExhausted, SimmeshError


def decode(data: bytes, limits: ImageLimits | None = None, field: str = "image") -> Image.Image:
    """`data` decoded to an upright RGB image (first frame of animations, alpha on white).

    The pixel count is checked from the header before any pixel is decoded.
    """
    limits = limits or ImageLimits()
    if not data:
        raise InvalidArgument(f"{field} is empty (0 bytes)", reason=reasons.IMAGE_EMPTY, field=field)
    limits.check_size(len(data), field)
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise _too_many_pixels_from(str(error), limits, field) from None
    except Exception:  # Pillow raises many types for unreadable headers
        raise InvalidArgument(
            f"{field} is not a recognised image (JPEG, PNG, WebP, GIF, BMP, TIFF)",
            reason=reasons.IMAGE_UNDECODABLE,
            field=field,
        ) from None
    with image:
        width, height = image.size
        fmt = image.format or "unknown"
        if width * height > _pixel_limit(limits):
            raise ResourceExhausted(
                f"{field} is {width}x{height} = {width * height} pixels, over the limit of {_pixel_limit(limits)}",
                reason=reasons.IMAGE_TOO_MANY_PIXELS,
                field=field,
                metadata={"width": width, "height": height, "limit_pixels": _pixel_limit(limits)},
            )
        try:
            image.load()
            return to_rgb(_upright(image))
        except Image.DecompressionBombError as error:
            raise _too_many_pixels_from(str(error), limits, field) from None
        except Exception as error:  # corrupt data surfaces as OSError, ValueError, SyntaxError...
            raise InvalidArgument(
                f"{field}: the {fmt} image ({width}x{height}) could not be decoded: {error}",
                reason=reasons.IMAGE_UNDECODABLE,
                field=field,
                metadata={"format": fmt},
            ) from None


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says; a broken EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # the pixels are fine, only the metadata is not
        return image.copy()


def _pixel_limit(limits: ImageLimits) -> int:
    """Our limit, never above Pillow's own bomb threshold (where it would warn instead)."""
    pillow = Image.MAX_IMAGE_PIXELS
    return min(limits.max_pixels, int(pillow)) if pillow else limits.max_pixels


def _too_many_pixels_from(pillow_message: str, limits: ImageLimits, field: str) -> ResourceExhausted:
    return ResourceExhausted(
        f"{field}: {pillow_message.split(',')[0]}; the limit is {_pixel_limit(limits)} pixels",
        reason=reasons.IMAGE_TOO_MANY_PIXELS,
        field=field,
        metadata={"limit_pixels": _pixel_limit(limits)},
    )


_WHITE = (255, 255, 255)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: transparency composited on white, 16-bit/float scaled down."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _wide_gray_to_rgb(image)
    has_alpha = (
        mode in ("RGBA", "LA", "PA", "RGBa", "La")
        or (mode == "P" and "transparency" in image.info)
        or (mode in ("L", "RGB") and "transparency" in image.info)
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms  # only for the rare Lab TIFF

        rgb = ImageCms.applyTransform(
            image, ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
        )
        assert rgb is not None, "a transform that is not in place returns a new image"
        return rgb
    return image.convert("RGB")


def _wide_gray_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = 1.0 if values.size and np.nanmax(values) <= 1.0 else 255.0
    else:
        top = 65535.0 if image.mode.startswith("I;16") or (values.size and values.max() > 255) else 255.0
    gray = np.clip(np.nan_to_num(values) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2))


def _decode_or_error(item: bytes | SimmeshError, limits: ImageLimits, field: str) -> Image.Image | SimmeshError:
    if isinstance(item, SimmeshError):
        return item
    try:
        return decode(item, limits, field)
    except SimmeshError as error:
        return error


async def decode_batch(
    items: Sequence[bytes | SimmeshError],
    limits: ImageLimits | None = None,
    executor: Executor | None = None,
    field: str = "images",
) -> list[Image.Image | SimmeshError]:
    """Decodes every item in `executor`'s threads (Pillow releases the GIL while decoding).

    Items that are already errors (from `ImageSource.resolve_batch`) pass through unchanged; a
    failing item holds its error and never fails the others.
    """
    limits = limits or ImageLimits()
    loop = asyncio.get_running_loop()
    futures = [
        loop.run_in_executor(executor, _decode_or_error, item, limits, f"{field}[{i}]") for i, item in enumerate(items)
    ]
    return list(await asyncio.gather(*futures))
