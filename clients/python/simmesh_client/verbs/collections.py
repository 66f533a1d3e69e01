"""`simctl collections`: create, inspect and delete the indexer's collections.

    simctl collections create products --model models/mobilenet --shards 2 \
        --product-field sku --tags-field tags --index-field color --index-field price
    simctl collections create embeddings --dimension 512 --metric inner_product
    simctl collections create shop --type product --keep-images all
    simctl collections list
    simctl collections list --type product
    simctl collections show products
    simctl collections stats products
    simctl collections delete products
    simctl collections snapshot|restore|snapshots ...   (see verbs/collection_snapshots.py)
"""

from __future__ import annotations

from simmesh_client.cli import EXIT_OK, EXIT_USAGE, Context
from simmesh_client.enums import COLLECTION_TYPE, IMAGE_KEEPING, INDEX_KIND, METRIC, short_name, short_names
from simmesh_client.errors import SimmeshError
from simmesh_client.verbs import collection_snapshots
from simmesh_client.verbs.common import (
    enum_arg,
    positive_int,
    print_fields,
    print_messages,
    printed_as_json,
    size_text,
    timestamp_text,
)
from simmesh_client.verbs.declare import Verbs
from simmesh_proto.v1 import indexer_pb2

_STATE = (indexer_pb2.IndexState, "INDEX_STATE_")


def register(verbs: Verbs) -> None:
    actions = verbs.group(
        "collections",
        help="create, inspect and delete collections",
        description="Manage the indexer's collections of image records.",
    )
    create = actions.add(
        "create",
        run_create,
        help="create a collection",
        description="Create a collection of vectors of a given dimension, or bound to an embedder model that "
        "embeds the records' images (the collection takes the model's dimension), or of a type that presets "
        "its model and defaults.",
    )
    create.add_argument("collection_id", metavar="ID", help="lower-case letters, digits, - and _")
    source = create.add_mutually_exclusive_group()
    source.add_argument("--dimension", type=positive_int, metavar="N", help="vector length")
    source.add_argument("--model", metavar="MODEL", help="embedder model, models/{m} or models/{m}/versions/{v}")
    create.add_argument(
        "--type",
        type=enum_arg(*COLLECTION_TYPE),
        default=0,
        help=f"preset: {', '.join(short_names(*COLLECTION_TYPE))} (generic and product bind models/generic)",
    )
    create.add_argument(
        "--keep-images",
        type=enum_arg(*IMAGE_KEEPING),
        default=0,
        help="original images kept: sent (default: bytes and files, not URLs), all (URL copies too), none",
    )
    create.add_argument(
        "--metric",
        type=enum_arg(*METRIC),
        default=indexer_pb2.METRIC_COSINE,
        help=f"{', '.join(short_names(*METRIC))} (default cosine)",
    )
    create.add_argument("--shards", type=positive_int, default=1, metavar="N", help="shard count (default 1)")
    create.add_argument("--product-field", default="", metavar="FIELD", help="metadata field with the product id")
    create.add_argument("--tags-field", default="", metavar="FIELD", help="metadata field with the tags")
    create.add_argument(
        "--index-field",
        dest="indexed_fields",
        action="append",
        default=[],
        metavar="FIELD",
        help="metadata field indexed for filtering (repeatable; dotted paths allowed)",
    )
    create.add_argument(
        "--index-kind",
        type=enum_arg(*INDEX_KIND),
        default=indexer_pb2.INDEX_KIND_IVF_FLAT,
        help=f"index train-index builds: {', '.join(short_names(*INDEX_KIND))} (default ivf_flat)",
    )
    create.add_argument("--description", default="")
    listing = actions.add("list", run_list, help="list collections")
    listing.add_argument("--type", type=enum_arg(*COLLECTION_TYPE), default=0, help="only collections of this type")
    for verb, handler, text in (
        ("show", run_show, "a collection's settings"),
        ("stats", run_stats, "records, memory and index state per shard"),
        ("delete", run_delete, "delete a collection with all its records"),
    ):
        actions.add(verb, handler, help=text).add_argument("collection", metavar="COLLECTION")
    collection_snapshots.register(actions)


