"""`simctl compare` and the SDK against a real embedder process with its built-in models: a photo
scores higher against an altered copy of itself than against another photo, and a compare with
one undecodable image fails naming it and leaves the registry as it was."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.data import SHARED
from PIL import Image
from support.models import png_bytes

from simmesh.devstack.service import start_service
from simmesh_client import Client, ClientConfig, SimmeshError
from simmesh_client.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("compare")
    process, address = start_service(
        "embedder",
        ["simmesh.embedder"],
        data_dir=root / "data",
        log_path=root / "embedder.log",
        env={"SIMMESH_METRICS_PORT": "-1"},
        timeout=600,
    )
    try:
        yield address
    finally:
        process.stop()


def _photos(folder: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A photo, a cropped and recompressed copy of it, and a different photo."""
    if folder.is_dir():
        first, second = sorted(folder.iterdir())[:2]
        image = Image.open(first).convert("RGB")
    else:
        first, second = tmp_path / "a.png", tmp_path / "b.png"
        first.write_bytes(png_bytes((200, 40, 40), size=(96, 96)))
        second.write_bytes(png_bytes((40, 40, 200), size=(96, 96)))
        image = Image.open(first).convert("RGB")
    width, height = image.size
    buffer = io.BytesIO()
    image.crop((width // 20, height // 20, width - width // 20, height - height // 20)).save(buffer, "JPEG", quality=70)
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(buffer.getvalue())
    return first, copy, second


def test_compare_ranks_a_copy_above_another_photo_and_refuses_a_broken_image(embedder, tmp_path, capsys):
    photo, copy, other = _photos(SHARED / "datasets" / "imagenet-sample", tmp_path)
    for model in ("models/match", "models/generic"):
        with Client(ClientConfig(embedder_address=embedder, timeout=300)) as client:
            comparison = client.embedder.compare(model, photo, [copy, other])
        assert comparison.model_version == f"{model}/versions/1"
        same, different = comparison.similarities
        assert same > different, (model, same, different)
        assert same > 0.8

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    with Client(ClientConfig(embedder_address=embedder)) as client:
        before = [m.name for m in client.embedder.list_models()]
        with pytest.raises(SimmeshError) as raised:
            client.embedder.compare("match", photo, [copy, broken])
        assert raised.value.reason == "IMAGE_UNDECODABLE" and "candidates[1]" in str(raised.value)
        assert [m.name for m in client.embedder.list_models()] == before

    capsys.readouterr()
    assert main(["--embedder", embedder, "compare", "--model", "models/match", str(photo), str(copy), "--json"]) == 0
    assert '"similarity"' in capsys.readouterr().out
