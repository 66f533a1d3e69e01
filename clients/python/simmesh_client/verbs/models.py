"""`simctl models`: import ONNX models and manage the embedder's registry.

    simctl models import model.onnx --id mobilenet --input-name input --output-name output \
        --size 224 --layout nchw --color rgb --resize shorter-side-crop --scale 1/255 \
        --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --normalize --default
    simctl models import model.onnx --id mobilenet --manifest manifest.json
    simctl models import image.onnx --id clip --manifest clip.json --text-model text.onnx \
        --tokenizer tokenizer.json --text-input-ids input_ids --text-attention-mask attention_mask \
        --text-output text_embedding --max-length 77
    simctl models list
    simctl models show mobilenet
    simctl models set-default mobilenet 2
    simctl models delete mobilenet
"""

from __future__ import annotations

import argparse
from typing import Any

from simmesh_client.cli import EXIT_OK, CommandError, Context
from simmesh_client.enums import COLOR_ORDER, LAYOUT, RESIZE_POLICY, short_name, short_names
from simmesh_client.models import load_manifest
from simmesh_client.verbs.common import (
    enum_arg,
    floats,
    message_dict,
    number,
    positive_int,
    print_fields,
    print_message,
    print_messages,
    size_text,
    timestamp_text,
)
from simmesh_client.verbs.declare import Verbs
from simmesh_proto.v1 import embedder_pb2

# Uploads and the server's trial run take longer than ordinary calls.
IMPORT_TIMEOUT = 600.0

_SOURCES = (embedder_pb2.ModelSource, "MODEL_SOURCE_")


def register(verbs: Verbs) -> None:
    actions = verbs.group(
        "models",
        help="import and manage embedding models",
        description="Import ONNX models into the embedder and manage their versions.",
    )
    importing = actions.add(
        "import",
        run_import,
        help="upload an ONNX file as a model's next version",
        description="Upload an ONNX file as the next version of a model (created if new). The manifest comes "
        "from --manifest, from the flags, or both (flags win).",
    )
    importing.add_argument("file", metavar="FILE", help="the ONNX model")
    importing.add_argument("--id", dest="model_id", required=True, help="model id: lower-case letters, digits, -")
    importing.add_argument("--manifest", metavar="JSON_FILE", help="ModelManifest as JSON")
    importing.add_argument("--description", default="")
    importing.add_argument(
        "--default", dest="set_default", action="store_true", help="make the new version the default"
    )
    importing.add_argument(
        "--chunk-size",
        type=positive_int,
        default=1024 * 1024,
        metavar="BYTES",
        help="upload chunk size (default 1 MiB)",
    )
    manifest = importing.add_argument_group("manifest")
    manifest.add_argument("--input-name", help="graph input that takes the image tensor")
    manifest.add_argument("--output-name", help="graph output that holds the embedding")
    manifest.add_argument("--size", type=_size, metavar="N|WxH", help="input size in pixels")
    manifest.add_argument("--layout", type=enum_arg(*LAYOUT), help=_one_of(LAYOUT))
    manifest.add_argument("--color", type=enum_arg(*COLOR_ORDER), help="channel order: " + _one_of(COLOR_ORDER))
    manifest.add_argument(
        "--resize",
        type=enum_arg(*RESIZE_POLICY),
        help="how images reach the input size: shorter-side-crop, stretch or letterbox",
    )
    manifest.add_argument(
        "--resize-shorter-side",
        type=positive_int,
        metavar="N",
        help="shorter side before the centre crop (default: the input size)",
    )
    manifest.add_argument("--scale", type=number, help="pixel (0..255) multiplier, e.g. 1/255")
    manifest.add_argument("--mean", type=floats, metavar="A,B,C", help="per-channel mean subtracted after scaling")
    manifest.add_argument("--std", type=floats, metavar="A,B,C", help="per-channel divisor after the mean")
    manifest.add_argument("--pad-value", type=float, help="padding value for letterbox")
    manifest.add_argument(
        "--normalize", action="store_true", default=None, help="L2-normalise the embeddings the embedder returns"
    )
    manifest.add_argument(
        "--output-normalized", action="store_true", default=None, help="the model's output is already L2-normalised"
    )
    manifest.add_argument("--family", help="free-form family tag")
    text = importing.add_argument_group("dual encoder (texts query images)")
    text.add_argument("--text-model", metavar="FILE", help="the text graph (ONNX); makes the model a dual encoder")
    text.add_argument("--tokenizer", metavar="FILE", help="the text graph's tokenizer (Hugging Face tokenizer.json)")
    text.add_argument("--text-input-ids", metavar="NAME", help="text graph input that takes the token ids")
    text.add_argument("--text-attention-mask", metavar="NAME", help="text graph input that takes the mask, if any")
    text.add_argument("--text-output", metavar="NAME", help="text graph output that holds the embedding")
    text.add_argument("--max-length", type=positive_int, metavar="N", help="tokens per text (padded or truncated)")
    actions.add("list", run_list, help="list models")
    actions.add("show", run_show, help="a model and its versions").add_argument(
        "model", metavar="MODEL", help="model id or models/{id}"
    )
    default = actions.add("set-default", run_set_default, help="choose a model's default version")
    default.add_argument("model", metavar="MODEL")
    default.add_argument("version", metavar="VERSION", type=positive_int)
    actions.add("delete", run_delete, help="delete a model with all its versions").add_argument(
        "model", metavar="MODEL"
    )


