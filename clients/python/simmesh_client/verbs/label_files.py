"""Reading labeled images for `simctl label`: a folder (one sub-folder per label, or one label
for all) or a CSV of `path,label` rows (a path on several rows gets every label)."""

from __future__ import annotations

import csv
from pathlib import Path

from simmesh_client.cli import CommandError
from simmesh_client.labeling import LabeledItem
from simmesh_client.verbs.common import IMAGE_SUFFIXES


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """The image files under `folder` (by suffix), sorted."""
    if not folder.is_dir():
        raise CommandError(f"{folder}: not a folder")
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def image_id(path: Path, root: Path) -> str:
    """The id an image file is stored under: its path below `root`, `/` turned into `:`."""
    return path.relative_to(root).as_posix().replace("/", ":")


def folder_items(folder: Path, label: str | None) -> list[LabeledItem]:
    """Every image of `folder` with `label`, or, without one, the images of each sub-folder with
    the sub-folder's name (images directly in `folder` go to the pool)."""
    if label is not None:
        return [LabeledItem(path, (label,) if label else (), image_id(path, folder)) for path in image_files(folder)]
    items = [LabeledItem(path, (), image_id(path, folder)) for path in image_files(folder)]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        items += [LabeledItem(path, (sub.name,), image_id(path, folder)) for path in image_files(sub, True)]
    return items


def csv_items(path: Path) -> list[LabeledItem]:
    """Rows `path,label` (a header row `path,label` is skipped); paths are relative to the CSV's folder."""
    labels: dict[Path, list[str]] = {}
    with path.open(newline="") as file:
        for number, row in enumerate(csv.reader(file), start=1):
            if not row or not row[0].strip() or (number == 1 and row[0].strip().lower() in ("path", "file")):
                continue
            image = (path.parent / row[0].strip()).resolve()
            if not image.is_file():
                raise CommandError(f"{path}:{number}: no image file {row[0]!r}")
            label = row[1].strip() if len(row) > 1 else ""
            found = labels.setdefault(image, [])
            if label and label not in found:
                found.append(label)
    base = path.parent.resolve()
    return [LabeledItem(image, tuple(found), _relative_id(image, base)) for image, found in labels.items()]


def _relative_id(image: Path, base: Path) -> str:
    try:
        return image_id(image, base)
    except ValueError:
        return image.name
