"""Near-duplicate matching quality of the built-in `match` model, through ONNX Runtime.

Every photo of a folder gets altered copies (centre crop 80%, half size, JPEG quality 30,
brightness +25%, horizontal flip, 5 degree rotation, a text overlay); each copy is searched
against all the originals by cosine similarity, and recall@1 is reported per alteration.

    python bench/match_quality.py [--images ../shared/datasets/imagenet-sample] [--model match]

Prints a Markdown table of recall@1 per alteration, then the embedding throughput.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from simmesh.embedder.builtin import BUILTIN_MODELS
from simmesh.imaging.preprocess import preprocess
from simmesh_proto.v1.embedder_pb2 import ModelManifest

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "imagenet-sample"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
BATCH = 32
CAPTION = "summer sale today"

Alteration = Callable[[Image.Image], Image.Image]
Embed = Callable[[Sequence[Image.Image]], np.ndarray]


def centre_crop(image: Image.Image, fraction: float = 0.8) -> Image.Image:
    w, h = image.size
    cw, ch = round(w * fraction), round(h * fraction)
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch))


def half_size(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BILINEAR)


def jpeg(image: Image.Image, quality: int = 30) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def brighter(image: Image.Image, factor: float = 1.25) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)


def rotate(image: Image.Image, degrees: float = 5.0) -> Image.Image:
    """Rotated about the centre, same size, black corners."""
    return image.rotate(degrees, resample=Image.Resampling.BILINEAR)


def caption(image: Image.Image, text: str = CAPTION) -> Image.Image:
    """White text with a dark outline, a tenth of the shorter side tall (narrower than the
    image), centred in the lower third."""
    out = image.copy()
    w, h = out.size
    draw = ImageDraw.Draw(out)
    size = max(12, min(w, h) // 10)
    while True:
        font = ImageFont.load_default(size=size)
        stroke = max(1, size // 12)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
        if right - left <= 0.9 * w or size <= 8:
            break
        size = size * 9 // 10
    position = ((w - (right - left)) / 2 - left, 0.7 * h - (bottom - top) / 2 - top)
    draw.text(position, text, font=font, fill=(255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0))
    return out


ALTERATIONS: dict[str, Alteration] = {
    "crop 80%": centre_crop,
    "resize 50%": half_size,
    "JPEG q30": jpeg,
    "brightness +25%": brighter,
    "horizontal flip": ImageOps.mirror,
    "rotation 5°": rotate,
    "text overlay": caption,
}


@dataclasses.dataclass(frozen=True)
class Report:
    recall_at_1: dict[str, float]
    images: int
    embed_seconds: float

    @property
    def overall(self) -> float:
        return float(np.mean(list(self.recall_at_1.values())))

    @property
    def images_per_second(self) -> float:
        return self.images / self.embed_seconds

    def markdown(self) -> str:
        lines = ["| alteration | recall@1 |", "|---|---|"]
        lines += [f"| {name} | {recall:.4f} |" for name, recall in self.recall_at_1.items()]
        lines.append(f"| **all** | **{self.overall:.4f}** |")
        return "\n".join(lines)


def load_images(folder: Path, executor: Executor) -> list[Image.Image]:
    """Every photo in `folder`, sorted by name, decoded once as RGB."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return list(executor.map(_load_rgb, paths))


def _load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def onnx_embedder(model_name: str, executor: Executor, threads: int = 0) -> Embed:
    """Embeds images with a built-in model through ONNX Runtime, `BATCH` at a time."""
    model = BUILTIN_MODELS[model_name]
    return session_embedder(model.export_onnx(), model.manifest(), executor, threads)


def session_embedder(onnx: bytes, manifest: ModelManifest, executor: Executor, threads: int = 0) -> Embed:
    """Embeds images with any ONNX model through ONNX Runtime, preprocessed as `manifest` says."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])

    def embed(images: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        for start in range(0, len(images), BATCH):
            batch = preprocess(images[start : start + BATCH], manifest, executor)
            (vectors,) = session.run([manifest.output_name], {manifest.input_name: batch})
            rows.append(vectors)
        return np.concatenate(rows)

    return embed


def recall_at_1(queries: np.ndarray, gallery: np.ndarray) -> float:
    """Share of queries whose most cosine-similar gallery row is the one with their index."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    best = np.argmax(q @ g.T, axis=1)
    return float(np.mean(best == np.arange(len(q))))


def evaluate(originals: Sequence[Image.Image], embed: Embed, executor: Executor) -> Report:
    """Recall@1 of every alteration's copies searched against `originals`."""
    seconds = 0.0
    started = time.perf_counter()
    gallery = embed(originals)
    seconds += time.perf_counter() - started
    recalls = {}
    for name, alter in ALTERATIONS.items():
        copies = list(executor.map(alter, originals))
        started = time.perf_counter()
        queries = embed(copies)
        seconds += time.perf_counter() - started
        recalls[name] = recall_at_1(queries, gallery)
    return Report(recalls, len(originals) * (1 + len(ALTERATIONS)), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--model", default="match", choices=sorted(BUILTIN_MODELS))
    parser.add_argument("--threads", type=int, default=2, help="PIL threads and ONNX Runtime threads")
    args = parser.parse_args()
    with ThreadPoolExecutor(args.threads) as executor:
        originals = load_images(args.images, executor)
        report = evaluate(originals, onnx_embedder(args.model, executor, args.threads), executor)
    print(f"`{args.model}` on {len(originals)} photos of {args.images.name}\n")
    print(report.markdown())
    print(
        f"\nembedding (preprocess + ONNX Runtime, batch {BATCH}): {report.images_per_second:.0f} images/s, "
        f"{1000 / report.images_per_second:.2f} ms/image"
    )


if __name__ == "__main__":
    main()
