"""The built-in `generic` model, served by the embedder, puts photos of the same kind of thing near.

Each of the 600 ImageNet-sample photos is embedded through the embedder (in-process ONNX
Runtime, the registry's `models/generic`) and searched against the other 599 by cosine; the 10
nearest must mostly share its coarse group (dogs, other animals, everything else), and dog
queries must mostly find dogs (see bench/semantic_quality.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.bench import bench_module

from simmesh.embedder.builtin import BUILTIN_MODELS
from simmesh.embedder.embedding import Embedder, ensure_builtin_models
from simmesh.embedder.onnx_runtime import OnnxRuntimeRuntime
from simmesh.embedder.registry import ModelRegistry
from simmesh.imaging.limits import ImageLimits
from simmesh.imaging.source import ImageSource
from simmesh.kit.blobstore import FileBlobStore
from simmesh_proto.v1 import common_pb2

semantic_quality = bench_module("semantic_quality")
COARSE_SHARE = 0.82
DOG_SHARE = 0.78
BATCH = 32

pytestmark = pytest.mark.slow


async def _embed_through_the_embedder(paths: list[Path], tmp_path: Path) -> np.ndarray:
    store = FileBlobStore(tmp_path / "blobs")
    registry = ModelRegistry(store)
    await ensure_builtin_models(registry, {"generic": BUILTIN_MODELS["generic"]})
    embedder = Embedder(registry, OnnxRuntimeRuntime(), ImageSource(ImageLimits(), store))
    rows = []
    try:
        for start in range(0, len(paths), BATCH):
            images = [common_pb2.Image(content=p.read_bytes()) for p in paths[start : start + BATCH]]
            result = await embedder.embed("models/generic", images)
            assert not result.errors
            rows.append(result.vectors)
    finally:
        await embedder.close()
    return np.concatenate(rows)


async def test_generic_neighbours_share_the_coarse_group(imagenet_sample_dir: Path, tmp_path: Path) -> None:
    paths = semantic_quality.sample_paths(imagenet_sample_dir)
    assert len(paths) == 600
    vectors = await _embed_through_the_embedder(paths, tmp_path)
    quality = semantic_quality.neighbour_quality(vectors, semantic_quality.groups_of(paths))
    print(f"\ngeneric: coarse-group share {quality.coarse_share:.3f}, dog share {quality.dog_share:.3f}")
    assert quality.coarse_share >= COARSE_SHARE
    assert quality.dog_share >= DOG_SHARE
