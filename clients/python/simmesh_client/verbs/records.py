"""`simctl get` and `simctl delete`: read and remove a collection's records.

simctl get --collection products --id sku-1 sku-2
simctl get --collection products --filter '{"color": "red"}' --limit 20
simctl delete --collection products --id sku-1 sku-2
simctl delete --collection products --filter '{"discontinued": true}'
"""

from __future__ import annotations

import itertools
from typing import Any

from simmesh_client.cli import EXIT_FAILURE, EXIT_OK, Context
from simmesh_client.vectors import from_vector
from simmesh_client.verbs.common import compact, json_object, positive_int, struct_dict, timestamp_text
from simmesh_client.verbs.declare import Verbs, add_collection_option
from simmesh_proto.v1 import indexer_pb2


def register(verbs: Verbs) -> None:
    get = verbs.add(
        "get",
        run_get,
        help="show records by id, or those matching a filter",
        description="Show records by id (exit 1 when any is missing), or list the records matching a filter.",
    )
    add_collection_option(get)
    which = get.add_mutually_exclusive_group()
    which.add_argument("--id", dest="ids", nargs="+", action="extend", metavar="ID", help="record ids")
    which.add_argument("--filter", type=json_object, metavar="JSON", help="metadata filter (list mode)")
    get.add_argument(
        "--limit", type=positive_int, default=100, metavar="N", help="most records to list without --id (default 100)"
    )
    get.add_argument("--vectors", action="store_true", help="include the vectors")

    delete = verbs.add(
        "delete",
        run_delete,
        help="delete records by id or by filter",
        description="Delete records by id (unknown ids are reported) or every record matching a filter.",
    )
    add_collection_option(delete)
    what = delete.add_mutually_exclusive_group(required=True)
    what.add_argument("--id", dest="ids", nargs="+", action="extend", metavar="ID", help="record ids")
    what.add_argument("--filter", type=json_object, metavar="JSON", help="delete every record matching it")


def run_get(context: Context) -> int:
    args = context.args
    indexer = context.client.indexer
    missing: list[str] = []
    if args.ids:
        response = indexer.get_records(args.collection, args.ids, include_vectors=args.vectors)
        records, missing = list(response.records), list(response.missing_ids)
    else:
        listing = indexer.list_records(
            args.collection, filter=args.filter, include_vectors=args.vectors, page_size=min(args.limit, 1000)
        )
        records = list(itertools.islice(listing, args.limit))
    if context.json:
        context.print_json({"records": [record_dict(record) for record in records], "missing_ids": missing})
    else:
        context.print_table(
            ("ID", "URL", "UPDATED", "METADATA", *(("VECTOR",) if args.vectors else ())),
            [
                (
                    record.id,
                    record.url or "-",
                    timestamp_text(record.update_time),
                    compact(struct_dict(record.metadata), 60),
                    *((compact(from_vector(record.vector).round(4).tolist(), 40),) if args.vectors else ()),
                )
                for record in records
            ],
        )
        for record_id in missing:
            context.stderr.write(f"simctl: record {record_id!r} not found\n")
    return EXIT_FAILURE if missing else EXIT_OK


def run_delete(context: Context) -> int:
    args = context.args
    response = context.client.indexer.delete_records(args.collection, args.ids or (), filter=args.filter)
    if context.json:
        context.print_json({"deleted": response.deleted_count, "missing_ids": list(response.missing_ids)})
    else:
        context.stdout.write(f"deleted {response.deleted_count} records\n")
        if response.missing_ids:
            context.stdout.write(f"not found: {', '.join(response.missing_ids)}\n")
    return EXIT_OK


def record_dict(record: indexer_pb2.Record) -> dict[str, Any]:
    """A record in the JSON Lines form `simctl insert` reads back."""
    out: dict[str, Any] = {"_id": record.id}
    if record.url:
        out["_url"] = record.url
    if record.HasField("vector"):
        out["_vector"] = [round(float(v), 7) for v in from_vector(record.vector)]
    out.update(struct_dict(record.metadata))
    return out
