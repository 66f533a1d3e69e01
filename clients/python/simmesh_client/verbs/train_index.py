"""`simctl train-index`: train a collection's approximate index (IVF or HNSW).

simctl train-index --collection products --kind ivf_flat --wait
simctl train-index --collection products --kind hnsw          # prints the operation and returns
"""

from __future__ import annotations

import argparse
from typing import Any

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.enums import INDEX_KIND, short_name, short_names
from simmesh_client.operations import ProgressBar
from simmesh_client.verbs.common import enum_arg, message_dict, positive_int
from simmesh_proto.v1 import indexer_pb2

_KINDS = [kind for kind in short_names(*INDEX_KIND) if kind != "exact"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "train-index",
        parents=parents,
        help="train a collection's approximate index",
        description="Train the collection's approximate index on its vectors; searches keep using the previous "
        "index until the new one is swapped in. Without --wait, prints the operation's name and returns.",
    )
    parser.add_argument("--collection", required=True, metavar="COLLECTION")
    parser.add_argument(
        "--kind", type=enum_arg(*INDEX_KIND), metavar="KIND", help=f"{', '.join(_KINDS)} (default: the collection's)"
    )
    parser.add_argument("--nlist", type=positive_int, metavar="N", help="IVF lists (default about 4 * sqrt(n))")
    parser.add_argument("--wait", action="store_true", help="wait for training to finish, with a progress bar")
    parser.set_defaults(handler=run)


def run(context: Context) -> int:
    args = context.args
    indexer = context.client.indexer
    if not args.wait:
        operation = indexer.train_index(args.collection, kind=args.kind, nlist=args.nlist or 0, wait=False)
        if context.json:
            context.print_json({"operation": operation.name, "done": operation.done})
        else:
            context.stdout.write(f"started {operation.name}\n")
        return EXIT_OK
    with ProgressBar("training index", file=context.stderr) as bar:
        collection = indexer.train_index(args.collection, kind=args.kind, nlist=args.nlist or 0, on_progress=bar)
    if context.json:
        context.print_json(message_dict(collection))
    else:
        state = short_name(indexer_pb2.IndexState, "INDEX_STATE_", collection.index_state)
        kind = short_name(*INDEX_KIND, collection.index.kind)
        context.stdout.write(f"{collection.name}: {kind} index {state}, {collection.record_count} records\n")
    return EXIT_OK
