"""`simctl label`: label by similarity.

simctl label create birds --k 10 --threshold 30                 # the built-in models/generic
simctl label create swatches --model models/color
simctl label add birds --folder photos/            # one sub-folder per label
simctl label add birds --csv labels.csv            # rows: path,label
simctl label add birds --folder unlabeled/ --pool  # the unlabeled pool
simctl label suggest birds new-photos/ --save --use-first
simctl label evaluate birds --sweep-k 1,3,5,10 --sweep-threshold 20,30,50
simctl label mine birds --example robin.jpg --limit 20
simctl label export birds --format csv -o labels.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tqdm import tqdm

from simmesh_client.cli import EXIT_FAILURE, EXIT_OK, CommandError, Context
from simmesh_client.labeling import batched
from simmesh_client.verbs.common import (
    floats,
    message_dict,
    positive_int,
    print_message,
    print_messages,
    printed_as_json,
)
from simmesh_client.verbs.declare import Verbs
from simmesh_client.verbs.label_files import csv_items, folder_items, image_files, image_id


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def _params(parser: argparse.ArgumentParser) -> None:
    """The suggestion settings `_param_values` reads back."""
    parser.add_argument(
        "--k", type=positive_int, default=None, metavar="N", help="neighbours that vote (default: the project's)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="PERCENT",
        help="suggest labels scoring at least this, 0..100 (default: the project's)",
    )
    parser.add_argument("--use-first", action="store_true", help="suggest only the best label")


def _param_values(args: argparse.Namespace) -> dict[str, Any]:
    """The `_params` flags as the labeler client's keyword arguments."""
    return {"k": args.k, "threshold": args.threshold, "use_first": args.use_first}


def register(verbs: Verbs) -> None:
    actions = verbs.group(
        "label",
        help="label images by similarity",
        description="Labeling projects: add labeled images, get label suggestions for "
        "new ones, measure accuracy, mine the unlabeled pool, export labels.",
    )

    create = actions.add("create", run_create, help="create a project")
    create.add_argument("project_id", metavar="PROJECT")
    create.add_argument(
        "--model",
        default="",
        help="models/{m}[/versions/{v}] or tasks/{t}[/versions/{v}] (default: models/generic, for photos)",
    )
    create.add_argument("--description", default="")
    _params(create)

    add = actions.add("add", run_add, help="add labeled (or pool) images from a folder or a CSV")
    add.add_argument("project", metavar="PROJECT")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", type=Path, help="images; each sub-folder's name is its images' label")
    source.add_argument("--csv", type=Path, help="rows path,label (paths relative to the CSV)")
    add.add_argument("--label", default=None, help="one label for every image of --folder")
    add.add_argument("--pool", action="store_true", help="add the --folder images unlabeled, to the pool")
    add.add_argument("--upsert", action="store_true", help="replace images whose id exists")
    add.add_argument("--batch-size", type=positive_int, default=256, metavar="N")

    suggest = actions.add("suggest", run_suggest, help="suggest labels for a folder of images")
    suggest.add_argument("project", metavar="PROJECT")
    suggest.add_argument("folder", type=Path, metavar="FOLDER")
    _params(suggest)
    suggest.add_argument("--save", action="store_true", help="store the images with their suggestions")
    suggest.add_argument("--batch-size", type=positive_int, default=256, metavar="N")

    evaluate = actions.add("evaluate", run_evaluate, help="leave-one-out accuracy, or a sweep table")
    evaluate.add_argument("project", metavar="PROJECT")
    _params(evaluate)
    evaluate.add_argument("--sweep-k", type=_ints, default=[], metavar="K,K,..")
    evaluate.add_argument("--sweep-threshold", type=floats, default=[], metavar="T,T,..")

    mine = actions.add("mine", run_mine, help="pool images most like some examples")
    mine.add_argument("project", metavar="PROJECT")
    mine.add_argument("--example", type=Path, action="append", default=[], metavar="FILE")
    mine.add_argument("--id", dest="ids", action="append", default=[], metavar="IMAGE_ID")
    mine.add_argument("--label", default="", help="every image carrying this label")
    mine.add_argument("--limit", type=positive_int, default=20, metavar="N")
    mine.add_argument("--duplicate-similarity", type=float, default=0.0, metavar="COSINE")

    export = actions.add("export", run_export, help="labels as CSV or JSON")
    export.add_argument("project", metavar="PROJECT")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--include-suggested", action="store_true")
    export.add_argument("-o", "--output", type=Path, default=None, help="file to write (default standard output)")


