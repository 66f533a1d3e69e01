"""`simctl train`: train a task's next model version.

simctl train palette --wait                 # progress bar: epoch, loss, metric
simctl train palette --epochs 5 --wait
simctl train palette                        # prints the operation and returns
"""

from __future__ import annotations

import functools
import math
from typing import TextIO

from tqdm import tqdm

from simmesh_client.cli import Context
from simmesh_client.closing import Closing
from simmesh_client.verbs.declare import Verbs
from simmesh_client.verbs.training_config import add_training_flags, training_config
from simmesh_client.verbs.waiting import add_wait_flag, run_operation
from simmesh_proto.v1 import catalog_pb2


def register(verbs: Verbs) -> None:
    parser = verbs.add(
        "train",
        run,
        help="train a task's next model version",
        description="Train the task's next version from the groups of its similarity types. The flags override "
        "the task's training config for this run. Without --wait, prints the operation's name and returns.",
    )
    parser.add_argument("task", metavar="TASK")
    add_wait_flag(parser, "the version")
    add_training_flags(parser)


class TrainingProgress(Closing):
    """A tqdm bar over epochs, showing the stage, loss and metric of TrainingMetadata."""

    def __init__(self, file: TextIO, disable: bool | None = None) -> None:
        self._bar = tqdm(
            total=0,
            desc="training",
            unit="epoch",
            file=file,
            disable=disable,
            bar_format="{desc}: {n_fmt}/{total_fmt} epochs|{bar}| [{elapsed}{postfix}]",
        )

    def __call__(self, metadata: catalog_pb2.TrainingMetadata) -> None:
        if metadata.epochs and self._bar.total != metadata.epochs:
            self._bar.total = metadata.epochs
        self._bar.n = metadata.epoch
        parts = [metadata.stage]
        if metadata.epoch:
            parts.append(f"loss={metadata.loss:.4f}")
            if not math.isnan(metadata.metric):
                parts.append(f"metric={metadata.metric:.3f}")
        self._bar.set_postfix_str(" ".join(parts), refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def run(context: Context) -> int:
    args = context.args
    start = functools.partial(context.client.catalog.train, args.task, training_config(args))
    return run_operation(context, start, lambda: TrainingProgress(context.stderr), _summary)


def _summary(version: catalog_pb2.TaskVersion) -> str:
    figures = ", ".join(
        f"{key} {version.metrics[key]:.3f}" for key in ("recall@1", "recall@5", "map@r") if key in version.metrics
    )
    return (
        f"{version.name} ({version.model_version}): {version.training_image_count} images, "
        f"{version.training_group_count} groups, {version.training_seconds:.1f}s" + (f"; {figures}" if figures else "")
    )