def run_import(context: Context) -> int:
    args = context.args
    manifest = manifest_from_args(args)
    timeout = getattr(args, "timeout", None) or IMPORT_TIMEOUT
    version = context.client.embedder.import_model(
        args.model_id,
        args.file,
        manifest,
        description=args.description,
        set_default=args.set_default,
        chunk_size=args.chunk_size,
        text_onnx=args.text_model,
        tokenizer=args.tokenizer,
        timeout=timeout,
    )
    size = size_text(version.size_bytes)
    print_message(
        context,
        version,
        f"imported {version.name}: {version.manifest.dimension}-d, {size}, sha256 {version.sha256[:12]}",
    )
    return EXIT_OK


def manifest_from_args(args: argparse.Namespace) -> embedder_pb2.ModelManifest:
    """The --manifest file (if any) with the manifest flags applied over it."""
    manifest = embedder_pb2.ModelManifest()
    if args.manifest:
        try:
            manifest = load_manifest(args.manifest)
        except ValueError as error:
            raise CommandError(str(error)) from None
    flags: dict[str, Any] = {
        "input_name": args.input_name,
        "output_name": args.output_name,
        "resize_shorter_side": args.resize_shorter_side,
        "scale": args.scale,
        "pad_value": args.pad_value,
        "normalize": args.normalize,
        "output_normalized": args.output_normalized,
        "family": args.family,
    }
    _set_given(manifest, flags)
    if args.size is not None:
        manifest.input_width, manifest.input_height = args.size
    for name, flag in (("layout", "layout"), ("color_order", "color"), ("resize_policy", "resize")):
        value = getattr(args, flag)
        if value is not None:
            setattr(manifest, name, value)
    for name in ("mean", "std"):
        values = getattr(args, name)
        if values is not None:
            getattr(manifest, name)[:] = values
    _text_tower_from_args(manifest, args)
    return manifest


def _text_tower_from_args(manifest: embedder_pb2.ModelManifest, args: argparse.Namespace) -> None:
    """The text-tower flags over the manifest; --text-model makes an unspecified kind DUAL_ENCODER."""
    if (args.text_model is None) != (args.tokenizer is None):
        raise CommandError("a dual encoder needs both --text-model and --tokenizer")
    if args.text_model is not None and not manifest.kind:
        manifest.kind = embedder_pb2.MODEL_KIND_DUAL_ENCODER
    flags = {
        "input_ids_name": args.text_input_ids,
        "attention_mask_name": args.text_attention_mask,
        "output_name": args.text_output,
        "max_length": args.max_length,
    }
    if any(value is not None for value in flags.values()):
        _set_given(manifest.text, flags)


def _set_given(message: Any, flags: dict[str, Any]) -> None:
    """Sets each field of `message` whose flag was given."""
    for name, value in flags.items():
        if value is not None:
            setattr(message, name, value)


def run_list(context: Context) -> int:
    print_messages(
        context,
        list(context.client.embedder.list_models()),
        ("NAME", "SOURCE", "DEFAULT", "LATEST", "UPDATED", "DESCRIPTION"),
        lambda model: (
            model.name,
            short_name(*_SOURCES, model.source),
            model.default_version or "-",
            model.latest_version or "-",
            timestamp_text(model.update_time),
            model.description,
        ),
    )
    return EXIT_OK


def run_show(context: Context) -> int:
    embedder = context.client.embedder
    model = embedder.get_model(context.args.model)
    versions = list(embedder.list_versions(model.name))
    if context.json:
        context.print_json({**message_dict(model), "versions": [message_dict(v) for v in versions]})
        return EXIT_OK
    print_fields(
        context,
        [
            ("name", model.name),
            ("description", model.description or "-"),
            ("source", short_name(*_SOURCES, model.source)),
            ("default version", model.default_version or "-"),
            ("latest version", model.latest_version or "-"),
            ("created", timestamp_text(model.create_time)),
            ("updated", timestamp_text(model.update_time)),
        ],
    )
    context.stdout.write("\n")
    context.print_table(
        ("VERSION", "DIMENSION", "INPUT", "SIZE", "SHA256", "LOADED", "CREATED"),
        [
            (
                version.name.rsplit("/", 1)[-1],
                version.manifest.dimension,
                f"{version.manifest.input_width}x{version.manifest.input_height}",
                size_text(version.size_bytes),
                version.sha256[:12],
                "yes" if version.loaded else "no",
                timestamp_text(version.create_time),
            )
            for version in versions
        ],
    )
    return EXIT_OK


def run_set_default(context: Context) -> int:
    model = context.client.embedder.set_default_version(context.args.model, context.args.version)
    print_message(context, model, f"{model.name}: default version {model.default_version}")
    return EXIT_OK


def run_delete(context: Context) -> int:
    embedder = context.client.embedder
    embedder.delete_model(context.args.model)
    name = context.args.model if context.args.model.startswith("models/") else f"models/{context.args.model}"
    if context.json:
        context.print_json({"deleted": name})
    else:
        context.stdout.write(f"deleted {name}\n")
    return EXIT_OK


def _one_of(enum: tuple[Any, str]) -> str:
    return ", ".join(short_names(*enum))


def _size(text: str) -> tuple[int, int]:
    """`224` -> (224, 224); `320x240` -> (320, 240) as width x height."""
    parts = text.lower().split("x")
    try:
        sizes = [int(part) for part in parts]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected N or WxH in pixels, got {text!r}")
    return (sizes[0], sizes[-1])
