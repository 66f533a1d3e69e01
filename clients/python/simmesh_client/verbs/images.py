"""`simctl images upload`: upload a folder of training images into groups.

    simctl images upload ./red --group red
    simctl images upload ./photos --group shoes --group sneaker-42 --recursive

Files with an image extension are uploaded in batches, deduplicated by content on the server; a
file the server cannot decode fails alone and is listed at the end (exit 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from tqdm import tqdm

from simmesh_client.cli import EXIT_FAILURE, EXIT_OK, CommandError, Context
from simmesh_client.errors import PartialFailure
from simmesh_client.verbs.common import IMAGE_SUFFIXES, message_dict, positive_int
from simmesh_client.verbs.declare import Verbs
from simmesh_proto.v1 import catalog_pb2


def register(verbs: Verbs) -> None:
    actions = verbs.group(
        "images", help="upload training images", description="Upload training images into the catalog."
    )
    upload = actions.add("upload", run_upload, help="upload the images of a folder into groups")
    upload.add_argument("folder", type=Path, metavar="DIR")
    upload.add_argument(
        "--group",
        dest="groups",
        action="append",
        default=[],
        metavar="GROUP",
        help="add the images to this group (repeatable)",
    )
    upload.add_argument("--recursive", action="store_true", help="include sub-folders")
    upload.add_argument("--batch-size", type=positive_int, default=32, metavar="N")


def image_files(folder: Path, recursive: bool) -> list[Path]:
    if not folder.is_dir():
        raise CommandError(f"{folder} is not a folder")
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(path for path in found if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


def run_upload(context: Context) -> int:
    args = context.args
    files = image_files(args.folder, args.recursive)
    if not files:
        raise CommandError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {args.folder}")
    failures = []
    with tqdm(total=len(files), desc="uploading", unit="image", file=context.stderr) as bar:
        try:
            images = context.client.catalog.upload_images(
                files, groups=args.groups, batch_size=args.batch_size, on_uploaded=bar.update
            )
        except PartialFailure as error:
            uploaded = cast(list[catalog_pb2.TrainingImage | None], error.result)  # one entry per file
            images = [image for image in uploaded if image is not None]
            failures = list(error.failures)
    if context.json:
        context.print_json(
            {
                "images": [message_dict(image) for image in images],
                "failed": [{"file": f.id, "error": str(f.error)} for f in failures],
            }
        )
    else:
        context.stdout.write(
            f"uploaded {len(images)} images" + (f" into {', '.join(args.groups)}" if args.groups else "") + "\n"
        )
        for failure in failures:
            context.stdout.write(f"failed {failure.id}: {failure.error}\n")
    return EXIT_FAILURE if failures else EXIT_OK
