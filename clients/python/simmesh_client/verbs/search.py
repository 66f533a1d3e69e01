"""`simctl search`: the k nearest records of a collection for one query.

simctl search --collection products --id sku-1 -k 5
simctl search --collection products --image shoe.jpg --filter '{"price": {"$lt": 50}}'
simctl search --collection products --url https://shop/x.jpg --group-by --group-size 2
simctl search --collection embeddings --vector=-0.1,0.2,0.3 --json
simctl search --collection shapes --text "a red circle"
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.verbs.common import compact, floats, json_object, positive_int, struct_dict
from simmesh_client.verbs.declare import Verbs, add_collection_option
from simmesh_proto.v1 import indexer_pb2

# Metadata fields shown in the table, in name order; --json prints them all.
TABLE_FIELDS = 3


def register(verbs: Verbs) -> None:
    parser = verbs.add(
        "search",
        run,
        help="find the records most similar to a query",
        description="Search a collection with a stored record, an image (local file or URL), a vector, or a "
        "text (when the collection's model is a dual encoder).",
    )
    add_collection_option(parser)
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument("--id", dest="record_id", metavar="ID", help="a stored record's `_id` (left out of its hits)")
    query.add_argument("--image", type=Path, metavar="PATH", help="a local image file")
    query.add_argument("--url", metavar="URL", help="an image URL the embedder fetches")
    query.add_argument("--text", metavar="TEXT", help='a text, e.g. "red sneakers" (dual-encoder models)')
    query.add_argument(
        "--vector",
        type=floats,
        metavar="V1,V2,...",
        help="a query vector (as --vector=-0.1,... when it starts with a minus)",
    )
    parser.add_argument("-k", type=positive_int, default=10, help="hits (groups, with --group-by) to return")
    parser.add_argument(
        "--filter",
        type=json_object,
        metavar="JSON",
        help='MongoDB-like metadata filter, e.g. \'{"color": {"$in": ["red", "blue"]}}\'',
    )
    parser.add_argument(
        "--group-by",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="best hits per product (the product field); default: as the collection says (product collections group)",
    )
    parser.add_argument("--group-size", type=positive_int, default=0, metavar="N", help="hits per group")
    parser.add_argument(
        "--tags",
        type=lambda text: [t for t in text.split(",") if t],
        metavar="A,B",
        help="query tags for tag-weighted search",
    )
    parser.add_argument("--tag-weight", type=float, default=0.0, metavar="W", help="0..1 weight of tag overlap")
    parser.add_argument("--nprobe", type=int, default=0, metavar="N", help="IVF lists probed (0: the default)")
    parser.add_argument("--ef-search", type=int, default=0, metavar="N", help="HNSW beam (0: the default)")
    parser.add_argument("--min-score", type=float, metavar="S", help="drop hits scoring below S")


def run(context: Context) -> int:
    args = context.args
    result = context.client.indexer.search(
        args.collection,
        vector=args.vector,
        record_id=args.record_id,
        image=args.image if args.image is not None else args.url,
        text=args.text,
        k=args.k,
        filter=args.filter,
        group_by_product=args.group_by,
        group_size=args.group_size,
        tags=args.tags,
        tag_weight=args.tag_weight,
        nprobe=args.nprobe,
        ef_search=args.ef_search,
        min_score=args.min_score,
        include_metadata=True,
    )
    if context.json:
        context.print_json(result_dict(result))
    elif result.groups:
        _print_groups(context, result.groups)
    else:
        _print_hits(context, result.hits)
    return EXIT_OK


def hit_dict(hit: indexer_pb2.Hit) -> dict[str, Any]:
    return {
        "id": hit.id,
        "score": round(float(hit.score), 6),
        "visual_score": round(float(hit.visual_score), 6),
        "url": hit.url,
        "metadata": struct_dict(hit.metadata),
    }


def result_dict(result: indexer_pb2.QueryResult) -> dict[str, Any]:
    """The result as JSON: `hits` best first, or `groups` of hits when grouped."""
    if result.groups:
        return {
            "groups": [
                {
                    "product_id": group.product_id,
                    "score": round(float(group.score), 6),
                    "hits": [hit_dict(hit) for hit in group.hits],
                }
                for group in result.groups
            ]
        }
    return {"hits": [dict(rank=rank, **hit_dict(hit)) for rank, hit in enumerate(result.hits, start=1)]}


def _metadata_text(hit: indexer_pb2.Hit) -> str:
    fields = struct_dict(hit.metadata)
    shown = sorted(fields.items())[:TABLE_FIELDS]
    text = " ".join(f"{key}={compact(value, 24)}" for key, value in shown)
    return text + (" …" if len(fields) > TABLE_FIELDS else "")


def _print_hits(context: Context, hits: Any) -> None:
    if not hits:
        context.stdout.write("no hits\n")
        return
    context.print_table(
        ("RANK", "ID", "SCORE", "URL", "METADATA"),
        [
            (rank, hit.id, f"{hit.score:.4f}", hit.url or "-", _metadata_text(hit))
            for rank, hit in enumerate(hits, start=1)
        ],
    )


def _print_groups(context: Context, groups: Any) -> None:
    context.print_table(
        ("RANK", "PRODUCT", "ID", "SCORE", "URL", "METADATA"),
        [
            (
                rank if position == 0 else "",
                group.product_id if position == 0 else "",
                hit.id,
                f"{hit.score:.4f}",
                hit.url or "-",
                _metadata_text(hit),
            )
            for rank, group in enumerate(groups, start=1)
            for position, hit in enumerate(group.hits)
        ],
    )