def run_create(context: Context) -> int:
    args = context.args
    if not (args.dimension or args.model or args.type):
        context.stderr.write("simctl: give --dimension, --model or --type\n")
        return EXIT_USAGE
    collection = context.client.indexer.create_collection(
        args.collection_id,
        args.dimension or 0,
        metric=args.metric,
        model=args.model or "",
        shard_count=args.shards,
        product_id_field=args.product_field,
        tags_field=args.tags_field,
        indexed_fields=args.indexed_fields,
        index_kind=args.index_kind,
        description=args.description,
        type=args.type,
        image_keeping=args.keep_images,
    )
    if not printed_as_json(context, collection):
        context.stdout.write(f"created {collection.name}\n")
        _print_collection(context, collection)
    return EXIT_OK


def run_list(context: Context) -> int:
    print_messages(
        context,
        list(context.client.indexer.list_collections(type=context.args.type)),
        ("NAME", "TYPE", "DIMENSION", "METRIC", "MODEL", "SHARDS", "RECORDS", "INDEX"),
        lambda collection: (
            collection.name,
            _type_text(collection),
            collection.dimension,
            short_name(*METRIC, collection.metric),
            collection.model or "-",
            collection.shard_count,
            collection.record_count,
            _index_text(collection),
        ),
    )
    return EXIT_OK


def run_show(context: Context) -> int:
    indexer = context.client.indexer
    collection = indexer.get_collection(context.args.collection)
    # The collection's own count trails the shards (it is refreshed when they snapshot); ask them.
    try:
        collection.record_count = indexer.stats(collection.name).record_count
    except SimmeshError:
        pass
    if not printed_as_json(context, collection):
        _print_collection(context, collection)
    return EXIT_OK


def run_stats(context: Context) -> int:
    stats = context.client.indexer.stats(context.args.collection)
    if printed_as_json(context, stats):
        return EXIT_OK
    print_fields(
        context,
        [
            ("name", stats.name),
            ("records", stats.record_count),
            ("memory", size_text(stats.memory_bytes)),
            ("memory per vector", f"{stats.memory.bytes_per_vector:.0f} B"),
            ("index codes", size_text(stats.memory.codes_bytes)),
            ("ids", size_text(stats.memory.ids_bytes)),
            ("record data", size_text(stats.memory.metadata_bytes)),
            ("raw vectors in memory", size_text(stats.memory.raw_vectors_bytes)),
            ("raw vectors on disk", size_text(stats.memory.raw_vectors_on_disk_bytes)),
            ("index state", short_name(*_STATE, stats.index_state)),
        ],
    )
    context.stdout.write("\n")
    context.print_table(
        ("SHARD", "ADDRESS", "AVAILABLE", "RECORDS", "INDEX", "STATE", "MEMORY", "WAL", "LAST SNAPSHOT"),
        [
            (
                shard.name.rsplit("/", 1)[-1],
                shard.address or "-",
                "yes" if shard.available else "no",
                shard.record_count,
                short_name(*INDEX_KIND, shard.index_kind),
                short_name(*_STATE, shard.index_state),
                size_text(shard.memory_bytes),
                shard.wal_entries,
                timestamp_text(shard.last_snapshot_time),
            )
            for shard in stats.shards
        ],
    )
    return EXIT_OK


def run_delete(context: Context) -> int:
    name = context.args.collection
    context.client.indexer.delete_collection(name)
    name = name if name.startswith("collections/") else f"collections/{name}"
    if context.json:
        context.print_json({"deleted": name})
    else:
        context.stdout.write(f"deleted {name}\n")
    return EXIT_OK


def _type_text(collection: indexer_pb2.Collection) -> str:
    return short_name(*COLLECTION_TYPE, collection.type) if collection.type else "-"


def _index_text(collection: indexer_pb2.Collection) -> str:
    return f"{short_name(*INDEX_KIND, collection.index.kind)} ({short_name(*_STATE, collection.index_state)})"


def _print_collection(context: Context, collection: indexer_pb2.Collection) -> None:
    print_fields(
        context,
        [
            ("name", collection.name),
            ("type", _type_text(collection)),
            ("description", collection.description or "-"),
            ("dimension", collection.dimension),
            ("metric", short_name(*METRIC, collection.metric)),
            ("model", collection.model or "-"),
            ("shards", collection.shard_count),
            ("product field", collection.product_id_field or "-"),
            ("tags field", collection.tags_field or "-"),
            ("indexed fields", ", ".join(collection.indexed_fields) or "-"),
            ("kept images", short_name(*IMAGE_KEEPING, collection.image_keeping or indexer_pb2.IMAGE_KEEPING_SENT)),
            ("index", _index_text(collection)),
            ("records", collection.record_count),
            ("created", timestamp_text(collection.create_time)),
        ],
    )
