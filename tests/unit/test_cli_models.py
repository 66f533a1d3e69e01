"""`simctl models` and the SDK's model calls against an in-process embedder with ONNX Runtime."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.apps import AppsThread, started_embedder
from support.dual_encoder import DIMENSION, MAX_LENGTH, lookup_text_graph, word_tokenizer
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh.kit.server import App
from simmesh_client import Client, ClientConfig, SimmeshError
from simmesh_client.cli import main
from simmesh_client.models import as_manifest
from simmesh_proto.v1 import embedder_pb2


@pytest.fixture
def embedder(tmp_path: Path) -> Iterator[str]:
    async def start_apps() -> list[App]:
        return [await started_embedder(tmp_path / "data")]

    server = AppsThread(start_apps).start()
    yield server.addresses[0]
    server.stop()


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.onnx"
    path.write_bytes(tiny_embedding_model())
    return path


def simctl(embedder: str, *args: str) -> int:
    return main(["--embedder", embedder, *args])


def import_tiny(embedder: str, onnx_file: Path, *flags: str) -> int:
    """`simctl models import ONNX_FILE --id tiny FLAGS`."""
    return simctl(embedder, "models", "import", str(onnx_file), "--id", "tiny", *flags)


MANIFEST_FLAGS = (
    "--input-name",
    "input",
    "--output-name",
    "embedding",
    "--size",
    "16",
    "--layout",
    "nchw",
    "--color",
    "rgb",
    "--resize",
    "stretch",
    "--scale",
    "1/255",
    "--normalize",
)


def test_import_from_flags_list_show_embed_and_delete(embedder, onnx_file, capsys):
    code = import_tiny(embedder, onnx_file, *MANIFEST_FLAGS, "--description", "a tiny model", "--chunk-size", "500")
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("imported models/tiny/versions/1: 8-d")

    assert simctl(embedder, "models", "list") == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["NAME", "SOURCE", "DEFAULT", "LATEST", "UPDATED", "DESCRIPTION"]
    assert listing[1].split()[:4] == ["models/tiny", "imported", "1", "1"] and "a tiny model" in listing[1]

    assert simctl(embedder, "models", "show", "tiny", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "models/tiny" and shown["default_version"] == "1"
    manifest = shown["versions"][0]["manifest"]
    assert manifest["input_width"] == manifest["input_height"] == 16
    assert manifest["layout"] == "TENSOR_LAYOUT_NCHW" and manifest["resize_policy"] == "RESIZE_POLICY_STRETCH"
    assert manifest["normalize"] is True and manifest["scale"] == pytest.approx(1 / 255)

    with Client(ClientConfig(embedder_address=embedder)) as client:
        vectors = client.embedder.embed("tiny", [png_bytes((200, 10, 10)), png_bytes((10, 10, 200))])
        assert vectors.shape == (2, 8)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    assert simctl(embedder, "models", "delete", "tiny") == 0
    assert capsys.readouterr().out == "deleted models/tiny\n"
    assert simctl(embedder, "models", "show", "tiny") == 1
    assert capsys.readouterr().err.startswith("simctl: NOT_FOUND (MODEL_NOT_FOUND): ")


def test_manifest_file_with_short_enum_names_and_flags_over_it(embedder, onnx_file, tmp_path, capsys):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "input_name": "input",
                "outputName": "embedding",
                "input_width": 16,
                "input_height": 16,
                "layout": "NCHW",
                "color_order": "bgr",
                "resize_policy": "shorter-side-crop",
                "scale": 0.5,
                "mean": [0.1, 0.2, 0.3],
                "std": [1, 1, 1],
                "family": "tiny",
            }
        )
    )
    assert import_tiny(embedder, onnx_file, "--manifest", str(manifest), "--scale", "1/255", "--json") == 0
    version = json.loads(capsys.readouterr().out)
    assert version["name"] == "models/tiny/versions/1"
    assert version["manifest"]["color_order"] == "COLOR_ORDER_BGR"
    assert version["manifest"]["resize_policy"] == "RESIZE_POLICY_SHORTER_SIDE_CENTER_CROP"
    assert version["manifest"]["scale"] == pytest.approx(1 / 255)
    assert version["manifest"]["mean"] == pytest.approx([0.1, 0.2, 0.3])


def test_sdk_versions_default_and_bytes_upload(embedder):
    with Client(ClientConfig(embedder_address=embedder)) as client:
        models = client.embedder
        first = models.import_model("tiny", tiny_embedding_model(seed=1), tiny_manifest(), description="v1")
        manifest_dict = {
            "input_name": "input",
            "output_name": "embedding",
            "input_width": 16,
            "input_height": 16,
            "layout": "nchw",
            "color_order": "rgb",
            "resize_policy": "stretch",
            "scale": 1 / 255,
        }
        second = models.import_model("models/tiny", tiny_embedding_model(seed=2), manifest_dict, chunk_size=64)
        assert (first.name, second.name) == ("models/tiny/versions/1", "models/tiny/versions/2")
        assert [v.name for v in models.list_versions("tiny", page_size=1)] == [first.name, second.name]
        assert models.get_model("tiny").default_version == 1

        image = png_bytes((90, 120, 30))
        before = models.embed("tiny", [image])
        assert models.set_default_version("tiny", 2).default_version == 2
        after = models.embed("tiny", [image])
        np.testing.assert_allclose(after, models.embed(second.name, [image]), atol=1e-6)
        assert not np.allclose(before, after)

        models.import_model("other", tiny_embedding_model(), tiny_manifest())
        assert [m.name for m in models.list_models(page_size=1)] == ["models/other", "models/tiny"]
        models.delete_model("tiny")
        with pytest.raises(SimmeshError) as raised:
            models.get_model("tiny")
        assert raised.value.reason == "MODEL_NOT_FOUND"


def test_an_import_the_server_refuses_exits_1_with_its_reason(embedder, onnx_file, capsys):
    code = import_tiny(embedder, onnx_file, *MANIFEST_FLAGS[2:], "--input-name", "pixels", "--output-name", "embedding")
    assert code == 1
    assert capsys.readouterr().err.startswith("simctl: INVALID_ARGUMENT (MANIFEST_MISMATCH): ")


def test_a_missing_file_or_bad_flag_is_reported_without_a_call(tmp_path, capsys):
    assert (
        main(
            ["--embedder", "127.0.0.1:1", "models", "import", str(tmp_path / "none.onnx"), "--id", "x", *MANIFEST_FLAGS]
        )
        == 1
    )
    assert capsys.readouterr().err == f"simctl: {tmp_path / 'none.onnx'}: No such file or directory\n"
    with pytest.raises(SystemExit) as exited:
        main(["models", "import", "x.onnx", "--id", "x", "--layout", "chw"])
    assert exited.value.code == 2
    assert "unknown TensorLayout 'chw'; expected one of nchw, nhwc" in capsys.readouterr().err


def test_as_manifest_refuses_unknown_names():
    assert as_manifest({"layout": "TENSOR_LAYOUT_NHWC"}).layout == embedder_pb2.TENSOR_LAYOUT_NHWC
    with pytest.raises(ValueError, match="unknown ResizePolicy 'crop'"):
        as_manifest({"resize_policy": "crop"})
    with pytest.raises(ValueError, match="invalid manifest"):
        as_manifest({"input": "x"})


def test_a_dual_encoder_imports_from_flags_and_embeds_texts(embedder, tmp_path, capsys):
    tokenizer = word_tokenizer()
    files = {
        "image.onnx": tiny_embedding_model(dimension=DIMENSION),
        "text.onnx": lookup_text_graph(tokenizer.get_vocab_size(), DIMENSION),
        "tokenizer.json": tokenizer.to_str().encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    text_flags = ["--text-input-ids", "input_ids", "--text-attention-mask", "attention_mask"]
    text_flags += ["--text-output", "text_embedding", "--max-length", str(MAX_LENGTH)]
    importing = ["models", "import", str(tmp_path / "image.onnx"), "--id", "shapes", *MANIFEST_FLAGS, *text_flags]
    assert simctl(embedder, *importing, "--text-model", str(tmp_path / "text.onnx"), "--json") == 1
    assert capsys.readouterr().err == "simctl: a dual encoder needs both --text-model and --tokenizer\n"
    tower = ["--text-model", str(tmp_path / "text.onnx"), "--tokenizer", str(tmp_path / "tokenizer.json")]
    assert simctl(embedder, *importing, *tower, "--json") == 0
    version = json.loads(capsys.readouterr().out)
    assert version["manifest"]["kind"] == "MODEL_KIND_DUAL_ENCODER"
    assert version["manifest"]["text"]["max_length"] == MAX_LENGTH and version["tokenizer_sha256"]
    with Client(ClientConfig(embedder_address=embedder)) as client:
        vectors = client.embedder.embed_texts("shapes", ["a red circle"])
    assert vectors.shape == (1, DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_compare_prints_each_images_similarity_and_the_sdk_returns_them(embedder, onnx_file, tmp_path, capsys):
    assert simctl(embedder, "models", "import", str(onnx_file), "--id", "tiny", *MANIFEST_FLAGS) == 0
    files = []
    for name, color in (("red.png", (220, 20, 20)), ("red-too.png", (220, 20, 20)), ("blue.png", (20, 20, 220))):
        files.append(tmp_path / name)
        files[-1].write_bytes(png_bytes(color))
    capsys.readouterr()

    assert simctl(embedder, "compare", "--model", "models/tiny", *map(str, files), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model_version"] == "models/tiny/versions/1"
    assert [c["image"] for c in shown["candidates"]] == [str(files[1]), str(files[2])]
    same, other = (c["similarity"] for c in shown["candidates"])
    assert same == pytest.approx(1.0, abs=1e-5) and other < same

    assert simctl(embedder, "compare", "--model", "tiny", *map(str, files)) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ["IMAGE", "SIMILARITY"] and table[3].split()[0] == str(files[2])

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    assert simctl(embedder, "compare", "--model", "tiny", str(files[0]), str(files[1]), str(broken)) == 1
    assert capsys.readouterr().err.startswith("simctl: INVALID_ARGUMENT (IMAGE_UNDECODABLE): candidates[1]")

    with Client(ClientConfig(embedder_address=embedder)) as client:
        comparison = client.embedder.compare("tiny", files[0], [files[2], png_bytes((220, 20, 20))])
    assert comparison.similarities[1] == pytest.approx(1.0, abs=1e-5)
    assert comparison.similarities[0] == pytest.approx(other, abs=1e-5)
