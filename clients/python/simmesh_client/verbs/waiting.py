"""`--wait` for verbs that start a long-running operation: the flag, and printing the operation or,
once it is done, its result."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from google.protobuf.message import Message

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.verbs.common import message_dict

# A progress display for the wait: called with each new metadata of the operation.
Progress = Callable[[], AbstractContextManager[Callable[[Any], None]]]


def add_wait_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """`--wait`: wait for `what` (e.g. "training to finish"), with a progress bar."""
    parser.add_argument("--wait", action="store_true", help=f"wait for {what}, with a progress bar")


def run_operation(
    context: Context, start: Callable[..., Any], progress: Progress, summary: Callable[[Any], str]
) -> int:
    """Without --wait: `start(wait=False)` and print the operation's name. With it: `start(on_progress=bar)`
    under the `progress` bar, then print the response (as JSON, or as the line `summary(response)`)."""
    if not context.args.wait:
        operation = start(wait=False)
        if context.json:
            context.print_json({"operation": operation.name, "done": operation.done})
        else:
            context.stdout.write(f"started {operation.name}\n")
        return EXIT_OK
    with progress() as bar:
        response: Message = start(on_progress=bar)
    if context.json:
        context.print_json(message_dict(response))
    else:
        context.stdout.write(summary(response) + "\n")
    return EXIT_OK