def run_create(context: Context) -> int:
    args = context.args
    project = context.client.labeler.create_project(
        args.project_id, args.model, description=args.description, **_param_values(args)
    )
    print_message(context, project, f"created {project.name} ({project.model}, collection {project.collection})")
    return EXIT_OK


def run_add(context: Context) -> int:
    args = context.args
    if args.csv is not None:
        if args.label is not None or args.pool:
            raise CommandError("--label and --pool go with --folder")
        items = csv_items(args.csv)
    else:
        items = folder_items(args.folder, "" if args.pool else args.label)
    with tqdm(total=len(items), unit="img", file=context.stderr, disable=context.json) as bar:
        summary = context.client.labeler.add_images(
            args.project,
            items,
            upsert=args.upsert,
            batch_size=args.batch_size,
            on_batch=lambda sent, _response: bar.update(sent - bar.n),
        )
    for failure in summary.failures:
        context.stderr.write(f"{items[failure.index].image}: {failure.error.reason}: {failure.error.message}\n")
    if context.json:
        context.print_json({"added": summary.added, "failed": len(summary.failures)})
    else:
        context.stdout.write(f"added {summary.added} of {len(items)} images\n")
    return EXIT_FAILURE if summary.failures else EXIT_OK


def run_suggest(context: Context) -> int:
    args = context.args
    paths = image_files(args.folder)
    rows, failed = [], 0
    with tqdm(total=len(paths), unit="img", file=context.stderr, disable=context.json) as bar:
        for batch in batched(paths, args.batch_size):
            reply = context.client.labeler.suggest(
                args.project,
                batch,
                save=args.save,
                ids=[image_id(p, args.folder) for p in batch] if args.save else (),
                **_param_values(args),
            )
            for suggestion in reply.suggestions:
                rows.append((batch[suggestion.index], suggestion))
            for error in reply.errors:
                failed += 1
                context.stderr.write(f"{batch[error.index]}: {error.status.message}\n")
            bar.update(len(batch))
    if context.json:
        context.print_json([{"path": str(path), **message_dict(s)} for path, s in rows])
    else:
        context.print_table(
            ("IMAGE", "LABELS", "BEST NEIGHBOUR"),
            [
                (
                    path.name,
                    ", ".join(f"{s.label} {s.score:.0f}" for s in suggestion.labels) or "-",
                    f"{suggestion.neighbors[0].id} {suggestion.neighbors[0].similarity:.2f}"
                    if suggestion.neighbors
                    else "-",
                )
                for path, suggestion in rows
            ],
        )
    return EXIT_FAILURE if failed else EXIT_OK


def run_evaluate(context: Context) -> int:
    args = context.args
    reply = context.client.labeler.evaluate(
        args.project, k_values=args.sweep_k, threshold_values=args.sweep_threshold, **_param_values(args)
    )
    if printed_as_json(context, reply):
        return EXIT_OK
    context.stdout.write(f"leave-one-out over {reply.image_count} labeled images\n")
    context.print_table(
        ("K", "THRESHOLD", "ACCURACY", "COVERAGE"),
        [(e.params.k, f"{e.params.threshold:g}", f"{e.accuracy:.3f}", f"{e.coverage:.3f}") for e in reply.evaluations],
    )
    if len(reply.evaluations) == 1:
        context.stdout.write("\n")
        context.print_table(
            ("LABEL", "SUPPORT", "PRECISION", "RECALL"),
            [(a.label, a.support, f"{a.precision:.3f}", f"{a.recall:.3f}") for a in reply.evaluations[0].labels],
        )
    return EXIT_OK


def run_mine(context: Context) -> int:
    args = context.args
    hits = []
    for hit in context.client.labeler.mine(
        args.project,
        examples=args.example,
        example_ids=args.ids,
        label=args.label,
        duplicate_similarity=args.duplicate_similarity,
        page_size=min(args.limit, 1000),
    ):
        hits.append(hit)
        if len(hits) == args.limit:
            break
    print_messages(context, hits, ("IMAGE", "SIMILARITY", "URL"), lambda h: (h.id, f"{h.similarity:.3f}", h.url))
    return EXIT_OK


def run_export(context: Context) -> int:
    args = context.args
    chunks = context.client.labeler.export(args.project, format=args.format, include_suggested=args.include_suggested)
    if args.output is None:
        out = getattr(context.stdout, "buffer", None)
        for chunk in chunks:
            if out is not None:
                out.write(chunk)
            else:
                context.stdout.write(chunk.decode())
        context.stdout.flush()
        return EXIT_OK
    with args.output.open("wb") as file:
        for chunk in chunks:
            file.write(chunk)
    context.stderr.write(f"wrote {args.output}\n")
    return EXIT_OK
