"""A tiny CLIP-style dual encoder trained on generated coloured shapes and their captions, exported for import.

model = train_tiny_dual_encoder()                 # about 20 s of CPU time
model.image_onnx, model.text_onnx, model.tokenizer_json, model.manifest()
image = shape_png("red", "circle", seed=3)        # "a red circle"
"""

from __future__ import annotations

import io
import itertools
import random
import warnings
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from PIL import Image, ImageDraw
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.normalizers import Lowercase
from tokenizers.pre_tokenizers import Whitespace
from torch import nn

from simmesh_proto.v1 import embedder_pb2
from support.models import input_manifest, tiny_embedding_model, tiny_manifest

COLORS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220), "yellow": (230, 210, 20)}
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS = ((255, 255, 255), (200, 200, 200), (40, 40, 40))
SIZE = 32
DIMENSION = 32
MAX_LENGTH = 8
# Opset and IR version as the built-in models are exported.
OPSET = 17
IR_VERSION = 8

CLASSES = tuple(itertools.product(COLORS, SHAPES))


def caption(color: str, shape: str) -> str:
    return f"a {color} {shape}"


def shape_image(color: str, shape: str, seed: int) -> Image.Image:
    """A `color` `shape` of random size and place on a plain background, SIZE x SIZE pixels."""
    rng = random.Random(seed)
    image = Image.new("RGB", (SIZE, SIZE), rng.choice(BACKGROUNDS))
    draw = ImageDraw.Draw(image)
    side = rng.randint(14, 24)
    x, y = rng.randint(1, SIZE - side - 1), rng.randint(1, SIZE - side - 1)
    box = (x, y, x + side, y + side)
    fill = COLORS[color]
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(x + side / 2, y), (x, y + side), (x + side, y + side)], fill=fill)
    return image


def shape_png(color: str, shape: str, seed: int) -> bytes:
    buffer = io.BytesIO()
    shape_image(color, shape, seed).save(buffer, format="PNG")
    return buffer.getvalue()


def word_tokenizer() -> Tokenizer:
    """A word-level tokenizer over the captions' words ([PAD] = 0, [UNK] = 1), lower-casing."""
    words = sorted({word for color, shape in CLASSES for word in caption(color, shape).split()})
    vocabulary = {"[PAD]": 0, "[UNK]": 1} | {word: i + 2 for i, word in enumerate(words)}
    tokenizer = Tokenizer(WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer.normalizer = Lowercase()
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=MAX_LENGTH)
    tokenizer.enable_truncation(MAX_LENGTH)
    return tokenizer


