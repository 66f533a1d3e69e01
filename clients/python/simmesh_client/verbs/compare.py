"""`simctl compare`: how similar images are to a reference image under a model, without a collection.

simctl compare --model models/match a.jpg b.jpg c.jpg      # b and c against a
simctl compare --model generic shoe.jpg https://example.com/shoe-2.jpg --json
"""

from __future__ import annotations

from pathlib import Path

from simmesh_client.base import ImageSource
from simmesh_client.cli import EXIT_OK, CommandError, Context
from simmesh_client.verbs.declare import Verbs


def register(verbs: Verbs) -> None:
    parser = verbs.add(
        "compare",
        run,
        help="compare images with a reference image",
        description="Print the cosine similarity (-1..1) of each IMAGE to REFERENCE under the model. An image "
        "is a local file, an http(s) URL or an s3:// / file:// URI in the server's object store.",
    )
    parser.add_argument("--model", required=True, metavar="MODEL", help="`models/{model}[/versions/{n}]` or its id")
    parser.add_argument("reference", metavar="REFERENCE")
    parser.add_argument("candidates", nargs="+", metavar="IMAGE")


def image_source(text: str) -> ImageSource:
    """A URL or object-store URI as given; anything else is a local file that must exist."""
    if "://" in text:
        return text
    path = Path(text)
    if not path.is_file():
        raise CommandError(f"{text} is not a file")
    return path


def run(context: Context) -> int:
    args = context.args
    reference = image_source(args.reference)
    candidates = [image_source(text) for text in args.candidates]
    comparison = context.client.embedder.compare(args.model, reference, candidates)
    if context.json:
        context.print_json(
            {
                "model_version": comparison.model_version,
                "reference": args.reference,
                "candidates": [
                    {"image": image, "similarity": score}
                    for image, score in zip(args.candidates, comparison.similarities)
                ],
            }
        )
    else:
        context.stdout.write(f"against {args.reference} with {comparison.model_version}\n")
        context.print_table(
            ["IMAGE", "SIMILARITY"],
            [(image, f"{score:.4f}") for image, score in zip(args.candidates, comparison.similarities)],
        )
    return EXIT_OK
