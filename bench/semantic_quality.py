"""Semantic quality of embedding models: do the nearest photos show the same kind of thing?

Each of the 600 ImageNet-sample photos (one per class; the file name starts with the synset id)
is a query against the other 599 by exact cosine similarity. Classes fall into three coarse
groups in ImageNet's class order (the sorted synset ids): dogs (n02085620..n02113978), other
animals (every other synset up to n02655020) and everything else. Reported per model: the share
of the 10 nearest neighbours in the query's coarse group, and among dog queries the share of
dog neighbours.

    python bench/semantic_quality.py [--shared ../shared] [--models generic match color mobilenet-v2]
        [--pooling avg|gem|avgmax] [--shorter-side 256] [--uncentred] [--near-duplicates]

`--pooling`, `--shorter-side` and `--uncentred` change the `generic` model (the trunk's pooling;
the shorter side before the 224 centre crop, 224 meaning no margin; no subtraction of the
typical feature, which other poolings than `avg` need). `--near-duplicates` adds the recall@1
of `generic` on the altered copies of bench/match_quality.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import match_quality
import numpy as np
from _pretrained import SHARED, mobilenet_v2_manifest

from simmesh.embedder.builtin import BUILTIN_MODELS, BuiltinModel
from simmesh.pretrained.generic import POOLINGS, generic_embedding

NEIGHBOURS = 10
DOGS = ("n02085620", "n02113978")
LAST_ANIMAL = "n02655020"
DOG, ANIMAL, OTHER = 0, 1, 2
MODELS = ("generic", "match", "color", "mobilenet-v2")


@dataclasses.dataclass(frozen=True)
class Quality:
    coarse_share: float
    dog_share: float


def synset(path: Path) -> str:
    return path.name.split("_", 1)[0]


def coarse_group(synset_id: str) -> int:
    """DOG, ANIMAL or OTHER; synset ids compare as strings in ImageNet's class order."""
    if DOGS[0] <= synset_id <= DOGS[1]:
        return DOG
    return ANIMAL if synset_id <= LAST_ANIMAL else OTHER


def sample_paths(folder: Path) -> list[Path]:
    """The photos of `folder`, in the order match_quality.load_images reads them."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in match_quality.IMAGE_SUFFIXES)


def groups_of(paths: Sequence[Path]) -> np.ndarray:
    return np.array([coarse_group(synset(p)) for p in paths])


def neighbour_quality(vectors: np.ndarray, groups: np.ndarray, k: int = NEIGHBOURS) -> Quality:
    """Each row as a query against the others (exact cosine): the share of its `k` nearest in
    its own coarse group, and over dog queries the share of dog neighbours."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argpartition(-similarity, k, axis=1)[:, :k]
    same = groups[nearest] == groups[:, None]
    dogs = groups == DOG
    return Quality(coarse_share=float(same.mean()), dog_share=float(same[dogs].mean()))


def generic_variant(pooling: str, shorter_side: int, centred: bool) -> BuiltinModel:
    """The built-in `generic` model with another pooling, resize or no centring."""
    return dataclasses.replace(
        BUILTIN_MODELS["generic"],
        module=functools.partial(generic_embedding, pooling=pooling, centred=centred),
        resize_shorter_side=shorter_side,
    )


def mobilenet_path(shared: Path) -> Path:
    return shared / "models" / "mobilenet_v2" / "mobilenet_v2_1.0_224_float.onnx"


def model_embedder(name: str, args: argparse.Namespace, executor: ThreadPoolExecutor) -> match_quality.Embed:
    if name == "mobilenet-v2":
        onnx = mobilenet_path(args.shared).read_bytes()
        return match_quality.session_embedder(onnx, mobilenet_v2_manifest(), executor, args.threads)
    model = (
        generic_variant(args.pooling, args.shorter_side, not args.uncentred)
        if name == "generic"
        else BUILTIN_MODELS[name]
    )
    return match_quality.session_embedder(model.export_onnx(), model.manifest(), executor, args.threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="the datasets and models beside the project")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--pooling", default="avg", choices=POOLINGS, help="the generic model's pooling")
    parser.add_argument("--shorter-side", type=int, default=256, help="the generic model's resize before the crop")
    parser.add_argument("--uncentred", action="store_true", help="the generic model's feature without centring")
    parser.add_argument("--near-duplicates", action="store_true", help="also the generic model's recall@1")
    parser.add_argument("--threads", type=int, default=2, help="PIL threads and ONNX Runtime threads")
    args = parser.parse_args(argv)
    images = args.shared / "datasets" / "imagenet-sample"
    if not images.exists():
        print(f"skipped: the ImageNet sample is not at {images}")
        return 0
    models = [m for m in args.models if m != "mobilenet-v2" or mobilenet_path(args.shared).exists()]
    groups = groups_of(sample_paths(images))
    print(
        f"{len(groups)} photos of {images.name}, {NEIGHBOURS} nearest by cosine; generic: pooling "
        f"{args.pooling}{' uncentred' if args.uncentred else ''}, shorter side {args.shorter_side} then crop 224\n"
    )
    print("| model | coarse-group share | dog share (dog queries) | embed time |")
    print("|---|---|---|---|")
    with ThreadPoolExecutor(args.threads) as executor:
        photos = match_quality.load_images(images, executor)
        for name in models:
            embed = model_embedder(name, args, executor)
            started = time.perf_counter()
            quality = neighbour_quality(embed(photos), groups)
            seconds = time.perf_counter() - started
            print(f"| {name} | {quality.coarse_share:.3f} | {quality.dog_share:.3f} | {seconds:.0f} s |", flush=True)
        if args.near_duplicates:
            report = match_quality.evaluate(photos, model_embedder("generic", args, executor), executor)
            print("\nNear-duplicate recall@1 of `generic` on altered copies\n")
            print(report.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