class ImageTower(nn.Module):
    """[N, 3, SIZE, SIZE] pixels scaled to 0..1 -> [N, DIMENSION]."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(12, 24, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(24, 32, 3, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.project = nn.Linear(32 * 2, DIMENSION)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.features(pixels)
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        return self.project(pooled)


class TextTower(nn.Module):
    """[N, MAX_LENGTH] token ids and mask -> [N, DIMENSION]: masked mean of word embeddings, projected."""

    def __init__(self, vocabulary: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, DIMENSION)
        self.project = nn.Sequential(nn.Linear(DIMENSION, DIMENSION), nn.ReLU(), nn.Linear(DIMENSION, DIMENSION))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        mean = (self.embedding(input_ids) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.project(mean)


@dataclass(frozen=True)
class TinyDualEncoder:
    """The exported towers and tokenizer, ready for `ImportModel`."""

    image_onnx: bytes
    text_onnx: bytes
    tokenizer_json: bytes

    def manifest(self) -> embedder_pb2.ModelManifest:
        return input_manifest(
            SIZE,
            input_name="pixels",
            output_name="image_embedding",
            resize_policy=embedder_pb2.RESIZE_POLICY_STRETCH,
            scale=1 / 255,
            normalize=True,
            family="tiny-clip",
            kind=embedder_pb2.MODEL_KIND_DUAL_ENCODER,
            text=embedder_pb2.TextTower(
                input_ids_name="input_ids",
                attention_mask_name="attention_mask",
                output_name="text_embedding",
                max_length=MAX_LENGTH,
            ),
        )

    def import_requests(
        self, model_id: str, manifest: embedder_pb2.ModelManifest | None = None
    ) -> list[embedder_pb2.ImportModelRequest]:
        """The ImportModel stream for the three files, each in one chunk."""
        header = embedder_pb2.ImportModelRequest.Header(model_id=model_id, manifest=manifest or self.manifest())
        return [
            embedder_pb2.ImportModelRequest(header=header),
            embedder_pb2.ImportModelRequest(chunk=self.image_onnx),
            embedder_pb2.ImportModelRequest(text_chunk=self.text_onnx),
            embedder_pb2.ImportModelRequest(tokenizer_chunk=self.tokenizer_json),
        ]


def _training_set(per_class: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    labels = [label for label in range(len(CLASSES)) for _ in range(per_class)]
    pixels = np.stack(
        [np.asarray(shape_image(*CLASSES[label], seed=rng.randrange(1 << 30)), np.float32) / 255 for label in labels]
    )
    return torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy()), torch.tensor(labels)


def train_tiny_dual_encoder(steps: int = 100, batch: int = 36, seed: int = 0) -> TinyDualEncoder:
    """Trains both towers so each image scores its own caption above the other captions (a softmax over
    the CLASSES captions at temperature 0.07), then exports them with a word-level tokenizer."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = word_tokenizer()
    encodings = tokenizer.encode_batch([caption(*c) for c in CLASSES])
    ids = torch.tensor([e.ids for e in encodings])
    mask = torch.tensor([e.attention_mask for e in encodings])
    images, texts = ImageTower(), TextTower(tokenizer.get_vocab_size())
    optimizer = torch.optim.Adam([*images.parameters(), *texts.parameters()], lr=3e-3)
    all_pixels, all_labels = _training_set(40, rng)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        chosen = torch.randint(len(all_labels), (batch,), generator=generator)
        pixels, labels = all_pixels[chosen], all_labels[chosen]
        image_vectors = nn.functional.normalize(images(pixels), dim=1)
        text_vectors = nn.functional.normalize(texts(ids, mask), dim=1)
        loss = nn.functional.cross_entropy(image_vectors @ text_vectors.T / 0.07, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return TinyDualEncoder(
        image_onnx=_export(images.eval(), (torch.zeros(2, 3, SIZE, SIZE),), ["pixels"], "image_embedding"),
        text_onnx=_export(texts.eval(), (ids[:2], mask[:2]), ["input_ids", "attention_mask"], "text_embedding"),
        tokenizer_json=tokenizer.to_str().encode(),
    )


def _export(module: nn.Module, example: tuple[torch.Tensor, ...], inputs: list[str], output: str) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to file objects too
            input_names=inputs,
            output_names=[output],
            dynamic_axes={name: {0: "batch"} for name in [*inputs, output]},
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()


def untrained_dual_encoder(
    vocabulary: int | None = None, dimension: int = DIMENSION
) -> tuple[TinyDualEncoder, embedder_pb2.ModelManifest]:
    """A dual encoder of fixed random weights with its manifest: the tiny 16x16 image graph of
    `support.models` and a lookup-table text graph of `vocabulary` rows (default: the tokenizer's)."""
    tokenizer = word_tokenizer()
    model = TinyDualEncoder(
        image_onnx=tiny_embedding_model(size=16, dimension=DIMENSION),
        text_onnx=lookup_text_graph(vocabulary or tokenizer.get_vocab_size(), dimension),
        tokenizer_json=tokenizer.to_str().encode(),
    )
    manifest = model.manifest()
    image = tiny_manifest(size=16, dimension=DIMENSION)
    manifest.input_name, manifest.output_name = image.input_name, image.output_name
    manifest.input_width = manifest.input_height = 16
    return model, manifest


def lookup_text_graph(vocabulary: int, dimension: int, seed: int = 0, *, length: int = MAX_LENGTH) -> bytes:
    """An untrained text graph: ids [N, length] -> the mean of their rows of a random
    [vocabulary, dimension] table (the mask input is taken and ignored)."""
    table = np.random.default_rng(seed).standard_normal((vocabulary, dimension)).astype(np.float32)
    graph = onnx.helper.make_graph(
        [
            onnx.helper.make_node("Gather", ["table", "input_ids"], ["rows"]),
            onnx.helper.make_node("ReduceMean", ["rows"], ["text_embedding"], axes=[1], keepdims=0),
        ],
        "lookup",
        [
            onnx.helper.make_tensor_value_info("input_ids", onnx.TensorProto.INT64, ["N", length]),
            onnx.helper.make_tensor_value_info("attention_mask", onnx.TensorProto.INT64, ["N", length]),
        ],
        [onnx.helper.make_tensor_value_info("text_embedding", onnx.TensorProto.FLOAT, ["N", dimension])],
        [onnx.numpy_helper.from_array(table, "table")],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()
