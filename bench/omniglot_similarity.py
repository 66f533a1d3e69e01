"""Custom-similarity training quality on Omniglot: one-shot recognition of an unseen alphabet.

The compact CNN is trained on four of the five alphabets of `images_background_small1` (one
group per character, one parent group per alphabet holding its characters); the fifth alphabet
is the test data. On it, the exported ONNX model, fed by the embedder's `preprocess`, is scored by
20-way within-alphabet one-shot classification by nearest neighbour (one drawing of each of 20
characters labeled, another drawing of each as the query; mean over 20 random trials) and by
recall@1 (every drawing queried against all the others of the alphabet). The baseline is the
nearest neighbour on raw pixels (ink intensity at 28x28, cosine).

The alphabet level gets `parent_weight` 0.1, the catalogue's default: the score is
within-alphabet discrimination, which a heavier coarse level works against (Latin held out, 20
epochs: about 19% error at 0.1, 22-23% at 0.3).

    python bench/omniglot_similarity.py [--zip ../shared/datasets/omniglot/images_background_small1.zip]
                                        [--held-out Latin | --all] [--epochs 20] [--input-size 48]
                                        [--parent-weight 0.1] [--threads 2]

Prints a Markdown table: per held-out alphabet, one-shot error of the trained model and of the
baseline, recall@1 of both, and the training seconds.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

from simmesh.catalog.training import TrainedModel, TrainingSet, one_shot_accuracy, retrieval, train
from simmesh.imaging.preprocess import preprocess
from simmesh_proto.v1 import catalog_pb2

DEFAULT_ZIP = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "omniglot" / "images_background_small1.zip"
WAYS, TRIALS = 20, 20
BASELINE_SIZE = 28

Alphabets = dict[str, dict[str, list[bytes]]]


@dataclass(frozen=True)
class Result:
    held_out: str
    characters: int
    error: float
    recall_at_1: float
    baseline_error: float
    baseline_recall_at_1: float
    seconds: float
    metrics: dict[str, float]


def load_alphabets(path: Path) -> Alphabets:
    """alphabet -> character -> the PNG bytes of its drawings, all sorted by name."""
    alphabets: Alphabets = {}
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            parts = name.split("/")
            if len(parts) == 4 and parts[3].endswith(".png"):
                alphabets.setdefault(parts[1], {}).setdefault(parts[2], []).append(archive.read(name))
    return alphabets


def training_set(alphabets: Alphabets, held_out: str) -> tuple[TrainingSet, list[int]]:
    """Characters as groups under one parent group per alphabet; `held_out`'s parent is a test group.

    Also returns the positions of the held-out alphabet's images.
    """
    images: list[bytes] = []
    image_groups: list[int] = []
    names = list(alphabets)
    group_parents: list[list[int]] = [[] for _ in names]  # groups 0..A-1 are the alphabets
    group_names = list(names)
    held: list[int] = []
    for a, alphabet in enumerate(names):
        for character, drawings in alphabets[alphabet].items():
            group = len(group_parents)
            group_parents.append([a])
            group_names.append(f"{alphabet}/{character}")
            for drawing in drawings:
                if alphabet == held_out:
                    held.append(len(images))
                images.append(drawing)
                image_groups.append(group)
    return TrainingSet(
        images=images,
        image_groups=image_groups,
        group_parents=group_parents,
        test_groups={names.index(held_out)},
        group_names=group_names,
    ), held


def embed_onnx(model: TrainedModel, pictures: list[Image.Image], batch: int = 256) -> np.ndarray:
    """The exported model run by ONNX Runtime, fed by the embedder's preprocessing."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model.onnx, options, providers=["CPUExecutionProvider"])
    m = model.manifest
    return np.concatenate(
        [
            session.run([m.output_name], {m.input_name: preprocess(pictures[i : i + batch], m)})[0]
            for i in range(0, len(pictures), batch)
        ]
    )


def raw_pixels(pictures: list[Image.Image], size: int = BASELINE_SIZE) -> np.ndarray:
    """Ink intensity (1 - gray / 255) at `size` x `size`, L2-normalised: the pixel baseline."""
    rows = np.stack(
        [
            1.0
            - np.asarray(p.convert("L").resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32).reshape(-1)
            / 255.0
            for p in pictures
        ]
    )
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def config(epochs: int, input_size: int, seed: int, parent_weight: float) -> catalog_pb2.TrainingConfig:
    return catalog_pb2.TrainingConfig(
        backbone=catalog_pb2.BACKBONE_COMPACT_CNN,
        epochs=epochs,
        input_size=input_size,
        batch_size=128,
        embedding_dimension=128,
        parent_weight=parent_weight,
        augment=True,
        seed=seed,
    )


def run(
    zip_path: Path,
    held_out: str,
    epochs: int = 20,
    input_size: int = 48,
    seed: int = 1,
    parent_weight: float = 0.1,
    progress: bool = False,
) -> Result:
    """Trains without `held_out`, then scores the exported model on it."""
    alphabets = load_alphabets(zip_path)
    if held_out not in alphabets:
        raise ValueError(f"no alphabet {held_out!r}; the archive has {', '.join(alphabets)}")
    data, held = training_set(alphabets, held_out)

    def report(epoch: int, total: int, loss: float, metric: float) -> None:
        print(f"  epoch {epoch}/{total}: loss {loss:.3f}, held-out recall@1 {metric:.3f}", file=sys.stderr, flush=True)

    started = time.monotonic()
    model = train(data, config(epochs, input_size, seed, parent_weight), on_progress=report if progress else None)
    seconds = time.monotonic() - started
    pictures = [Image.open(io.BytesIO(data.images[i])).convert("RGB") for i in held]
    labels = np.asarray([data.image_groups[i] for i in held])
    vectors, pixels = embed_onnx(model, pictures), raw_pixels(pictures)
    return Result(
        held_out=held_out,
        characters=len(set(labels.tolist())),
        error=1.0 - one_shot_accuracy(vectors, labels, WAYS, TRIALS, np.random.default_rng(seed)),
        recall_at_1=retrieval(vectors, labels, ks=(1,))["recall@1"],
        baseline_error=1.0 - one_shot_accuracy(pixels, labels, WAYS, TRIALS, np.random.default_rng(seed)),
        baseline_recall_at_1=retrieval(pixels, labels, ks=(1,))["recall@1"],
        seconds=seconds,
        metrics=model.metrics,
    )


def table(results: list[Result]) -> str:
    lines = [
        f"| held-out alphabet | characters | {WAYS}-way one-shot error | pixel baseline error | recall@1 "
        "| pixel baseline recall@1 | training seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.held_out} | {r.characters} | {r.error:.1%} | {r.baseline_error:.1%} | "
            f"{r.recall_at_1:.3f} | {r.baseline_recall_at_1:.3f} | {r.seconds:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--held-out", help="alphabet to hold out (default: the last in sorted order)")
    parser.add_argument("--all", action="store_true", help="hold out each alphabet in turn")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--input-size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parent-weight", type=float, default=0.1, help="weight of the alphabet level")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress on stderr")
    args = parser.parse_args(argv)
    if not args.zip.exists():
        print(f"Omniglot not found at {args.zip}; skipped", file=sys.stderr)
        return 0
    torch.set_num_threads(args.threads)
    names = list(load_alphabets(args.zip))
    chosen = names if args.all else [args.held_out or names[-1]]
    results = []
    for held_out in chosen:
        print(f"holding out {held_out}", file=sys.stderr, flush=True)
        results.append(
            run(
                args.zip, held_out, args.epochs, args.input_size, args.seed, args.parent_weight, progress=not args.quiet
            )
        )
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
