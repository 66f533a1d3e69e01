"""`simctl collections snapshot|restore|snapshots`: collection snapshots in the object store.

simctl collections snapshot products --id products-before-migration --wait
simctl collections snapshots [products]
simctl collections restore products-before-migration products2 --wait
"""

from __future__ import annotations

import functools

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.operations import ProgressBar
from simmesh_client.verbs.common import print_messages, timestamp_text
from simmesh_client.verbs.declare import Verbs
from simmesh_client.verbs.waiting import add_wait_flag, run_operation


def register(actions: Verbs) -> None:
    """Adds the snapshot actions to `simctl collections`."""
    snapshot = actions.add(
        "snapshot",
        run_snapshot,
        help="snapshot a collection into the object store",
        description="Snapshot every shard of a collection into the object store, where the snapshot outlives "
        "the collection. Without --wait, prints the operation's name and returns.",
    )
    snapshot.add_argument("collection", metavar="COLLECTION")
    snapshot.add_argument("--id", default="", metavar="ID", help="the snapshot's id (default {collection}-{time})")
    add_wait_flag(snapshot, "the snapshot to finish")
    restore = actions.add(
        "restore",
        run_restore,
        help="restore a snapshot into a new collection",
        description="Create a collection from a snapshot: the same records, metadata and settings.",
    )
    restore.add_argument("snapshot", metavar="SNAPSHOT")
    restore.add_argument("collection_id", metavar="ID", help="the new collection's id; it must not exist")
    add_wait_flag(restore, "the restore to finish")
    listing = actions.add("snapshots", run_list, help="list snapshots, newest first")
    listing.add_argument("collection", nargs="?", default="", metavar="COLLECTION", help="only this collection's")


def run_snapshot(context: Context) -> int:
    args = context.args
    start = functools.partial(context.client.indexer.snapshot_collection, args.collection, args.id)
    return run_operation(
        context,
        start,
        lambda: ProgressBar("snapshotting", file=context.stderr),
        lambda s: f"{s.name}: {s.record_count} records of {s.collection} at {s.uri}",
    )


def run_restore(context: Context) -> int:
    args = context.args
    start = functools.partial(context.client.indexer.restore_collection, args.snapshot, args.collection_id)
    return run_operation(
        context,
        start,
        lambda: ProgressBar("restoring", file=context.stderr),
        lambda c: f"restored {c.name}: {c.record_count} records",
    )


def run_list(context: Context) -> int:
    print_messages(
        context,
        list(context.client.indexer.list_snapshots(context.args.collection)),
        ("NAME", "COLLECTION", "RECORDS", "SHARDS", "CREATED"),
        lambda s: (s.name, s.collection, s.record_count, s.shard_count, timestamp_text(s.create_time)),
    )
    return EXIT_OK
