"""`simctl deploy`: re-embed a collection with a task version and bind it to that version.

simctl deploy palette --collection products --wait                # the production version
simctl deploy palette/versions/2 --collection products --wait
"""

from __future__ import annotations

import functools

from simmesh_client.cli import Context
from simmesh_client.operations import ProgressBar
from simmesh_client.verbs.declare import Verbs, add_collection_option
from simmesh_client.verbs.waiting import add_wait_flag, run_operation
from simmesh_proto.v1 import indexer_pb2


def register(verbs: Verbs) -> None:
    parser = verbs.add(
        "deploy",
        run,
        help="re-embed a collection with a task version",
        description="Re-embed every record of the collection with the version (TASK alone: its production "
        "version) and bind the collection to it. Without --wait, prints the operation's name and returns.",
    )
    parser.add_argument("version", metavar="TASK[/versions/N]")
    add_collection_option(parser)
    add_wait_flag(parser, "re-embedding to finish")
    parser.add_argument(
        "--allow-drop",
        action="store_true",
        help="drop (and list) records with neither a kept image nor a reachable URL instead of failing",
    )


def run(context: Context) -> int:
    args = context.args
    start = functools.partial(context.client.catalog.deploy, args.version, args.collection, allow_drop=args.allow_drop)
    return run_operation(context, start, lambda: ProgressBar("re-embedding", file=context.stderr), _summary)


def _summary(response: indexer_pb2.ReembedResponse) -> str:
    dropped = ", ".join(response.missing_image_ids)
    return f"{response.collection}: {response.reembedded_count} records re-embedded with {response.model}" + (
        f", {response.missing_image_count} dropped, without a retrievable image: {dropped}"
        if response.missing_image_count
        else ""
    )
