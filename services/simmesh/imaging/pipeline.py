"""One request's images to model input rows within its budgets: fetched in their own pool, decoded a few at a time.

    pipeline = ImagePipeline(source, Budgets(), decode_executor)
    rows = await pipeline.fit_batch(request.images, manifest)    # uint8 HWC array | SimmeshError each

The stages and what bounds each:

1. Inline bytes (`content`, `base64`) are counted in order first: the image that takes the request
   past `request_bytes` refuses the whole request (RESOURCE_EXHAUSTED, REQUEST_TOO_LARGE, naming it).
2. `url` and `uri` images are read in the fetch pool (`fetch_workers` threads, apart from decoding,
   so slow URLs never hold up inline images), all within `fetch_deadline`; an image that is not
   there by then, or whose bytes take the request past `request_bytes`, fails alone.
3. Each image's header says its pixels; the image that takes the request past `request_pixels`
   refuses the whole request, before anything is decoded.
4. Each image is decoded and fit to the model's input size in one step, holding its pixels of the
   process-wide `decode_pixels` budget; only the small fitted array is kept.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor

import numpy as np
from PIL import Image

from simmesh.imaging.budget import Budgets, PixelBudget, over_budget
from simmesh.imaging.decode import decode
from simmesh.imaging.preprocess import fit
from simmesh.imaging.source import ImageSource
from simmesh.kit import reasons
from simmesh.kit.errors import SimmeshError, Unavailable
from simmesh_proto.v1 import common_pb2, embedder_pb2

FETCHED = ("url", "uri")


class ImagePipeline:
    """Images to fitted arrays within `budgets` (see the module's docstring); `close()` stops the fetch pool."""

    def __init__(self, source: ImageSource, budgets: Budgets, decode_executor: Executor | None = None) -> None:
        self.source = source
        self.budgets = budgets
        self.decode_executor = decode_executor
        self.fetch_executor = ThreadPoolExecutor(max_workers=budgets.fetch_workers, thread_name_prefix="fetch")
        self.pixels = PixelBudget(budgets.decode_pixels)

    def close(self) -> None:
        self.fetch_executor.shutdown(wait=False, cancel_futures=True)

    async def fit_batch(
        self,
        images: Sequence[common_pb2.Image],
        manifest: embedder_pb2.ModelManifest,
        field: str = "images",
        names: Sequence[str] = (),
    ) -> list[np.ndarray | SimmeshError]:
        """One fitted array (or the item's error) per image; REQUEST_TOO_LARGE for the whole request
        when its inline bytes or its pixels are over budget. Errors name the images `field[i]`, or
        as `names` says."""
        names = list(names) or [f"{field}[{i}]" for i in range(len(images))]
        self._check_inline_bytes(images, names)
        raw = await self.resolve_batch(images, names)
        loop = asyncio.get_running_loop()
        sizes = await loop.run_in_executor(self.decode_executor, _pixel_counts, raw)
        self._check_pixels(sizes, names)
        return list(await asyncio.gather(*map(self._fit, raw, sizes, [manifest] * len(raw), names)))

    def _check_inline_bytes(self, images: Sequence[common_pb2.Image], names: Sequence[str]) -> None:
        total = 0
        for image, name in zip(images, names):
            total += len(image.content) + len(image.base64) * 3 // 4  # at most one of them is set
            if total > self.budgets.request_bytes:
                raise over_budget(name, total, self.budgets.request_bytes, "bytes")

    async def resolve_batch(
        self, images: Sequence[common_pb2.Image], names: Sequence[str]
    ) -> list[bytes | SimmeshError]:
        """Every image's bytes (or error): fetched ones in the fetch pool within the request's deadline."""
        fetched = 0

        async def one(image: common_pb2.Image, name: str) -> bytes | SimmeshError:
            nonlocal fetched
            remote = image.WhichOneof("source") in FETCHED
            try:
                data = await self.source.resolve(image, name, self.fetch_executor if remote else self.decode_executor)
            except SimmeshError as error:
                return error
            if remote:
                fetched += len(data)
                if fetched > self.budgets.request_bytes:
                    return over_budget(name, fetched, self.budgets.request_bytes, "bytes")
            return data

        tasks = [asyncio.ensure_future(one(image, name)) for image, name in zip(images, names)]
        try:
            done, _ = await asyncio.wait(tasks, timeout=self.budgets.fetch_deadline) if tasks else (set(), set())
        finally:
            for task in tasks:  # a fetch still queued in the pool is dropped; one under way ends at its timeout
                task.cancel()
        return [task.result() if task in done else self._late(name) for task, name in zip(tasks, names)]

    def _late(self, field: str) -> SimmeshError:
        return Unavailable(
            f"{field} was not fetched within the request's {self.budgets.fetch_deadline:g}s for its URLs",
            reason=reasons.IMAGE_FETCH_FAILED,
            field=field,
        )

    def _check_pixels(self, sizes: Sequence[int], names: Sequence[str]) -> None:
        total = 0
        for pixels, name in zip(sizes, names):
            if pixels > self.source.limits.max_pixels:
                continue  # refused on its own when decoded
            total += pixels
            if total > self.budgets.request_pixels:
                raise over_budget(name, total, self.budgets.request_pixels, "pixels")

    async def _fit(
        self, item: bytes | SimmeshError, pixels: int, manifest: embedder_pb2.ModelManifest, field: str
    ) -> np.ndarray | SimmeshError:
        if isinstance(item, SimmeshError):
            return item
        async with self.pixels.hold(pixels):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.decode_executor, self._decode_fit, item, manifest, field)

    def _decode_fit(self, data: bytes, manifest: embedder_pb2.ModelManifest, field: str) -> np.ndarray | SimmeshError:
        """Decoded and fit at once, so the full-size picture lives only inside this call."""
        try:
            picture = decode(data, self.source.limits, field)
        except SimmeshError as error:
            return error
        return fit(picture, manifest)


def _pixel_counts(items: Sequence[bytes | SimmeshError]) -> list[int]:
    """Width x height from each image's header (0 for errors and for what is not an image)."""
    counts = []
    for item in items:
        if isinstance(item, SimmeshError):
            counts.append(0)
            continue
        try:
            with Image.open(io.BytesIO(item)) as image:
                width, height = image.size
            counts.append(width * height)
        except Exception:  # decoding names what is wrong with it
            counts.append(0)
    return counts
