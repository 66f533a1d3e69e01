"""The built-in `generic` model: its pinned checkpoint, its trunk, its manifest and its export cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simmesh.embedder.builtin import BUILTIN_MODELS
from simmesh.embedder.builtin_cache import cached_export, export_key
from simmesh.embedder.embedding import ensure_builtin_models
from simmesh.embedder.registry import ModelRegistry
from simmesh.imaging.preprocess import preprocess
from simmesh.kit.blobstore import FileBlobStore
from simmesh.pretrained.generic import (
    CHECKPOINTS,
    FEATURE_DIMENSION,
    GENERIC_PREPROCESS,
    CheckpointError,
    GenericTrunk,
    checkpoint_path,
    expected_activation,
    file_sha256,
    generic_embedding,
    generic_trunk,
)

GENERIC = BUILTIN_MODELS["generic"]


@pytest.fixture(scope="module")
def trunk() -> GenericTrunk:
    return generic_trunk()


@pytest.fixture
def corrupted(tmp_path: Path) -> Path:
    copy = tmp_path / "efficientnet-lite0.pth"
    shutil.copyfile(checkpoint_path(), copy)
    with copy.open("r+b") as file:
        file.seek(4096)
        byte = file.read(1)
        file.seek(4096)
        file.write(bytes([byte[0] ^ 0xFF]))
    return copy


def test_the_installed_checkpoint_has_the_pinned_sha256() -> None:
    assert file_sha256(checkpoint_path()) == CHECKPOINTS["lite0"].sha256


def test_a_corrupted_checkpoint_is_refused(corrupted: Path) -> None:
    with pytest.raises(CheckpointError, match="refusing to load"):
        generic_trunk(path=corrupted)


def test_a_missing_checkpoint_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="missing"):
        generic_trunk(path=tmp_path / "absent.pth")


def test_an_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="lite0"):
        generic_trunk("lite9")


def test_trunk_gives_the_pooled_1280_feature_unnormalised(trunk: GenericTrunk) -> None:
    assert not trunk.training
    with torch.no_grad():
        features = trunk(torch.rand(3, 3, 224, 224) * 2 - 1)
    assert features.shape == (3, FEATURE_DIMENSION)
    assert torch.all(features >= 0)
    assert not torch.allclose(features.norm(dim=1), torch.ones(3))


def test_manifest_scales_pixels_to_minus_one_one_after_the_crop() -> None:
    manifest = GENERIC.manifest()
    assert manifest.dimension == FEATURE_DIMENSION and manifest.output_normalized
    assert manifest.input_width == manifest.input_height == GENERIC_PREPROCESS.input_size == 224
    assert manifest.resize_shorter_side == GENERIC_PREPROCESS.resize_shorter_side
    white, black = Image.new("RGB", (300, 260), (255, 255, 255)), Image.new("RGB", (260, 300), (0, 0, 0))
    batch = preprocess([white, black], manifest)
    assert batch.shape == (2, 3, 224, 224)
    np.testing.assert_allclose(batch[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(batch[1], -1.0, atol=1e-6)


def test_built_in_module_is_the_trunk_centred_then_normalised(trunk: GenericTrunk) -> None:
    batch = torch.rand(2, 3, 224, 224) * 2 - 1
    centre = expected_activation(trunk.network)
    assert centre.shape == (FEATURE_DIMENSION,) and torch.all((centre > 0) & (centre < 6))
    with torch.no_grad():
        features, embedding = trunk(batch) - centre, GENERIC.torch_module()(batch)
    torch.testing.assert_close(embedding, features / features.norm(dim=1, keepdim=True), atol=1e-5, rtol=1e-5)


def test_centring_needs_average_pooling() -> None:
    with pytest.raises(ValueError, match="average pooling"):
        generic_embedding(pooling="gem")


def test_export_cache_returns_the_same_bytes_and_skips_the_export(tmp_path: Path, monkeypatch) -> None:
    model = BUILTIN_MODELS["match"]
    first = cached_export(model, tmp_path)
    assert first == model.export_onnx()
    assert [p.name for p in tmp_path.iterdir()] == [f"match-{export_key(model)}.onnx"]
    monkeypatch.setattr(type(model), "export_onnx", lambda self: pytest.fail("exported again"))
    assert cached_export(model, tmp_path) == first


def test_export_key_follows_the_weights_file(corrupted: Path) -> None:
    changed = type(GENERIC)(**{**GENERIC.__dict__, "weights": lambda: corrupted})
    assert export_key(changed) != export_key(GENERIC)


async def test_first_start_registers_generic_from_the_cache(tmp_path: Path) -> None:
    registry = ModelRegistry(FileBlobStore(tmp_path / "blobs"))
    cache = tmp_path / "cache"
    assert await ensure_builtin_models(registry, {"generic": GENERIC}, cache) == ["generic"]
    version = registry.resolve("models/generic", "model")
    assert version.manifest == GENERIC.manifest()
    assert registry.onnx_bytes("generic", 1) == (cache / f"generic-{export_key(GENERIC)}.onnx").read_bytes()
    assert await ensure_builtin_models(registry, {"generic": GENERIC}, cache) == []
