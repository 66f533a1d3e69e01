"""`simctl types|tasks|groups|images|train|versions|deploy` and `client.catalog`, against an
in-process catalog and embedder (ONNX Runtime, file stores) served from a background thread."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from support.apps import AppsThread, started_catalog, started_embedder
from support.models import png_bytes

from simmesh.kit.server import App
from simmesh_client import Client, ClientConfig, PartialFailure, SimmeshError
from simmesh_client.cli import main
from simmesh_client.verbs.train import TrainingProgress
from simmesh_proto.v1 import catalog_pb2

COLOURS = {"red": (200, 30, 30), "orange": (220, 120, 20), "blue": (20, 40, 200), "teal": (20, 160, 160)}
PARENTS = {"warm": ("red", "orange"), "cool": ("blue", "teal")}


@dataclass(frozen=True)
class MeshAddresses:
    embedder: str
    catalog: str


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[MeshAddresses]:
    data = tmp_path / "data"

    async def start_apps() -> list[App]:
        embedder = await started_embedder(data / "embedder")
        catalog = await started_catalog(data / "catalog", embedder_addr=embedder.address, indexer_addr="127.0.0.1:1")
        return [embedder, catalog]

    server = AppsThread(start_apps).start()
    yield MeshAddresses(*server.addresses)
    server.stop()


def simctl(mesh: MeshAddresses, *args: str) -> int:
    return main(["--catalog", mesh.catalog, "--embedder", mesh.embedder, "--indexer", "127.0.0.1:1", *args])


def write_images(root: Path) -> dict[str, Path]:
    folders = {}
    for group, base in COLOURS.items():
        folder = root / group
        folder.mkdir(parents=True)
        for k in range(3):
            (folder / f"{k}.png").write_bytes(png_bytes(tuple(max(0, c - 25 * k) for c in base)))
        (folder / "notes.txt").write_text("not an image")
        folders[group] = folder
    return folders


def test_simctl_builds_a_task_trains_it_and_lists_versions(mesh, tmp_path, capsys):
    folders = write_images(tmp_path / "images")
    assert simctl(mesh, "types", "create", "colour", "--display-name", "Same colour") == 0
    assert (
        simctl(
            mesh,
            "tasks",
            "create",
            "palette",
            "--types",
            "colour",
            "--epochs",
            "2",
            "--input-size",
            "16",
            "--dimension",
            "16",
            "--batch-size",
            "8",
        )
        == 0
    )
    for group in COLOURS:
        assert simctl(mesh, "groups", "create", group, "--type", "colour") == 0
        assert simctl(mesh, "images", "upload", str(folders[group]), "--group", group) == 0
    for parent, members in PARENTS.items():
        assert simctl(mesh, "groups", "create", parent, "--type", "colour", "--members", ",".join(members)) == 0
    capsys.readouterr()

    assert simctl(mesh, "--json", "groups", "list", "--type", "colour") == 0
    listed = {g["name"]: g for g in json.loads(capsys.readouterr().out)}
    assert {name: len(g["images"]) for name, g in listed.items()} == {
        "groups/red": 3,
        "groups/orange": 3,
        "groups/blue": 3,
        "groups/teal": 3,
        "groups/warm": 0,
        "groups/cool": 0,
    }
    assert listed["groups/warm"]["members"] == ["groups/orange", "groups/red"]

    # Training needs something to train on: the task's refusal is printed, exit 1.
    assert simctl(mesh, "tasks", "create", "empty") == 0
    capsys.readouterr()
    assert simctl(mesh, "train", "empty", "--wait") == 1
    assert "NO_SIMILARITY_TYPES" in capsys.readouterr().err

    assert simctl(mesh, "train", "palette", "--wait") == 0
    captured = capsys.readouterr()
    assert "tasks/palette/versions/1 (models/task-palette/versions/1): 12 images, 4 groups" in captured.out
    assert simctl(mesh, "train", "palette", "--epochs", "1", "--wait") == 0
    assert "tasks/palette/versions/2" in capsys.readouterr().out

    assert simctl(mesh, "versions", "palette") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["VERSION", "PROD", "MODEL"]
    assert table[1].split()[:2] == ["tasks/palette/versions/1", "*"]
    assert table[2].split()[:2] == ["tasks/palette/versions/2", "models/task-palette/versions/2"]
    assert simctl(mesh, "--json", "versions", "palette", "--set-production", "2") == 0
    assert json.loads(capsys.readouterr().out)["production_version"] == 2

    # No indexer answers here: deploying says so, naming the reason.
    assert simctl(mesh, "deploy", "palette/versions/1", "--collection", "products", "--wait") == 1
    assert "INDEXER_UNAVAILABLE" in capsys.readouterr().err
    assert simctl(mesh, "deploy", "palette/versions/9", "--collection", "products") == 1
    assert "TASK_VERSION_NOT_FOUND" in capsys.readouterr().err


def test_sdk_trains_and_describes(mesh, tmp_path):
    folders = write_images(tmp_path / "images")
    with Client(ClientConfig.from_env(catalog=mesh.catalog, embedder=mesh.embedder, indexer="127.0.0.1:1")) as client:
        catalog = client.catalog
        catalog.create_similarity_type("colour")
        catalog.create_task(
            "palette",
            ["colour"],
            training_config={"epochs": 2, "input_size": 16, "embedding_dimension": 8, "batch_size": 8},
        )
        for group in COLOURS:
            catalog.create_group(group, "colour")
            uploaded = catalog.upload_images(sorted(folders[group].glob("*.png")), groups=[group], batch_size=2)
            assert len(uploaded) == 3 and all(f"groups/{group}" in image.groups for image in uploaded)
        with pytest.raises(PartialFailure) as failed:
            catalog.upload_images([folders["red"] / "0.png", folders["red"] / "notes.txt"], groups=["red"])
        assert [(f.index, f.error.reason) for f in failed.value.failures] == [(1, "IMAGE_UNDECODABLE")]

        stages: list[str] = []
        version = catalog.train("palette", on_progress=lambda m: stages.append(m.stage), poll_interval=0.05)
        assert version.name == "tasks/palette/versions/1" and stages[-1] == "done"
        assert [v.name for v in catalog.list_versions("palette")] == ["tasks/palette/versions/1"]
        assert catalog.get_task("palette").production_version == 1

        picture = folders["blue"] / "1.png"
        vectors = catalog.descriptors("palette", images=[picture])
        expected = client.embedder.embed(version.model_version, [picture])
        assert vectors.shape == (1, 8)
        np.testing.assert_allclose(vectors, expected, atol=1e-6)
        with pytest.raises(PartialFailure) as partial:
            catalog.descriptors("palette/versions/1", images=[picture, b"junk"])
        assert partial.value.failures[0].index == 1 and not partial.value.result[1].any()
        with pytest.raises(SimmeshError) as untrained:
            catalog.create_task("later", ["colour"])
            catalog.descriptors("later", images=[picture])
        assert untrained.value.reason == "TASK_NOT_TRAINED"


def test_the_training_bar_shows_epoch_loss_and_metric():
    out = io.StringIO()
    with TrainingProgress(out, disable=False) as bar:
        bar(catalog_pb2.TrainingMetadata(stage="loading", epochs=4))
        bar(catalog_pb2.TrainingMetadata(stage="training", epoch=3, epochs=4, loss=0.8125, metric=0.75))
    text = out.getvalue()
    assert "3/4 epochs" in text and "training loss=0.8125 metric=0.750" in text
