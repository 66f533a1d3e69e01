"""The built-in `color`, `match` and `generic` models: exported to ONNX, run by ONNX Runtime like any model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from simmesh.embedder.builtin import BUILTIN_MODELS, BuiltinModel
from simmesh.imaging.preprocess import preprocess

NAMES = sorted(BUILTIN_MODELS)


@pytest.fixture(scope="module", params=NAMES)
def model(request: pytest.FixtureRequest) -> BuiltinModel:
    return BUILTIN_MODELS[request.param]


@pytest.fixture(scope="module")
def exported(model: BuiltinModel) -> bytes:
    return model.export_onnx()


@pytest.fixture(scope="module")
def session(exported: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(exported, providers=["CPUExecutionProvider"])


def _pixels(model: BuiltinModel, batch: int, seed: int = 0) -> np.ndarray:
    """Smooth random images (0..1), so gradients and colours vary as in photos."""
    size = model.manifest().input_width
    coarse = torch.rand(batch, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    fine = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return fine.numpy().astype(np.float32)


def _run(session: ort.InferenceSession, model: BuiltinModel, batch: np.ndarray) -> np.ndarray:
    manifest = model.manifest()
    (vectors,) = session.run([manifest.output_name], {manifest.input_name: batch})
    return vectors


def test_models_are_color_generic_and_match() -> None:
    assert NAMES == ["color", "generic", "match"]
    for name, model in BUILTIN_MODELS.items():
        manifest = model.manifest()
        assert model.name == manifest.family == name
        assert model.description
        assert manifest.output_normalized
        assert 0 < manifest.dimension <= (1280 if name == "generic" else 1024)


def test_export_declares_an_ir_version_onnxruntime_loads(exported: bytes, model: BuiltinModel) -> None:
    graph = onnx.load_from_string(exported)
    assert graph.ir_version <= 10
    manifest = model.manifest()
    assert [i.name for i in graph.graph.input] == [manifest.input_name]
    assert [o.name for o in graph.graph.output] == [manifest.output_name]


def test_export_is_byte_identical_across_calls(exported: bytes, model: BuiltinModel) -> None:
    assert model.export_onnx() == exported


def test_onnxruntime_matches_torch(session: ort.InferenceSession, model: BuiltinModel) -> None:
    batch = _pixels(model, 5)
    with torch.no_grad():
        expected = model.torch_module()(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(_run(session, model, batch), expected, atol=1e-4)


def test_output_is_unit_norm_with_the_manifest_dimension(session: ort.InferenceSession, model: BuiltinModel) -> None:
    vectors = _run(session, model, _pixels(model, 4))
    assert vectors.shape == (4, model.manifest().dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batch_dimension_is_dynamic(session: ort.InferenceSession, model: BuiltinModel) -> None:
    batch = _pixels(model, 7, seed=1)
    together = _run(session, model, batch)
    one = _run(session, model, batch[:1])
    three = _run(session, model, batch[4:])
    np.testing.assert_allclose(np.concatenate([one, three]), together[[0, 4, 5, 6]], atol=1e-5)


def test_match_is_invariant_to_horizontal_flips() -> None:
    model = BUILTIN_MODELS["match"]
    batch = _pixels(model, 3, seed=2)
    session = ort.InferenceSession(model.export_onnx(), providers=["CPUExecutionProvider"])
    flipped = np.ascontiguousarray(batch[..., ::-1])
    np.testing.assert_allclose(_run(session, model, flipped), _run(session, model, batch), atol=1e-5)


# Hellinger-normalised histograms make cosine similarity the Bhattacharyya coefficient, the
# overlap of two colour distributions (1 = the same distribution). A half-size copy has the
# same colours in the same places, so it should stay near 1. Turning the hue wheel half a turn
# moves every coloured pixel to the opposite a*/b* bins; only the neutral (grey, white, black)
# share of the photo still overlaps, so for clearly coloured photos (mean HSV saturation of at
# least 40/255) the overlap must drop below 0.8 and at least 0.2 under the resized copy's.
RESIZED_AT_LEAST = 0.98
HUE_ROTATED_BELOW = 0.8
MARGIN = 0.2
MIN_SATURATION = 40


def _hue_rotated(image: Image.Image, turn: int = 128) -> Image.Image:
    hsv = np.asarray(image.convert("HSV")).copy()
    hsv[..., 0] += np.uint8(turn)
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _colourful_photos(folder: Path) -> list[Image.Image]:
    photos = []
    for path in sorted(folder.glob("*.JPEG"))[::60]:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        if np.asarray(rgb.convert("HSV"))[..., 1].mean() >= MIN_SATURATION:
            photos.append(rgb)
    return photos


def test_color_tells_hue_rotation_from_resizing(imagenet_sample_dir: Path) -> None:
    model = BUILTIN_MODELS["color"]
    session = ort.InferenceSession(model.export_onnx(), providers=["CPUExecutionProvider"])
    photos = _colourful_photos(imagenet_sample_dir)
    assert len(photos) >= 3
    for photo in photos:
        resized = photo.resize((photo.width // 2, photo.height // 2), Image.Resampling.BILINEAR)
        batch = preprocess([photo, resized, _hue_rotated(photo)], model.manifest())
        original, small, rotated = _run(session, model, batch)
        resized_similarity, rotated_similarity = float(small @ original), float(rotated @ original)
        assert resized_similarity >= RESIZED_AT_LEAST
        assert rotated_similarity < HUE_ROTATED_BELOW
        assert resized_similarity - rotated_similarity >= MARGIN
