"""`simctl train-index`: train a collection's approximate index (IVF or HNSW).

simctl train-index --collection products --kind ivf_flat --wait
simctl train-index --collection products --kind hnsw          # prints the operation and returns
"""

from __future__ import annotations

import functools

from simmesh_client.cli import Context
from simmesh_client.enums import INDEX_KIND, short_name, short_names
from simmesh_client.operations import ProgressBar
from simmesh_client.verbs.common import enum_arg, positive_int
from simmesh_client.verbs.declare import Verbs, add_collection_option
from simmesh_client.verbs.waiting import add_wait_flag, run_operation
from simmesh_proto.v1 import indexer_pb2

_KINDS = [kind for kind in short_names(*INDEX_KIND) if kind != "exact"]


def register(verbs: Verbs) -> None:
    parser = verbs.add(
        "train-index",
        run,
        help="train a collection's approximate index",
        description="Train the collection's approximate index on its vectors; searches keep using the previous "
        "index until the new one is swapped in. Without --wait, prints the operation's name and returns.",
    )
    add_collection_option(parser)
    parser.add_argument(
        "--kind", type=enum_arg(*INDEX_KIND), metavar="KIND", help=f"{', '.join(_KINDS)} (default: the collection's)"
    )
    parser.add_argument("--nlist", type=positive_int, metavar="N", help="IVF lists (default about 4 * sqrt(n))")
    add_wait_flag(parser, "training to finish")


def run(context: Context) -> int:
    args = context.args
    start = functools.partial(
        context.client.indexer.train_index, args.collection, kind=args.kind, nlist=args.nlist or 0
    )
    return run_operation(context, start, lambda: ProgressBar("training index", file=context.stderr), _summary)


def _summary(collection: indexer_pb2.Collection) -> str:
    state = short_name(indexer_pb2.IndexState, "INDEX_STATE_", collection.index_state)
    kind = short_name(*INDEX_KIND, collection.index.kind)
    return f"{collection.name}: {kind} index {state}, {collection.record_count} records"
