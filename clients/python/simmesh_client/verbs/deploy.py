"""`simctl deploy`: re-embed a collection with a task version and bind it to that version.

simctl deploy palette --collection products --wait                # the production version
simctl deploy palette/versions/2 --collection products --wait
"""

from __future__ import annotations

import argparse
from typing import Any

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.operations import ProgressBar
from simmesh_client.verbs.common import message_dict


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deploy",
        parents=parents,
        help="re-embed a collection with a task version",
        description="Re-embed every record of the collection with the version (TASK alone: its production "
        "version) and bind the collection to it. Without --wait, prints the operation's name and returns.",
    )
    parser.add_argument("version", metavar="TASK[/versions/N]")
    parser.add_argument("--collection", required=True, metavar="COLLECTION")
    parser.add_argument("--wait", action="store_true", help="wait for re-embedding to finish, with a progress bar")
    parser.add_argument(
        "--allow-drop",
        action="store_true",
        help="drop (and list) records with neither a kept image nor a reachable URL instead of failing",
    )
    parser.set_defaults(handler=run)


def run(context: Context) -> int:
    args = context.args
    catalog = context.client.catalog
    if not args.wait:
        operation = catalog.deploy(args.version, args.collection, allow_drop=args.allow_drop, wait=False)
        if context.json:
            context.print_json({"operation": operation.name, "done": operation.done})
        else:
            context.stdout.write(f"started {operation.name}\n")
        return EXIT_OK
    with ProgressBar("re-embedding", file=context.stderr) as bar:
        response = catalog.deploy(args.version, args.collection, allow_drop=args.allow_drop, on_progress=bar)
    if context.json:
        context.print_json(message_dict(response))
    else:
        context.stdout.write(
            f"{response.collection}: {response.reembedded_count} records re-embedded with "
            f"{response.model}"
            + (
                f", {response.missing_image_count} dropped, without a retrievable image: "
                + ", ".join(response.missing_image_ids)
                if response.missing_image_count
                else ""
            )
            + "\n"
        )
    return EXIT_OK
