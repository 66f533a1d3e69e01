"""`simctl get` and `simctl delete`: read and remove a collection's records.

simctl get --collection products --id sku-1 sku-2
simctl get --collection products --filter '{"color": "red"}' --limit 20
simctl get --collection products --id sku-1 --image sku-1.jpg --thumbnail sku-1-small.jpg
simctl get --collection products --id sku-1 sku-2 --image-uri
simctl delete --collection products --id sku-1 sku-2
simctl delete --collection products --filter '{"discontinued": true}'
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

from simmesh_client.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Context
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
    get.add_argument("--image", metavar="FILE", help="write the (one) record's kept original image to FILE")
    get.add_argument("--thumbnail", metavar="FILE", help="write the (one) record's kept thumbnail to FILE")
    get.add_argument("--image-uri", action="store_true", help="show where the kept images are (presigned URLs on S3)")

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
    if (args.image or args.thumbnail) and len(args.ids or ()) != 1:
        context.stderr.write("simctl: --image and --thumbnail need exactly one --id\n")
        return EXIT_USAGE
    if args.ids:
        response = indexer.get_records(args.collection, args.ids, include_vectors=args.vectors, view=_view(args))
        records, missing = list(response.records), list(response.missing_ids)
        if records and not _write_images(context, records[0]):
            return EXIT_FAILURE
    else:
        listing = indexer.list_records(
            args.collection, filter=args.filter, include_vectors=args.vectors, page_size=min(args.limit, 1000)
        )
        records = list(itertools.islice(listing, args.limit))
    if context.json:
        context.print_json(
            {"records": [record_dict(record, args.image_uri) for record in records], "missing_ids": missing}
        )
    else:
        context.print_table(
            (
                "ID",
                "URL",
                "UPDATED",
                "METADATA",
                *(("VECTOR",) if args.vectors else ()),
                *(("IMAGE",) if args.image_uri else ()),
            ),
            [
                (
                    record.id,
                    record.url or "-",
                    timestamp_text(record.update_time),
                    compact(struct_dict(record.metadata), 60),
                    *((compact(from_vector(record.vector).round(4).tolist(), 40),) if args.vectors else ()),
                    *((record.image_uri or "-",) if args.image_uri else ()),
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


def _view(args: argparse.Namespace) -> int:
    if args.image:
        return indexer_pb2.RECORD_VIEW_IMAGE
    if args.thumbnail:
        return indexer_pb2.RECORD_VIEW_THUMBNAIL
    return indexer_pb2.RECORD_VIEW_IMAGE_URI if args.image_uri else indexer_pb2.RECORD_VIEW_BASIC


def _write_images(context: Context, record: indexer_pb2.Record) -> bool:
    """Writes the record's kept image and thumbnail where asked; False (said on stderr) when it has none."""
    args = context.args
    for path, data in ((args.image, record.image), (args.thumbnail, record.thumbnail)):
        if not path:
            continue
        if not data:
            context.stderr.write(f"simctl: record {record.id!r} has no kept image\n")
            return False
        with open(path, "wb") as out:
            out.write(data)
    return True


def record_dict(record: indexer_pb2.Record, with_image_uri: bool = False) -> dict[str, Any]:
    """A record in the JSON Lines form `simctl insert` reads back (with `_image_uri` where asked)."""
    out: dict[str, Any] = {"_id": record.id}
    if record.url:
        out["_url"] = record.url
    if with_image_uri and record.image_uri:
        out["_image_uri"] = record.image_uri
    if record.HasField("vector"):
        out["_vector"] = [round(float(v), 7) for v in from_vector(record.vector)]
    out.update(struct_dict(record.metadata))
    return out
